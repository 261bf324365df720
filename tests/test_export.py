from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.conftest import db_snapshot, run_hpo, tiny_space


def test_export_then_train_the_final_model(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=2, epochs=2, pruner="none")
    assert run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", url, cwd=tmp_path).returncode == 0
    out = tmp_path / "exports" / "best.json"
    proc = run_hpo("export", "--study", "tiny", "--storage", url, "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = json.loads(out.read_text())
    assert not list(out.parent.glob(".best.json.*"))  # no temporary left behind

    model_path = tmp_path / "final.keras"
    proc = run_hpo("train", "--config", str(out), "--out", str(model_path), "--epochs", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "trained 2 epochs: val_accuracy=" in proc.stdout

    import keras
    from sklearn.datasets import load_digits

    model = keras.saving.load_model(model_path)
    images = (load_digits().images[:5] / 16.0).astype("float32")[..., None]
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (5, 10)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert model.layers[1].filters == config["params"]["filters"]


def test_export_without_a_completed_trial_fails_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    run_hpo("create", "--study", "tiny", "--space", str(tiny_space(tmp_path)), "--storage", url, cwd=tmp_path)
    before = db_snapshot(url)
    proc = run_hpo("export", "--study", "tiny", "--storage", url, "--out", str(tmp_path / "b.json"), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("hpo: error: study 'tiny' has no completed trial yet; "
                                   "run `hpo worker --study tiny` first")
    assert not (tmp_path / "b.json").exists()
    assert db_snapshot(url) == before


def test_train_rejects_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "best.json"
    bad.write_text('{"task": "classification"')
    proc = run_hpo("train", "--config", str(bad), "--out", str(tmp_path / "m.keras"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"hpo: error: {bad}: not valid JSON")
    assert not (tmp_path / "m.keras").exists()
