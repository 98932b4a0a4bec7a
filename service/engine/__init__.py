"""Pure metric computation over Iceberg metadata: no network, no files."""
