"""Glue-side sabotage for fault tests."""

from __future__ import annotations


def break_metadata(glue_client, database: str, table: str, metadata_location: str) -> None:
    """Point the catalog at a metadata file that does not exist: every load fails, for good."""
    table_input = glue_client.get_table(DatabaseName=database, Name=table)["Table"]
    parameters = dict(table_input["Parameters"], metadata_location=metadata_location + ".gone")
    glue_client.update_table(
        DatabaseName=database,
        TableInput={"Name": table, "TableType": "EXTERNAL_TABLE", "Parameters": parameters},
    )
