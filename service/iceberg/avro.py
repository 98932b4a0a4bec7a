"""Read only chosen fields of Iceberg's Avro metadata files, fast.

Most of pyiceberg's manifest read time goes into rebuilding an Avro reader from each file's
embedded schema and into decoding column-stats maps nobody here needs. This reader resolves one
projected reader per distinct file schema (manifests of one spec share it) and reuses it; fields
outside the projection are skipped by the decoder without being materialised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from pyiceberg.avro.decoder import new_decoder
from pyiceberg.avro.file import META_SCHEMA, AvroFileHeader
from pyiceberg.avro.reader import Reader
from pyiceberg.avro.resolver import ReadSchemaResolver, SchemaPartnerAccessor, construct_reader
from pyiceberg.schema import Schema, visit_with_partner
from pyiceberg.typedef import Record
from pyiceberg.types import IcebergType

_Partner = IcebergType | None

_SCHEMA_KEY = "avro.schema"
_SYNC_SIZE = 16
_HEADER_READER = construct_reader(META_SCHEMA, {-1: AvroFileHeader})

Projection = Callable[[Schema], Schema]


class _SkippingPartnerAccessor(SchemaPartnerAccessor):
    """Lets file fields outside the read schema be skipped, lists and maps included.

    pyiceberg's accessor raises for a list or map with no read-side partner, so a projection that
    leaves out the column-stats maps would fail; with no partner they get readers that only skip.
    """

    def field_partner(self, partner: _Partner, field_id: int, field_name: str) -> _Partner:
        return None if partner is None else super().field_partner(partner, field_id, field_name)

    def list_element_partner(self, partner_list: _Partner) -> _Partner:
        return None if partner_list is None else super().list_element_partner(partner_list)

    def map_key_partner(self, partner_map: _Partner) -> _Partner:
        return None if partner_map is None else super().map_key_partner(partner_map)

    def map_value_partner(self, partner_map: _Partner) -> _Partner:
        return None if partner_map is None else super().map_value_partner(partner_map)


def resolve_projection(file_schema: Schema, read_schema: Schema) -> Reader:
    """A reader of `file_schema` data that returns only `read_schema`'s fields."""
    return visit_with_partner(file_schema, read_schema, ReadSchemaResolver(), _SkippingPartnerAccessor())  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class AvroPayload:
    """An Avro container file's records, decompressed and concatenated across blocks."""

    header: AvroFileHeader
    body: bytes
    count: int

    @property
    def schema_key(self) -> str:
        key = self.header.meta.get(_SCHEMA_KEY)
        if key is None:
            raise ValueError("no schema in the Avro file header")
        return key


def read_payload(data: bytes) -> AvroPayload:
    """Parse the container: header, then every block's records (record encoding spans no blocks)."""
    decoder = new_decoder(data)
    header: AvroFileHeader = _HEADER_READER.read(decoder)  # type: ignore[assignment]
    if header.magic != b"Obj\x01":
        raise ValueError("not an Avro object container file")
    codec = header.compression_codec()
    blocks: list[bytes] = []
    count = 0
    while True:
        try:
            block_records = decoder.read_int()
        except EOFError:
            break
        block = decoder.read_bytes()
        blocks.append(codec.decompress(block) if codec is not None else block)
        count += block_records
        if decoder.read(_SYNC_SIZE) != header.sync:
            raise ValueError("Avro sync marker mismatch: the file is corrupt or truncated")
    return AvroPayload(header, b"".join(blocks), count)


class AvroProjectionReader:
    """Decodes records of Avro files into a projection of their schema, caching resolved readers."""

    def __init__(self, projection: Projection, max_schemas: int = 1024) -> None:
        self._projection = projection
        self._readers: dict[str, Reader] = {}
        self._max_schemas = max_schemas
        self._lock = threading.Lock()

    def _reader_for(self, payload: AvroPayload) -> Reader:
        key = payload.schema_key
        reader = self._readers.get(key)
        if reader is None:
            file_schema = payload.header.get_schema()
            reader = resolve_projection(file_schema, self._projection(file_schema))
            with self._lock:
                if len(self._readers) >= self._max_schemas:
                    self._readers.clear()  # distinct schemas are few; a flood means something odd
                self._readers[key] = reader
        return reader

    def records(self, data: bytes) -> list[Record]:
        """The projected records of one whole Avro object container file."""
        return self.decode(read_payload(data))

    def decode(self, payload: AvroPayload) -> list[Record]:
        reader = self._reader_for(payload)
        decoder = new_decoder(payload.body)
        records = [reader.read(decoder) for _ in range(payload.count)]
        if decoder.tell() != len(payload.body):
            raise ValueError("Avro block holds more bytes than its records")
        return records

    def decode_prefix(self, payload: AvroPayload, length: int) -> list[Record] | None:
        """The records encoded in the first `length` bytes, or None if no record ends exactly there."""
        reader = self._reader_for(payload)
        decoder = new_decoder(payload.body[:length])
        records: list[Record] = []
        try:
            while decoder.tell() < length:
                records.append(reader.read(decoder))
        except Exception:  # not a record boundary: the caller decodes the whole file instead
            return None
        return records if decoder.tell() == length else None
