"""What comes out of a keypoints study, end to end with the real `hpo` command: the pinned
splits and trivial baseline, a self-contained ensemble + flip-TTA model that plain Keras
loads, `hpo evaluate` on the test split, and `hpo predict` writing a Kaggle submission in
the order of an IdLookupTable.csv. Bad input: one line, exit 2, nothing written."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import db_snapshot, run_hpo, study_trials
from tests.test_export import plain_keras_predict

KEYPOINTS = """\
name: kp
task: keypoints
data: {format: kaggle_keypoints, path: train.csv, augment: {horizontal_flip: true}}
objective: {metric: val_rmse, direction: minimize}
budget: {trials: 3, max_epochs: 2}
sampler: {type: random, seed: 0}
params:
  conv_blocks: {type: int, low: 1, high: 2}
  filters: {type: categorical, choices: [4, 8]}
  batch_size: 32
"""


def _ok(proc: Any) -> Any:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One small keypoints study, exported, trained as a top-2 ensemble with flip TTA, evaluated."""
    from hpo.data.synth import write_keypoints_csv  # what `hpo data synth keypoints` writes (tests/test_cli.py)

    d = tmp_path_factory.mktemp("kp")
    (d / "kp.yaml").write_text(KEYPOINTS)
    url = f"sqlite:///{d / 'kp.db'}"
    write_keypoints_csv(d / "train.csv", 200)
    worker = _ok(run_hpo("worker", "--study", "kp", "--space", "kp.yaml", "--storage", url, cwd=d))
    _ok(run_hpo("export", "--study", "kp", "--storage", url, "--out", "best.json", cwd=d))
    train = _ok(run_hpo("train", "--config", "best.json", "--out", "m.keras", "--top", "2", "--tta", "flip", cwd=d))
    evaluate = _ok(run_hpo("evaluate", "--model", "m.keras", "--out", "eval", cwd=d))
    return {"dir": d, "url": url, "worker": worker.stderr, "train": train, "evaluate": evaluate.stdout,
            "config": json.loads((d / "best.json").read_text()),
            "result": json.loads((d / "eval" / "evaluation.json").read_text())}


def test_worker_pins_splits_and_the_trivial_baseline(run: dict[str, Any]) -> None:
    import optuna

    attrs = optuna.load_study(study_name="kp", storage=run["url"]).user_attrs
    splits = attrs["hpo:data"]["splits"]
    assert (splits["train"]["rows"], splits["validation"]["rows"], splits["test"]["rows"]) == (144, 36, 20)
    assert f"splits: train 144 ({splits['train']['sha256']}), validation 36" in run["worker"]
    data_file = run["dir"] / "train.csv"
    assert attrs["hpo:data"]["file"] == {"path": str(data_file.resolve()),
                                         "sha256": hashlib.sha256(data_file.read_bytes()).hexdigest()}
    trivial = attrs["hpo:trivial_baseline"]
    assert trivial["predictor"] == "training mean" and trivial["split"] == "validation" and trivial["value"] > 0
    config = run["config"]
    assert config["data_file"] == attrs["hpo:data"]["file"] and config["trivial_baseline"] == trivial
    assert config["beats_trivial"] == (config["value"] < trivial["value"])
    assert len(config["ranked"]) == 3 and config["ranked"][0]["trial"] == config["trial"]


def test_a_worker_on_other_data_is_refused_and_changes_nothing(run: dict[str, Any], tmp_path: Path) -> None:
    from hpo.data.synth import write_keypoints_csv

    d = run["dir"]
    write_keypoints_csv(tmp_path / "o.csv", 200, seed=7)
    before = db_snapshot(run["url"])
    (d / "kp.db").touch()
    proc = run_hpo("worker", "--study", "kp", "--storage", run["url"], "--data", str(tmp_path / "o.csv"),
                   "--trials", "1", cwd=d)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"hpo: error: --data: {tmp_path / 'o.csv'}: its train "
                                                           "split (144 rows, ")
    assert db_snapshot(run["url"]) == before and len(study_trials(run["url"], "kp")) == 3


