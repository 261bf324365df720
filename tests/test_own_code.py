"""Your own model and data, through the real `hpo` command: a builder in a file, Keras Tuner
code unchanged, image folders, npz, a loader; a study that grows; and every bad input as one
line, exit 2, the database untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import db_snapshot, run_hpo, study_trials

BUILDER = '''\
import keras


def build(params, input_shape, n_outputs):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(params["width"], activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(n_outputs, activation="softmax")(x))


def build_compiled(params, input_shape, n_outputs):
    model = build(params, input_shape, n_outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def build_wrong_head(params, input_shape, n_outputs):
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, keras.layers.Dense(n_outputs + 3)(keras.layers.Flatten()(inputs)))


def build_raises(params, input_shape, n_outputs):
    raise ValueError("no GPU today")


def build_exits(params, input_shape, n_outputs):
    raise SystemExit(3)  # what sys.exit(3) raises: not an Exception, so it must be caught apart


def build_not_a_model(params, input_shape, n_outputs):
    return {"layers": 3}
'''

TUNED = '''\
import keras


def build_model(hp):
    model_type = hp.Choice("model_type", ["mlp", "cnn"])
    inputs = keras.Input(shape=(8, 8, 1))
    x = inputs
    with hp.conditional_scope("model_type", "cnn"):
        if model_type == "cnn":
            x = keras.layers.Conv2D(hp.Int("filters", 4, 16, step=4), 3, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    with hp.conditional_scope("model_type", ["mlp"]):
        if model_type == "mlp":
            for i in range(hp.Int("layers", 1, 2)):
                x = keras.layers.Dense(hp.Int(f"units_{i}", 8, 32, sampling="log"), activation="relu")(x)
    if hp.Boolean("dropout"):
        x = keras.layers.Dropout(0.25)(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build_unsupported(hp):
    hp.Discrete("units", [1, 2])


def build_exits(hp):
    raise SystemExit("usage: tuned.py [-h]")
'''


def _study(tmp: Path, name: str, **body: object) -> Path:
    raw = {"name": name, "task": "classification",
           "data": {"format": "digits", "validation_fraction": 0.25, "limit": 300},
           "objective": {"metric": "val_accuracy", "direction": "maximize"},
           "budget": {"trials": 3, "max_epochs": 2}, "sampler": {"type": "random", "seed": 0},
           "pruner": {"type": "none"}, **body}
    path = tmp / "spaces" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _one_line(proc, fragment: str, code: int = 2) -> None:  # type: ignore[no-untyped-def]
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert len([ln for ln in lines if ln.startswith("hpo: error")]) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert fragment in lines[-1], lines[-1]


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "models.py").write_text(BUILDER)
    (tmp_path / "spaces" / "tuned.py").write_text(TUNED)
    # A script that exits at import time (its argparse would too, after printing its usage).
    (tmp_path / "spaces" / "script.py").write_text("import sys\nsys.exit(2)\ndef load(): pass\n")
    return tmp_path


def test_a_builder_in_a_file_next_to_the_study(code_dir: Path) -> None:
    url = f"sqlite:///{code_dir / 'db.sqlite'}"
    space = _study(code_dir, "own", model={"builder": "models.py:build"},
                   params={"width": {"type": "categorical", "choices": [8, 16]}, "learning_rate": 0.01},
                   budget={"trials": 2, "max_epochs": 2})
    proc = run_hpo("worker", "--study", "own", "--space", str(space), "--storage", url, cwd=code_dir)
    assert proc.returncode == 0, proc.stderr
    trials = study_trials(url, "own")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 2
    assert {t.params["width"] for t in trials} <= {8, 16}
    # Uncompiled: hpo compiled it with the task's metrics (F1 and the rest recorded per trial).
    assert set(trials[0].user_attrs["val_metrics"]) >= {"val_accuracy", "val_f1", "val_precision", "val_recall"}
    export = run_hpo("export", "--study", "own", "--storage", url, cwd=code_dir)
    config = json.loads(export.stdout)
    assert config["spec"]["model"]["builder"] == "models.py:build" and len(config["spec"]["model"]["sha256"]) == 64
    # A compiled model is used as it is (its own optimizer, its own metrics).
    compiled = _study(code_dir, "own2", model={"builder": "models.py:build_compiled"}, params={"width": 8},
                      budget={"trials": 1, "max_epochs": 1})
    proc = run_hpo("worker", "--study", "own2", "--space", str(compiled), "--storage", url, cwd=code_dir)
    assert proc.returncode == 0, proc.stderr
    only = study_trials(url, "own2")[0]
    assert only.state.name == "COMPLETE" and set(only.user_attrs["val_metrics"]) == {"val_accuracy", "val_loss"}
    # The file is pinned by its SHA-256: an edited builder is refused like any drift, by reading
    # alone before Keras loads (a backend that cannot load proves Keras was never imported).
    (code_dir / "spaces" / "models.py").write_text(BUILDER + "\n# edited\n")
    before = db_snapshot(url)
    proc = run_hpo("worker", "--study", "own", "--space", str(space), "--storage", url, cwd=code_dir,
                   env={"KERAS_BACKEND": "no-such-backend"})
    _one_line(proc, "differs from the spec pinned in study 'own' at: model.sha256")
    assert db_snapshot(url) == before


def test_keras_tuner_code_runs_unchanged_with_its_conditional_scopes(code_dir: Path) -> None:
    url = f"sqlite:///{code_dir / 'db.sqlite'}"
    space = _study(code_dir, "kt", model={"keras_tuner": "tuned.py:build_model"}, params={"batch_size": 64},
                   baselines=[{"model_type": "cnn", "filters": 8, "dropout": False, "lr": 0.005}])
    proc = run_hpo("worker", "--study", "kt", "--space", str(space), "--storage", url, cwd=code_dir)
    assert proc.returncode == 0, proc.stderr
    trials = study_trials(url, "kt")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert trials[0].params["model_type"] == "cnn" and trials[0].params["filters"] == 8  # the baseline
    for t in trials:
        active = set(t.params)
        if t.params["model_type"] == "cnn":
            assert "filters" in active and not {"layers", "units_0"} & active
        else:
            assert "filters" not in active and {"layers", "units_0"} <= active
        assert {"model_type", "dropout", "lr"} <= active
    config = json.loads(run_hpo("export", "--study", "kt", "--storage", url, cwd=code_dir).stdout)
    best = max(trials, key=lambda t: t.value)
    assert {k: config["params"][k] for k in best.params} == best.params
    report = run_hpo("report", "--study", "kt", "--storage", url, "--out", str(code_dir / "report"), cwd=code_dir)
    assert report.returncode == 0, report.stderr
    page = (code_dir / "report" / "index.html").read_text()
    assert "model_type" in page and "lr" in page


def test_image_folders_with_png_and_jpeg(tmp_path: Path) -> None:
    storage_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    synth = run_hpo("data", "synth", "image-folder", "--out", str(tmp_path / "faces"), "--per-class", "30",
                    "--size", "24", "24", cwd=tmp_path)
    assert synth.returncode == 0, synth.stderr
    files = list((tmp_path / "faces").rglob("*.*"))
    assert {f.suffix for f in files if not f.name.startswith(".")} == {".png", ".jpg"}
    space = _study(tmp_path, "folders", model="cnn",
                   data={"format": "image_folder", "path": "faces", "classes": ["happy", "sad"],
                         "balance": "undersample", "augment": {"horizontal_flip": True}},
                   params={"conv_blocks": 1, "filters": {"type": "categorical", "choices": [4, 8]},
                           "batch_size": 16})
    proc = run_hpo("worker", "--study", "folders", "--space", str(space), "--storage", storage_url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "test = faces/test" in proc.stderr  # the worker says how it split
    trials = study_trials(storage_url, "folders")
    assert len(trials) == 3 and all(t.state.name == "COMPLETE" for t in trials)


def test_npz_and_a_loader_function(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (120, 8, 8), dtype=np.uint8)
    y = (x.reshape(120, -1).mean(axis=1) > 127).astype(np.int64)
    np.savez(tmp_path / "arrays.npz", x=x, y=y)
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "data.py").write_text(
        "import numpy as np\n\ndef load():\n    d = np.load('arrays.npz')\n    return d['x'], d['y']\n")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    for name, data in (("fromnpz", {"format": "npz", "path": "arrays.npz"}), ("fromfn", {"loader": "data.py:load"})):
        space = _study(tmp_path, name, model="mlp", data=data, params={"dense_layers": 1, "hidden_units": 8},
                       budget={"trials": 1, "max_epochs": 1})
        proc = run_hpo("worker", "--study", name, "--space", str(space), "--storage", url, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert [t.state.name for t in study_trials(url, name)] == ["COMPLETE"]


def test_a_study_grows_without_a_new_study(tmp_path: Path, storage_url: str) -> None:
    space = _study(tmp_path, "grow", model="mlp", params={"hidden_units": {"type": "int", "low": 4, "high": 8}},
                   budget={"trials": 1, "max_epochs": 1})
    assert run_hpo("worker", "--study", "grow", "--space", str(space), "--storage", storage_url,
                   cwd=tmp_path).returncode == 0
    raw = yaml.safe_load(space.read_text())
    raw["budget"]["trials"] = 2
    raw["sampler"] = {"type": "tpe", "seed": 0}
    space.write_text(yaml.safe_dump(raw))
    proc = run_hpo("create", "--study", "grow", "--space", str(space), "--storage", storage_url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "updated study 'grow': budget.trials (1 -> 2); sampler.type (\"random\" -> \"tpe\")" in proc.stdout
    status = json.loads(run_hpo("status", "--study", "grow", "--storage", storage_url, "--json", cwd=tmp_path).stdout)
    assert status[0]["changes"][0]["changes"][0] == "budget.trials (1 -> 2)" and status[0]["changes"][0]["at"]
    plain = run_hpo("status", "--study", "grow", "--storage", storage_url, cwd=tmp_path).stdout
    assert "budget.trials (1 -> 2)" in plain
    proc = run_hpo("worker", "--study", "grow", "--storage", storage_url, cwd=tmp_path)  # takes the new budget
    assert proc.returncode == 0 and "budget reached" in proc.stdout, proc.stderr
    assert len(study_trials(storage_url, "grow")) == 2
    # What would make earlier trials incomparable is refused, naming the key paths.
    raw["params"]["hidden_units"]["high"] = 16
    raw["task"] = "classification"
    raw["data"]["limit"] = 200
    space.write_text(yaml.safe_dump(raw))
    before = db_snapshot(storage_url)
    proc = run_hpo("create", "--study", "grow", "--space", str(space), "--storage", storage_url, cwd=tmp_path)
    _one_line(proc, "at: data.limit (300 -> 200); params.hidden_units.high (8 -> 16)")
    assert db_snapshot(storage_url) == before


def _bad_folder(tmp: Path, kind: str) -> str:
    import numpy as np
    from PIL import Image

    root = tmp / "imgs"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(root / cls / f"{i}.png")
    if kind == "empty class":
        for f in (root / "b").iterdir():
            f.unlink()
    elif kind == "one class":
        for f in (root / "b").iterdir():
            f.unlink()
        (root / "b").rmdir()
    elif kind == "corrupt image":
        (root / "a" / "3.png").write_bytes(b"\x89PNG not really")
    return "imgs"


# (what, model section, params, data section, expected fragment of the one error line)
BAD = {
    "builder file missing": ({"builder": "nope.py:build"}, {"width": 8}, None, "model.builder: "),
    "builder function missing": ({"builder": "models.py:missing"}, {"width": 8}, None,
                                 "models.py defines no function 'missing'"),
    "builder raises": ({"builder": "models.py:build_raises"}, {"width": 8}, None,
                       "model.builder: models.py:build_raises raised ValueError: no GPU today"),
    "builder returns no model": ({"builder": "models.py:build_not_a_model"}, {"width": 8}, None,
                                 "models.py:build_not_a_model returned dict, not a keras.Model"),
    "output does not fit the task": ({"builder": "models.py:build_wrong_head"}, {"width": 8}, None,
                                     "output shape (None, 13); task classification with 10 classes needs (None, 10)"),
    "unsupported hp method": ({"keras_tuner": "tuned.py:build_unsupported"}, None, None,
                              "hp.Discrete is not supported by hpo"),
    "builder exits": ({"builder": "models.py:build_exits"}, {"width": 8}, None,
                      "model.builder: models.py:build_exits called sys.exit(3); a study's function must return"),
    "keras tuner builder exits": ({"keras_tuner": "tuned.py:build_exits"}, None, None,
                                  "tuned.py:build_exits called sys.exit('usage: tuned.py [-h]')"),
    "loader exits at import": ("mlp", {"hidden_units": 8}, {"loader": "script.py:load"},
                               "data.loader: importing script.py:load called sys.exit(2); put the script's own"),
    "loader missing": ("mlp", {"hidden_units": 8}, {"loader": "data.py:load"}, "data.loader: "),
    "augmentation the task cannot map": ("cnn", {"filters": 4}, {"format": "npz", "path": "x.npz",
                                                                   "augment": {"rotation": 0.1}},
                                         "data.augment.rotation: task regression cannot map"),
    "empty class folder": ("mlp", {"hidden_units": 8}, "empty class", "b"),
    "one class only": ("mlp", {"hidden_units": 8}, "one class", "class"),
    "corrupt image": ("mlp", {"hidden_units": 8}, "corrupt image", "3.png"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_code_and_data_are_one_line_and_change_nothing(case: str, code_dir: Path) -> None:
    model, params, data, fragment = BAD[case]
    body: dict[str, object] = {"model": model}
    if params is not None:
        body["params"] = params
    if isinstance(data, str):
        body["data"] = {"format": "image_folder", "path": _bad_folder(code_dir, data), "test_fraction": 0.2}
    elif data is not None:
        body["data"] = data
    if case.startswith("augmentation"):
        body["task"] = "regression"
        body["objective"] = {"metric": "val_rmse"}
    url = f"sqlite:///{code_dir / 'db.sqlite'}"
    from hpo.space import load_spec
    from hpo.storage import open_storage
    from hpo.study import create_study

    storage = open_storage(url)  # a database with a study in it, to see that nothing changes
    create_study(storage, load_spec(_study(code_dir, "other", params={"filters": 4})))
    storage.engine.dispose()
    before = db_snapshot(url)
    space = _study(code_dir, "bad", **body)
    proc = run_hpo("worker", "--study", "bad", "--space", str(space), "--storage", url, cwd=code_dir)
    _one_line(proc, fragment)
    assert db_snapshot(url) == before
