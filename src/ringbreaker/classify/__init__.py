"""The prompt-risk model: calibrated `bypass`, `sexual`, `real_person` and `minor` scores and a
derived severity, offline: an n-gram first stage (numpy) and a sentence-encoder second stage
(onnxruntime) for what the first cannot clear (see docs/classify.md).

    >>> from ringbreaker.classify import classify
    >>> [str(v.severity) for v in classify(["A bicycle parked next to a bench."])]
    ['none']
"""

from __future__ import annotations

from ringbreaker.classify.calibrate import CalibrationReport, Fit, calibrate, reset_calibration
from ringbreaker.classify.model import (
    LABELS,
    SEVERITIES,
    Model,
    classify,
    default_model,
    load_model,
    severity,
)
from ringbreaker.classify.normalise import no_surrogates
from ringbreaker.classify.thresholds import Applied, stored_thresholds, workspace_model
from ringbreaker.classify.workspace import WorkspaceReport, pending_count, score_workspace
from ringbreaker.model import Verdict

__all__ = [
    "LABELS",
    "SEVERITIES",
    "Applied",
    "CalibrationReport",
    "Fit",
    "Model",
    "Verdict",
    "WorkspaceReport",
    "calibrate",
    "classify",
    "default_model",
    "load_model",
    "no_surrogates",
    "pending_count",
    "reset_calibration",
    "score_workspace",
    "severity",
    "stored_thresholds",
    "workspace_model",
]