def test_model_is_self_contained_and_plain_keras_matches_evaluate(run: dict[str, Any], tmp_path: Path) -> None:
    from hpo.data.datasets import load_dataset
    from hpo.modelfile import read_metadata
    from hpo.space import spec_from_dict

    d = run["dir"]
    meta = read_metadata(d / "m.keras")
    assert meta["members"] == [r["trial"] for r in run["config"]["ranked"][:2]] and meta["tta"] == "flip"
    assert meta["refit"] is True and meta["input"]["shape"] == [96, 96, 1] and len(meta["labels"]) == 30
    assert meta["data"]["sha256"] == run["config"]["data_file"]["sha256"]
    # The test rows, as hpo splits them; raw 0-255 pixels go in, pixels come out.
    spec = spec_from_dict(meta["spec"], pinned=True)
    data = load_dataset(spec.data, path_override=d / "train.csv", task="keypoints")
    assert data.x_test is not None and data.y_test is not None and data.x_test.max() > 1.5
    predicted = plain_keras_predict(d / "m.keras", data.x_test, tmp_path)
    assert 10 < float(predicted.mean()) < 85  # pixel coordinates, not centred ones
    mask = ~np.isnan(data.y_test)
    rmse = float(np.sqrt(np.mean((predicted[mask] - data.y_test[mask]) ** 2)))
    assert rmse == pytest.approx(run["result"]["variants"]["model"]["rmse"], rel=1e-4)
    history = (d / "m.history.csv").read_text().splitlines()
    assert len(history) == 1 + 2 * 2 and history[0].startswith("trial,epoch,")


def test_evaluate_reports_single_ensemble_and_tta_beside_the_baselines(run: dict[str, Any]) -> None:
    result = run["result"]
    first = run["config"]["ranked"][0]["trial"]
    assert set(result["variants"]) == {"model", "ensemble of 2 trials", f"best single (trial {first})"}
    assert result["model_label"] == "ensemble of 2 trials + flip TTA"
    per = result["variants"]["model"]["per_keypoint"]
    assert len(per) == 15 and "left_eye_center" in per
    assert result["trivial"]["predictor"] == "training mean" and result["trivial"]["rmse"] > 0
    assert result["validation"]["study_best"] == pytest.approx(run["config"]["value"])
    assert "test rmse (20 rows never seen by a trial): ensemble of 2 trials + flip TTA " in run["evaluate"]
    assert (run["dir"] / "eval" / "faces.png").stat().st_size > 5000


def _synth_test_and_lookup(d: Path) -> None:
    """What `hpo data synth keypoints-test` and `... lookup` write (tests/test_kaggle_submission.py)."""
    from hpo.data.synth import write_keypoints_test_csv, write_lookup_csv

    write_keypoints_test_csv(d / "test.csv", 6)
    write_lookup_csv(d / "IdLookupTable.csv", d / "test.csv")


def test_predict_writes_csv_and_a_kaggle_submission(run: dict[str, Any]) -> None:
    d = run["dir"]
    _synth_test_and_lookup(d)
    _ok(run_hpo("predict", "--model", "m.keras", "--input", "test.csv", "--out", "predictions.csv", cwd=d))
    rows = list(csv.reader((d / "predictions.csv").open()))
    assert rows[0][0] == "ImageId" and len(rows[0]) == 31 and [r[0] for r in rows[1:]] == [str(i) for i in range(1, 7)]
    _ok(run_hpo("predict", "--model", "m.keras", "--input", "test.csv", "--kaggle-lookup", "IdLookupTable.csv",
                "--out", "submission.csv", cwd=d))
    lookup = list(csv.DictReader((d / "IdLookupTable.csv").open()))
    submission = list(csv.reader((d / "submission.csv").open()))
    assert submission[0] == ["RowId", "Location"]
    assert [r[0] for r in submission[1:]] == [r["RowId"] for r in lookup]
    assert all(0.0 <= float(r[1]) <= 96.0 for r in submission[1:])
    # The submission's value for a row is the model's prediction for that image and feature.
    names = rows[0][1:]
    first = lookup[0]
    predicted = float(rows[int(first["ImageId"])][1 + names.index(first["FeatureName"])])
    assert float(submission[1][1]) == pytest.approx(min(max(predicted, 0.0), 96.0), abs=1e-3)


