"""Detection: run the detection rules (SQL over the workspace) into ``alerts`` with their evidence.

Library use::

    from ringbreaker.detect import detect
    from ringbreaker.rules import load_detection_rules
    from ringbreaker.workspace import open_workspace

    result = detect(open_workspace("case.duckdb"), load_detection_rules())

Modules: ``runner`` (queries, grouping into stable alerts, the one-transaction write), ``output``
(table, json, jsonl, OCSF Detection Finding), ``context`` (per-run context tables), ``testing``
(a rule's embedded tests), ``sigma``
(Sigma rules into ringbreaker rules).
"""

from ringbreaker.detect.context import context_tables
from ringbreaker.detect.output import render
from ringbreaker.detect.runner import (
    Draft,
    Result,
    RuleRun,
    detect,
    fold,
    iso,
    merge_stored,
    run_rule,
    run_rules,
)
from ringbreaker.detect.sigma import convert_file as convert_sigma_file
from ringbreaker.detect.sigma import dump as dump_rule
from ringbreaker.detect.testing import TestResult, check_detection_rules, run_case, transpile_problem
from ringbreaker.model import Alert

__all__ = [
    "Alert",
    "Draft",
    "Result",
    "RuleRun",
    "TestResult",
    "check_detection_rules",
    "context_tables",
    "convert_sigma_file",
    "detect",
    "dump_rule",
    "fold",
    "iso",
    "merge_stored",
    "render",
    "run_case",
    "run_rule",
    "run_rules",
    "transpile_problem",
]
