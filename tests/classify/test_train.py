"""The training script is reproducible: the same seeded subset twice gives identical arrays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ringbreaker.classify.model import load_model
from ringbreaker.classify.train import train

from .conftest import PROMPTS


def test_tiny_training_is_reproducible(tmp_path: Path, prompts_dir: Path) -> None:
    shared = PROMPTS.parents[1]
    metas = []
    for run in ("a", "b"):
        metas.append(train(shared, tmp_path / run, cache=None, seed=7, limit=25, people=False, log=False))
    with np.load(tmp_path / "a" / "weights.npz") as a, np.load(tmp_path / "b" / "weights.npz") as b:
        for k in ("weights", "bias", "platt"):
            assert np.array_equal(a[k], b[k]), k
        assert np.count_nonzero(a["weights"]) > 1000
    assert metas[0]["model_version"] == metas[1]["model_version"]
    assert json.loads((tmp_path / "a" / "model.json").read_text())["training"]["limit"] == 25
    # what it wrote loads and scores
    m = load_model(tmp_path / "a")
    assert len(m.classify(["A bicycle parked next to a bench."])) == 1
