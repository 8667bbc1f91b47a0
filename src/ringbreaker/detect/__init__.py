"""Detection: run the detection rules (SQL over the workspace) into ``alerts`` with their evidence.

Library use::

    from ringbreaker.detect import detect
    from ringbreaker.rules import load_detection_rules
    from ringbreaker.workspace import open_workspace

    result = detect(open_workspace("case.duckdb"), load_detection_rules())

Modules: ``runner`` (queries, grouping into stable alerts, the one-transaction write), ``output``
(table, json, jsonl, OCSF Detection Finding), ``testing`` (a rule's embedded tests), ``sigma``
(Sigma rules into ringbreaker rules).
"""

from ringbreaker.detect.runner import Result, detect, run_rule
from ringbreaker.model import Alert

__all__ = ["Alert", "Result", "detect", "run_rule"]
