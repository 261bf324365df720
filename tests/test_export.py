from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import db_snapshot, run_hpo, tiny_space

PLAIN_KERAS = """
import sys, json, numpy as np, keras
model = keras.saving.load_model(sys.argv[1])  # no hpo import, no custom_objects
x = np.load(sys.argv[2])
np.save(sys.argv[3], model.predict(x, verbose=0))
print(json.dumps({"hpo_imported": any(m == "hpo" or m.startswith("hpo.") for m in sys.modules)}))
"""


def plain_keras_predict(model: Path, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    """Predictions of ``model`` from a fresh Python that never imports hpo."""
    import subprocess
    import sys

    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run([sys.executable, "-c", PLAIN_KERAS, str(model), str(tmp_path / "x.npy"),
                           str(tmp_path / "p.npy")], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"hpo_imported": False}
    return np.load(tmp_path / "p.npy")


def test_export_train_evaluate_a_classifier(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=1, epochs=2, pruner="none")
    proc = run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # The worker says how it split and what the trivial predictor scores.
    assert "splits: train 270 (" in proc.stderr and "test 40 (" in proc.stderr
    assert "trivial baseline (majority class): val_accuracy" in proc.stderr
    out = tmp_path / "exports" / "best.json"
    proc = run_hpo("export", "--study", "tiny", "--storage", url, "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = json.loads(out.read_text())
    assert not list(out.parent.glob(".best.json.*"))  # no temporary left behind
    assert config["trivial_baseline"]["predictor"] == "majority class"
    assert config["beats_trivial"] == (config["value"] > config["trivial_baseline"]["value"])
    assert config["splits"]["test"]["rows"] == 40 and config["data_file"] is None  # bundled: no file

    model_path = tmp_path / "final.keras"
    proc = run_hpo("train", "--config", str(out), "--out", str(model_path), "--epochs", "2", "--no-refit",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "val_accuracy on the validation split: " in proc.stdout
    # Where the curves are, as a path to open, not a bare name to look for.
    assert f"curves in {tmp_path / 'final.history.csv'} and {tmp_path / 'final.curve.png'}" in proc.stdout
    # Plain lines in a log (not a terminal): one per epoch, with the metric and the time left.
    epochs = [line for line in proc.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"]
    assert all(" val_accuracy 0." in line and "s left" in line and "\r" not in line for line in epochs)
    history = (tmp_path / "final.history.csv").read_text().splitlines()
    assert history[0].startswith("trial,epoch,") and "val_accuracy" in history[0] and len(history) == 3
    assert (tmp_path / "final.curve.png").stat().st_size > 1000

    from sklearn.datasets import load_digits

    from hpo.modelfile import read_metadata

    meta = read_metadata(model_path)
    assert meta["labels"] == [str(d) for d in range(10)] and meta["task"] == "classification"
    assert meta["refit"] is False and meta["trial"] == config["trial"] and meta["study"] == "tiny"
    assert meta["splits"]["train"]["rows"] == 270 and meta["versions"]["keras"]
    # Raw pixels in (load_digits' 0-16 grey levels on the 0-255 scale), probabilities out.
    images = (load_digits().images[:5] * (255 / 16)).astype("float32")[..., None]
    probabilities = plain_keras_predict(model_path, images, tmp_path)
    assert probabilities.shape == (5, 10)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)

    proc = run_hpo("evaluate", "--model", str(model_path), "--out", str(tmp_path / "eval"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    scores = result["variants"]["model"]
    assert result["test_rows"] == 40 and result["test_split_matches_training_record"] is True
    assert set(scores["per_class"]) == {str(d) for d in range(10)}
    assert sum(c["support"] for c in scores["per_class"].values()) == 40
    assert np.trace(np.array(scores["confusion"])) / 40 == pytest.approx(scores["accuracy"])
    assert result["trivial"]["predictor"] == "majority class" and 0 < result["trivial"]["accuracy"] < 0.5
    assert (tmp_path / "eval" / "confusion.png").stat().st_size > 1000
    page = (tmp_path / "eval" / "index.html").read_text()
    assert "trivial (majority class)" in page and "data:image/png;base64," in page
    assert f"test accuracy (40 rows never seen by a trial): trial {config['trial']} " in proc.stdout

    # hpo predict on an image folder: the same raw pixels as PNG files, probabilities and class names back.
    from PIL import Image

    folder = tmp_path / "new-images"
    (folder / "more").mkdir(parents=True)
    for i in range(5):
        Image.fromarray(np.rint(images[i, :, :, 0]).astype(np.uint8), mode="L").save(
            folder / ("more" if i == 4 else ".") / f"digit{i}.png")
    proc = run_hpo("predict", "--model", str(model_path), "--input", str(folder), "--out", "p.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    import csv

    rows = list(csv.reader((tmp_path / "p.csv").open()))
    assert rows[0] == ["id", "label", *(f"p_{d}" for d in range(10))]
    assert [r[0] for r in rows[1:]] == ["digit0.png", "digit1.png", "digit2.png", "digit3.png", "more/digit4.png"]
    shown = np.array([[float(v) for v in r[2:]] for r in rows[1:]])
    np.testing.assert_allclose(shown, probabilities, atol=2e-3)  # PNGs hold the pixels rounded to integers
    assert [r[1] for r in rows[1:]] == [str(int(p.argmax())) for p in shown]


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


def test_an_export_after_the_budget_was_lowered_still_trains(tmp_path: Path) -> None:
    """Trials that trained 3 epochs, then budget.max_epochs lowered to 2: their export is not a
    hand edit, so `hpo train` takes it; an epochs count above what any trial trained is refused,
    unless --epochs replaces it (the advice that refusal gives)."""
    import optuna

    from hpo.export import read_config
    from hpo.record import BEST_EPOCH_ATTR, EPOCHS_ATTR
    from hpo.space import load_spec

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, epochs=3)
    assert run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", url, cwd=tmp_path).returncode == 0
    spec = load_spec(space)
    params = {"conv_blocks": 1, "filters": 4, "hidden_units": 8, "dropout": 0.1, "optimizer": "adam",
              "learning_rate": 0.005}
    optuna.load_study(study_name="tiny", storage=url).add_trial(optuna.trial.create_trial(
        params=params, distributions={p.name: p.distribution() for p in spec.searched if p.name in params},
        value=0.5, user_attrs={BEST_EPOCH_ATTR: 2, EPOCHS_ATTR: 3}))
    lowered = tiny_space(tmp_path, epochs=2)
    proc = run_hpo("create", "--study", "tiny", "--space", str(lowered), "--storage", url, cwd=tmp_path)
    assert proc.returncode == 0 and "budget.max_epochs (3 -> 2)" in proc.stdout + proc.stderr, proc.stderr
    out = tmp_path / "best.json"
    assert run_hpo("export", "--study", "tiny", "--storage", url, "--out", str(out), cwd=tmp_path).returncode == 0
    config = read_config(out)
    assert (config["epochs"], config["most_epochs_trained"], config["spec"]["budget"]["max_epochs"]) == (3, 3, 2)

    out.write_text(json.dumps({**config, "epochs": 4}))
    proc = run_hpo("train", "--config", str(out), "--out", str(tmp_path / "m.keras"), cwd=tmp_path)
    assert proc.returncode == 2 and "epochs: 4 is not in 1..3" in proc.stderr and "pass --epochs N" in proc.stderr
    assert read_config(out, epochs_replaced=True)["epochs"] == 4  # --epochs N: the member's count is not used
    assert not (tmp_path / "m.keras").exists()
