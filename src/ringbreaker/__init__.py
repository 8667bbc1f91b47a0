"""ringbreaker: find, prove and break up credential-abuse rings (LLMjacking).

Each pipeline stage is a sub-package (scan, ingest, detect, classify, attribute, case, simulate)
built on one small core: :mod:`ringbreaker.model` (value types), :mod:`ringbreaker.errors`,
:mod:`ringbreaker.rules` (rules as data) and :mod:`ringbreaker.workspace` (the DuckDB file).
"""

__version__ = "0.1.0"