@pytest.mark.parametrize("case", ["not_a_model", "wrong_size", "unknown_feature", "unknown_image", "image_bomb"])
def test_predict_bad_input_is_one_line_and_writes_nothing(run: dict[str, Any], tmp_path: Path, case: str) -> None:
    d = run["dir"]
    model, inputs, extra = d / "m.keras", ["--input", str(d / "test.csv")], []
    if not (d / "test.csv").exists():
        _synth_test_and_lookup(d)
    lookup = (d / "IdLookupTable.csv").read_text().splitlines()
    if case == "not_a_model":
        model = tmp_path / "notes.keras"
        model.write_text("not a model\n")
        expect = f"hpo: error: --model: {model} is not a Keras model file"
    elif case == "wrong_size":
        from hpo.data.synth import write_fer2013_csv

        write_fer2013_csv(tmp_path / "fer.csv", 5)
        inputs = ["--input", str(tmp_path / "fer.csv")]
        expect = f"hpo: error: --input: {tmp_path / 'fer.csv'}: its images are 48x48 grey; the model takes 96x96x1"
    elif case == "image_bomb":  # 25 KB of PNG that decodes to 196 megapixels: Pillow refuses it
        from PIL import Image

        (tmp_path / "imgs").mkdir()
        Image.new("1", (14000, 14000)).save(tmp_path / "imgs" / "b.png")
        inputs = ["--input", str(tmp_path / "imgs")]
        expect = f"hpo: error: --input: {tmp_path / 'imgs' / 'b.png'}: cannot read it as an image (DecompressionBomb"
    else:
        row = lookup[1].split(",")
        row[1 if case == "unknown_image" else 2] = "999" if case == "unknown_image" else "left_ear_x"
        (tmp_path / "lookup.csv").write_text("\n".join([lookup[0], ",".join(row), *lookup[2:]]) + "\n")
        extra = ["--kaggle-lookup", str(tmp_path / "lookup.csv")]
        expect = f"hpo: error: {tmp_path / 'lookup.csv'}" if case == "unknown_feature" else "hpo: error: "
    out = tmp_path / "out.csv"
    proc = run_hpo("predict", "--model", str(model), *inputs, *extra, "--out", str(out), cwd=d)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expect), lines
    if case == "unknown_image":
        assert "999" in lines[0]
    if case == "unknown_feature":
        assert "left_ear_x" in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".out.csv*"))


def _with_edited_metadata(model: Path, out: Path, edit: dict[str, Any]) -> None:
    """A copy of ``model`` whose hpo.json has the keys of ``edit`` replaced, the rest byte for byte."""
    import zipfile

    from hpo.modelfile import METADATA_MEMBER

    with zipfile.ZipFile(model) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == METADATA_MEMBER:
                data = json.dumps({**json.loads(data), **edit}).encode()
            dst.writestr(item, data)


EDITED_METADATA = {  # hpo.json edits -> (command, the one error line's fragment)
    "input not an object": ({"input": "x"}, "predict", 'hpo.json: input: must be an object, got "x"'),
    "a 2-d input shape": ({"input": {"shape": [96, 96]}}, "predict",
                          "hpo.json: input.shape: must be [height, width, channels] of positive integers"),
    "shape of words": ({"input": {"shape": ["a", "b", "c"]}}, "predict", "input.shape: must be [height, width"),
    "another input size": ({"input": {"shape": [16, 16, 1]}}, "predict",
                           "hpo.json says the input is [16, 16, 1] but the model takes [96, 96, 1]"),
    "members a number": ({"members": 5}, "evaluate", "hpo.json: members: must be a list or null, got 5"),
    "splits as text": ({"splits": "x"}, "evaluate", 'hpo.json: splits: must be an object or null, got "x"'),
    "no task": ({"task": None}, "predict", "hpo.json: task: must be a string, got null"),
}


