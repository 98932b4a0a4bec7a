"""icewatch: watches Apache Iceberg tables on AWS from their metadata layer."""

__version__ = "0.1.0"
