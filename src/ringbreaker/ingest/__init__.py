"""Telemetry ingest: provider and gateway logs into the workspace's one ``events`` table.

Library use::

    from ringbreaker.ingest import IngestConfig, ingest
    from ringbreaker.workspace import open_workspace

    con = open_workspace("case.duckdb")
    report = ingest(con, ["logs/"], IngestConfig(geoip=("GeoLite2-ASN.mmdb",)))

Modules: ``readers`` (decompression, container shapes), ``detect`` (format from content),
``formats/`` (one mapper per log format), ``geoip``, ``pipeline`` (one file to Arrow batches, in
worker processes), ``store`` (the single writer), ``runner`` (orchestration, reports).
"""

from __future__ import annotations

from ringbreaker.ingest.detect import FORMATS
from ringbreaker.ingest.pipeline import BATCH
from ringbreaker.ingest.runner import FileReport, IngestConfig, Report, ingest

__all__ = ["BATCH", "FORMATS", "FileReport", "IngestConfig", "Report", "ingest"]
