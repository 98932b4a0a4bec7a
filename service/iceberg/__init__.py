"""The Iceberg adapter: the only modules that read catalogs and metadata files."""
