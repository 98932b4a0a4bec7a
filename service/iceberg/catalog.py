"""Build the configured pyiceberg catalog and load tables, turning failures into our errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pyiceberg.catalog import AVAILABLE_CATALOGS, Catalog, CatalogType, infer_catalog_type
from pyiceberg.exceptions import (
    NoSuchIcebergTableError,
    NoSuchNamespaceError,
    NoSuchPropertyException,
    NoSuchTableError,
)
from pyiceberg.io import FileIO
from pyiceberg.table import Table
from pyiceberg.typedef import EMPTY_DICT, Properties

from service.errors import (
    CatalogUnavailableError,
    MetadataError,
    NotAnIcebergTableError,
    SettingsError,
    TableNotFoundError,
)
from service.models import TableName
from service.settings import CatalogSettings


def resolved_properties(settings: CatalogSettings, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Catalog properties, completed with botocore's standard endpoint and region variables.

    pyiceberg's S3 FileIO (pyarrow) ignores AWS_ENDPOINT_URL, so endpoints are passed explicitly;
    anything set in ICEWATCH_CATALOG_PROPERTIES wins.
    """
    props = dict(settings.catalog_properties)
    shared = environ.get("AWS_ENDPOINT_URL")
    glue = environ.get("AWS_ENDPOINT_URL_GLUE") or shared
    s3 = environ.get("AWS_ENDPOINT_URL_S3") or shared
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if props.get("type", "").lower() == "glue":
        if glue:
            props.setdefault("glue.endpoint", glue)
        if region:
            props.setdefault("glue.region", region)
    if s3:
        props.setdefault("s3.endpoint", s3)
    if region:
        props.setdefault("s3.region", region)  # saves pyarrow a region lookup per bucket
    return props


def open_catalog(settings: CatalogSettings, environ: Mapping[str, str] = os.environ) -> Catalog:
    """The catalog, as `load_catalog` would build it but from our settings only.

    `load_catalog` would merge ~/.pyiceberg.yaml and PYICEBERG_CATALOG__* into the properties;
    icewatch takes its configuration from ICEWATCH_* alone, so a stray file can't redirect it.
    """
    props = resolved_properties(settings, environ)
    name = settings.catalog_name
    try:
        kind = props.get("type")
        catalog_type = CatalogType(kind.lower()) if kind else infer_catalog_type(name, props)  # type: ignore[arg-type]
    except ValueError as exc:
        raise SettingsError(f"ICEWATCH_CATALOG_PROPERTIES: {exc}") from exc
    if catalog_type is None:
        raise SettingsError(
            'ICEWATCH_CATALOG_PROPERTIES: set "type" (glue, rest, sql, …) or a "uri" to infer it from'
        )
    try:
        catalog = AVAILABLE_CATALOGS[catalog_type](name, props)
    except Exception as exc:
        kind = catalog_type.value
        raise CatalogUnavailableError(f"cannot open the {kind} catalog: {_reason(exc)}") from exc
    _share_file_io(catalog)
    return catalog


_MAX_FILE_IOS = 32  # distinct (properties, bucket) pairs; tables usually share one


def _share_file_io(catalog: Catalog) -> None:
    """Reuse one FileIO per (properties, scheme and bucket) instead of two new ones per load_table.

    Each new pyarrow FileIO opens a new S3 client: new connections and TLS handshakes on every
    table load. Properties are part of the key, so vended or rotated credentials get their own.
    """
    build = catalog._load_file_io
    shared: dict[tuple[Any, ...], FileIO] = {}

    def load_file_io(properties: Properties = EMPTY_DICT, location: str | None = None) -> FileIO:
        parts = urlsplit(location) if location else None
        key = (
            tuple(sorted(properties.items())),
            parts.scheme if parts else None,
            parts.netloc if parts else None,
        )
        io = shared.get(key)
        if io is None:
            if len(shared) >= _MAX_FILE_IOS:
                shared.clear()
            io = shared[key] = build(properties, location)
        return io

    catalog._load_file_io = load_file_io  # type: ignore[method-assign]


def load_table(catalog: Catalog, name: TableName) -> Table:
    """Load an Iceberg table's current metadata, or raise an IcewatchError saying why not."""
    try:
        return catalog.load_table((name.database, name.table))
    except (NoSuchIcebergTableError, NoSuchPropertyException) as exc:
        raise NotAnIcebergTableError(f"{name} is not an Iceberg table: {_reason(exc)}") from exc
    except (NoSuchTableError, NoSuchNamespaceError) as exc:
        raise TableNotFoundError(f"table {name} not found in the catalog") from exc
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise MetadataError(f"{name}: metadata file is missing: {_reason(exc)}") from exc
    except ValueError as exc:  # invalid JSON or a metadata file that fails validation
        raise MetadataError(f"{name}: metadata file is invalid: {_reason(exc)}") from exc
    except Exception as exc:
        raise CatalogUnavailableError(f"cannot load {name} from the catalog: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
