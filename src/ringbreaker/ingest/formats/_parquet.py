"""Parquet files (Amazon Security Lake's OCSF objects, ``ringbreaker export``'s lake) as blocks of
NDJSON records, so they take the same path as every JSON format: sniffing, per-record quarantine,
the record's JSON as ``raw``.

A file is Parquet by its magic (``PAR1`` at both ends) and OCSF by its columns (``class_uid`` and
at least one of the objects the mapping reads). Row groups are read a batch at a time (bounded
memory, whatever the file's size) and DuckDB renders each batch's rows as JSON in one vectorised
call; only OCSF's own attributes are kept (top-level objects, as Security Lake nests them, or the
flat ``api.operation`` columns of ringbreaker's export), so an export's ringbreaker columns
(``raw``, ``prompt``, ...) are not copied into the record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from ringbreaker.workspace import ocsf

MAGIC = b"PAR1"
ROWS = 32_768  # rows rendered as JSON at a time
# OCSF 1.1 API Activity's top-level attributes (base event + class + cloud and datetime profiles)
ATTRIBUTES = frozenset(
    {
        "activity_id", "activity_name", "actor", "api", "category_name", "category_uid", "class_name",
        "class_uid", "cloud", "count", "dst_endpoint", "duration", "end_time", "end_time_dt",
        "enrichments", "http_request", "message", "metadata", "observables", "raw_data", "resources",
        "severity", "severity_id", "src_endpoint", "start_time", "start_time_dt", "status",
        "status_code", "status_detail", "status_id", "time", "time_dt", "timezone_offset", "type_name",
        "type_uid", "unmapped", "accountid", "region", "asl_version", "eventday",
    }
)  # fmt: skip
_OBJECTS = frozenset(path.split(".")[0] for path, _ in ocsf.FIELDS)


def is_parquet(head: bytes) -> bool:
    return head[:4] == MAGIC


@dataclass(slots=True)
class Blocks:
    """A Parquet file's records as NDJSON blocks; ``columns`` empty when it holds no OCSF events.
    ``sha256`` and ``size`` (of the file as stored) are known once it is opened."""

    source: str | bytes
    columns: list[str] = field(default_factory=list)
    why: str = ""
    sha256: str = ""
    size: int = 0
    rows: int = 0
    _file: pq.ParquetFile | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        data = self.source if isinstance(self.source, bytes) else None
        if data is None:
            assert isinstance(self.source, str)
            h = hashlib.sha256()
            with open(self.source, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
                    self.size += len(chunk)
            self.sha256 = h.hexdigest()
        else:
            self.sha256, self.size = hashlib.sha256(data).hexdigest(), len(data)
        self._file = pq.ParquetFile(pa.BufferReader(data) if data is not None else self.source)
        names = self._file.schema_arrow.names
        self.rows = self._file.metadata.num_rows
        # OCSF's attributes, nested or (export) flat a.b.c; an object's name holding something else
        # (the export's own `actor` text column) is ringbreaker's, not OCSF's
        kinds = {f.name: f.type for f in self._file.schema_arrow}
        kept = [
            n
            for n in names
            if ("." in n.strip(".") and n.split(".")[0] in ATTRIBUTES)
            or (n in ATTRIBUTES and (n not in _OBJECTS or pa.types.is_struct(kinds[n])))
        ]
        if "class_uid" not in names or not _OBJECTS & {n.split(".")[0] for n in names}:
            self.why = (
                f"Parquet without OCSF API Activity columns (class_uid, api, ...): {', '.join(names[:8])}"
            )
            return
        self.columns = kept
        self.why = f"Parquet, OCSF columns ({len(kept)} of {len(names)})"

    def blocks(self) -> Iterator[bytes]:
        """NDJSON blocks of at most ROWS records, in the file's row order."""
        import duckdb

        if not self.columns or self._file is None:
            return
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            for batch in self._file.iter_batches(batch_size=ROWS, columns=self.columns):
                con.register("parquet_batch", pa.Table.from_batches([batch]))
                # a plain SELECT keeps the rows in order (DuckDB's preserve_insertion_order)
                got = con.sql("SELECT to_json(b)::VARCHAR FROM parquet_batch b").to_arrow_table()
                con.unregister("parquet_batch")
                lines = got.column(0).to_pylist()
                if lines:
                    yield ("\n".join(lines) + "\n").encode("utf-8")
        finally:
            con.close()
