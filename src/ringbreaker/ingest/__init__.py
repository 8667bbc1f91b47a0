"""Telemetry ingest: provider and gateway logs into the workspace's one ``events`` table.

Library use::

    from ringbreaker.ingest import IngestConfig, ingest
    from ringbreaker.workspace import open_workspace

    con = open_workspace("case.duckdb")
    report = ingest(con, ["logs/"], IngestConfig(geoip=("GeoLite2-ASN.mmdb",)))

Log formats: ``FORMATS`` (name -> ``Format``, in sniffing order), ``get_format(name)`` and
``sniff(raws)`` (which format a file's records are); each ``Format`` carries its provider, ``sniff``
and ``parse`` and its field map to ``events`` columns. ``ingest_appended`` stores the lines appended
to a JSONL file since its last read (``watch`` follows files with it); ``expand`` lists the files of
paths as ``ingest`` reads them; ``read_record`` reads an event's original record back from the
evidence store, verified (``ringbreaker show``). Adding a format is one module in ``formats/``.

Modules: ``readers`` (decompression, container shapes), ``detect`` (the format registry, format from
content), ``formats/`` (one module per log format), ``geoip``, ``pipeline`` (one file to Arrow
batches, in worker processes), ``store`` (the single writer), ``runner`` (orchestration, reports),
``records`` (an event's record read back from the evidence store, ``workspace/evidence.py``).
"""

from __future__ import annotations

from ringbreaker.ingest.append import Appended, ingest_appended
from ringbreaker.ingest.detect import FORMATS, get_format, sniff
from ringbreaker.ingest.formats import Format
from ringbreaker.ingest.pipeline import BATCH
from ringbreaker.ingest.records import Blobs, Record, read_record
from ringbreaker.ingest.runner import FileReport, IngestConfig, Report, expand, ingest

__all__ = [
    "BATCH",
    "FORMATS",
    "Appended",
    "Blobs",
    "FileReport",
    "Format",
    "IngestConfig",
    "Record",
    "Report",
    "expand",
    "get_format",
    "ingest",
    "ingest_appended",
    "read_record",
    "sniff",
]
