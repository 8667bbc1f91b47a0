"""The prompt-risk model: calibrated `bypass`, `sexual`, `real_person` and `minor` scores and a
derived severity, offline, numpy only (see docs/classify.md).

    >>> from ringbreaker.classify import classify
    >>> [v.severity for v in classify(["A bicycle parked next to a bench."])]
    ['none']
"""

from __future__ import annotations

from ringbreaker.classify.model import (
    LABELS,
    SEVERITIES,
    Model,
    classify,
    default_model,
    load_model,
    severity,
)
from ringbreaker.classify.workspace import WorkspaceReport, pending_count, score_workspace
from ringbreaker.model import Verdict

__all__ = [
    "LABELS",
    "SEVERITIES",
    "Model",
    "Verdict",
    "WorkspaceReport",
    "classify",
    "default_model",
    "load_model",
    "pending_count",
    "score_workspace",
    "severity",
]
