"""The model and training code are keras.* only: the same study trains under another backend.

The lent GPU machines run KERAS_BACKEND=jax (no TensorFlow); here PyTorch (installed for
the gp sampler) stands in as the non-TensorFlow backend.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import run_hpo

SPACE = """\
name: kp
task: keypoints
data: {path: nowhere/training.csv, validation_fraction: 0.25, augment: {horizontal_flip: true}}
objective: {metric: val_rmse, direction: minimize}
budget: {trials: 2, max_epochs: 2}
sampler: {type: random, seed: 0}
pruner: {type: median}
params:
  conv_blocks: 2
  filters: {type: categorical, choices: [4, 8]}
  batch_norm: true
  hidden_units: 16
  batch_size: 16
"""


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_keypoints_study_trains_under_a_non_tensorflow_backend(tmp_path: Path, backend: str) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed here (pip install {backend})")
    from hpo.data.synth import write_keypoints_csv

    write_keypoints_csv(tmp_path / "kp.csv", 60)  # what `hpo data synth keypoints` writes (tests/test_cli.py)
    (tmp_path / "kp.yaml").write_text(SPACE)
    env = {"KERAS_BACKEND": backend}
    url = f"sqlite:///{tmp_path / 't.db'}"
    # --data overrides data.path, which points nowhere.
    proc = run_hpo("worker", "--study", "kp", "--space", "kp.yaml", "--data", "kp.csv", "--storage", url,
                   cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "2 complete" in proc.stdout
    config = json.loads(run_hpo("export", "--study", "kp", "--storage", url, cwd=tmp_path).stdout)
    assert config["versions"]["backend"] == backend
    assert 0 < config["value"] < 96  # an RMSE in pixels