@pytest.mark.parametrize("case", list(EDITED_METADATA))
def test_an_edited_model_metadata_is_one_line(run: dict[str, Any], tmp_path: Path, case: str) -> None:
    edit, command, fragment = EDITED_METADATA[case]
    d = run["dir"]
    if not (d / "faces").exists():  # image files are resized to what hpo.json says, so the model sees that size
        from PIL import Image

        (d / "faces").mkdir()
        Image.new("L", (96, 96), 128).save(d / "faces" / "a.png")
    model = tmp_path / "edited.keras"
    _with_edited_metadata(d / "m.keras", model, edit)
    args = ["--input", str(d / "faces"), "--out", str(tmp_path / "p.csv")] if command == "predict" else [
        "--data", str(d / "train.csv"), "--out", str(tmp_path / "eval")]
    proc = run_hpo(command, "--model", str(model), *args, cwd=d)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert lines[0].startswith(f"hpo: error: --model: {model}: ") and fragment in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.keras"]


def test_a_checkpoint_is_plain_loadable_and_resumes_with_its_optimizer_state(tmp_path: Path) -> None:
    """What the Checkpointer writes each epoch: plain Keras loads it; hpo's resume gets the
    compiled model back with Adam's moments and step count."""
    from hpo.data.datasets import Dataset
    from hpo.modelfile import load_for_resume, read_metadata, save_model
    from hpo.space import spec_from_dict, suggest
    from hpo.tasks import MaskedMSE
    from hpo.training import fit

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 16, 16, 1)).astype(np.float32)
    y = rng.uniform(0, 15, (40, 30)).astype(np.float32)
    y[::2, 8:] = np.nan
    data = Dataset(x[:32], y[:32], x[32:], y[32:], 30, tuple(f"k{i}" for i in range(30)), "t")
    spec = spec_from_dict({"name": "c", "task": "keypoints", "data": {"format": "npz", "path": "x.npz"},
                           "objective": {"metric": "val_rmse"},
                           "params": {"filters": 4, "conv_blocks": 1, "batch_size": 16}})
    import optuna

    model = fit(spec, suggest(optuna.trial.FixedTrial({}), spec), data, epochs=2).model
    path = tmp_path / "ckpt.keras"
    save_model(model, path, {"task": "keypoints", "epoch": 1})
    assert read_metadata(path)["epoch"] == 1 and read_metadata(path)["compile_config"]
    expected = model.predict(data.x_val, verbose=0)
    np.testing.assert_allclose(plain_keras_predict(path, data.x_val, tmp_path), expected, atol=1e-5)
    resumed = load_for_resume(path)
    assert isinstance(resumed.loss, MaskedMSE) and resumed.loss.scale == pytest.approx(1 / 7.5**2)
    assert int(resumed.optimizer.iterations) == int(model.optimizer.iterations) == 4
    for a, b in zip(model.optimizer.variables, resumed.optimizer.variables, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-7)


def test_predict_inputs_give_each_image_one_id(tmp_path: Path) -> None:
    """`hpo predict --input` names each prediction by its image: two inputs that would give one
    id twice, or a CSV among other inputs, are refused by name before any prediction."""
    from PIL import Image

    from hpo.errors import DataError
    from hpo.predict import read_inputs

    for folder in ("day1", "day2"):
        (tmp_path / folder).mkdir()
        Image.new("L", (8, 8), 9).save(tmp_path / folder / "a.png")
    Image.new("L", (8, 8), 9).save(tmp_path / "day2" / "b.png")
    (tmp_path / "t.csv").write_text("ImageId,Image\n")
    ids, x = read_inputs([tmp_path / "day1", tmp_path / "day2" / "b.png"], (8, 8, 1))
    assert ids == ["a.png", "b.png"] and x.shape == (2, 8, 8, 1)
    cases = {
        "one folder twice": ([tmp_path / "day1", tmp_path / "day1"], "would both be id 'a.png'"),
        "two folders with a.png": ([tmp_path / "day1", tmp_path / "day2"], "would both be id 'a.png'"),
        "a CSV among images": ([tmp_path / "t.csv", tmp_path / "day1"], "t.csv: a CSV goes alone"),
        "a CSV twice": ([tmp_path / "t.csv", tmp_path / "t.csv"], "t.csv: a CSV goes alone"),
    }
    for case, (paths, fragment) in cases.items():
        with pytest.raises(DataError) as info:
            read_inputs(paths, (8, 8, 1))
        assert str(info.value).startswith("--input: ") and fragment in str(info.value), case
