"""Bad input, as a careless user or a hostile file gives it (issue 9, sections 2 and 3).

Each list below holds distinct bad inputs of one class; each class is handled in one place
(named in the list's comment). Every case runs the real `hpo` command and must end with exit
2, exactly one `hpo: error: ...` line naming the file, key or flag and what to do, no line
longer than the bound, and nothing written: the database as it was, no output file.
A flag that is merely ignored gives one `hpo: warning:` line and the command goes on.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hpo.cli import MAX_LINE, MAX_LINES
from tests.conftest import TINY_DIGITS, db_snapshot, run_hpo, tiny_space

BOUND = len("hpo: error: ") + MAX_LINE


def _refused(proc: Any, *fragments: str, code: int = 2) -> str:
    """Exit ``code``, one bounded `hpo: error:` line holding every fragment; returns it."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr[-3000:]
    assert len(lines) == 1, proc.stderr[-3000:]
    line = lines[0]
    assert line.startswith("hpo: error: ") and "Traceback" not in proc.stderr
    assert len(line) <= BOUND, line[:500]
    for fragment in fragments:
        assert fragment in line, line
    return line


def _files(directory: Path) -> set[Path]:
    return {p.relative_to(directory) for p in directory.rglob("*")}


@dataclass
class Study:
    """A study with two completed trials (made through optuna, no training) and its export."""

    dir: Path
    url: str
    config: dict[str, Any]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    import optuna

    from hpo.record import BEST_EPOCH_ATTR
    from hpo.space import load_spec

    home = tmp_path_factory.mktemp("study")
    space = tiny_space(home)
    url = f"sqlite:///{home / 'studies.db'}"
    proc = run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", url, cwd=home)
    assert proc.returncode == 0, proc.stderr
    spec = load_spec(space)
    loaded = optuna.load_study(study_name="tiny", storage=url)
    for value, blocks in ((0.5, 1), (0.6, 2)):
        params = {"conv_blocks": blocks, "filters": 4, "hidden_units": 8, "dropout": 0.1, "optimizer": "adam",
                  "learning_rate": 0.005}
        dists = {p.name: p.distribution() for p in spec.searched if p.name in params}
        loaded.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value,
                                                   user_attrs={BEST_EPOCH_ATTR: 1}))
    proc = run_hpo("export", "--study", "tiny", "--storage", url, "--out", "best.json", cwd=home)
    assert proc.returncode == 0, proc.stderr
    return Study(home, url, json.loads((home / "best.json").read_text()))


# ------------------------------------------------ study files (hpo.space: load_spec, _Validator)

BASE = TINY_DIGITS.format(name="tiny", trials=4, epochs=2, sampler="tpe", pruner="median")


def _edit(*pairs: str) -> str:
    text = BASE
    for old, new in zip(pairs[::2], pairs[1::2], strict=True):
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def _bomb() -> str:
    lines = ["lol0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    return BASE + "\n".join(lines) + "\n"


PRUNER = "pruner: {type: median}"
DROPOUT = "dropout: {type: float, low: 0.0, high: 0.5}"
BLOCKS = "conv_blocks: {type: int, low: 1, high: 2}"
BASELINE = "{conv_blocks: 1, filters: 8, hidden_units: 16, dropout: 0.1, optimizer: adam, learning_rate: 0.005}"

YAML_CASES: dict[str, tuple[str | bytes, tuple[str, ...]]] = {
    # Accepted without a word before: duplicate keys (the last silently won).
    "duplicate top-level key": (BASE + "task: regression\n", ("task: duplicate key (lines 2 and 19)", "keep one")),
    "duplicate parameter": (_edit("  batch_size: 64\n", "  batch_size: 64\n  filters: {type: int, low: 1, high: 9}\n"),
                            ("params.filters: duplicate key (lines 10 and 17)",)),
    "duplicate key inside a parameter": (_edit(DROPOUT, "dropout: {type: float, low: 0.0, high: 0.5, high: 0.9}"),
                                         ("params.dropout.high: duplicate key",)),
    "duplicate key in a baseline": (_edit("learning_rate: 0.005}", "learning_rate: 0.005, filters: 4}"),
                                    ("baselines[0].filters: duplicate key",)),
    # Hostile YAML: alias bombs, nesting, size, encodings, control characters.
    "alias bomb (billion laughs)": (_bomb(), ("more than 100000 values",)),
    "alias that contains itself": (BASE + "loop: &loop [*loop]\n", ("loop", "nested more than 64 levels deep")),
    "nesting 200 deep": (BASE + "deep: " + "[" * 200 + "]" * 200 + "\n", ("nested more than 64 levels deep",)),
    "nesting 20000 deep": (BASE + "deep: " + "[" * 20000 + "]" * 20000 + "\n", ("nested more than 64 levels",)),
    "file over 1 MiB": (BASE + "description: " + "x" * (1 << 20) + "\n", ("larger than 1024 KiB",)),
    "value of 300 kB": (_edit("task: classification", "task: " + "x" * 300_000), ("task: unknown value", "cut")),
    "key of 200 kB": (BASE + '? "' + "k" * 200_000 + '"\n: 1\n',
                      ("characters cut", "budget, data, description, early_stopping")),
    "control characters in a value": (_edit("task: classification", 'task: "a\\rb\\e[2Jc\\0"'),
                                      ("task: unknown value", "\\x1b")),
    "latin-1 text": (BASE.encode() + "description: café\n".encode("latin-1"), ("not UTF-8 text (byte 0xe9",)),
    "UTF-16 file": (BASE.encode("utf-16"), ("not UTF-8 text (byte 0xff at offset 0)", "save it as UTF-8")),
    "study name of 500 characters": (_edit("name: tiny", "name: " + "n" * 500), ("name: is 500 characters long",)),
    # A step that does not divide the range (Optuna would shrink the range).
    "float step does not divide": (_edit(DROPOUT, "dropout: {type: float, low: 0.0, high: 0.5, step: 0.2}",
                                         "dropout: 0.1,", "dropout: 0.2,"),
                                   ("params.dropout.step: 0.2 does not divide high - low (0.5 - 0)", "[0, 0.4]")),
    "int step does not divide": (_edit(BLOCKS, "conv_blocks: {type: int, low: 1, high: 4, step: 2}"),
                                 ("params.conv_blocks.step: 2 does not divide", "[1, 3]", "make high 3 or 5")),
    "tiny float step does not divide": (_edit(DROPOUT, "dropout: {type: float, low: 0.05, high: 0.5, step: 0.1}",
                                              "dropout: 0.1,", "dropout: 0.15,"),
                                        ("params.dropout.step: 0.1", "[0.05, 0.45]")),
    # Baselines off their param's grid, out of range, or never used.
    "baseline off the float grid": (_edit(DROPOUT, "dropout: {type: float, low: 0.0, high: 0.5, step: 0.1}",
                                          "dropout: 0.1,", "dropout: 0.15,"),
                                    ("baselines[0].dropout: 0.15 is off the parameter's grid", "0.1 or 0.2")),
    "baseline off the int grid": (_edit(BLOCKS, "conv_blocks: {type: int, low: 1, high: 3, step: 2}",
                                        "{conv_blocks: 1,", "{conv_blocks: 2,"),
                                  ("baselines[0].conv_blocks: 2 is off the parameter's grid",)),
    "baseline out of range": (_edit("{conv_blocks: 1,", "{conv_blocks: 7,"),
                              ("baselines[0].conv_blocks: 7 is outside the parameter's range [1, 2]",)),
    "baseline below a log range": (_edit("hidden_units: 16,", "hidden_units: 4,"),
                                   ("baselines[0].hidden_units: 4 is outside",)),
    "baseline not among the choices": (_edit("filters: 8,", "filters: 16,"),
                                       ("baselines[0].filters: 16 is not one of the choices",)),
    "baseline int given a fraction": (_edit("{conv_blocks: 1,", "{conv_blocks: 1.5,"),
                                      ("baselines[0].conv_blocks: must be an integer",)),
    "baseline sets an inactive parameter": (_edit("optimizer: adam,", "optimizer: adam, momentum: 0.5,"),
                                            ("baselines[0].momentum: is never used", "optimizer is 'sgd'")),
    # Pruner settings that cannot work with the budget (trials 4, max_epochs 2).
    "median warm-up past the last epoch": (_edit(PRUNER, "pruner: {type: median, n_warmup_steps: 2}"),
                                           ("pruner.n_warmup_steps: 2 >= budget.max_epochs (2)",)),
    "median startup as long as the budget": (_edit(PRUNER, "pruner: {type: median, n_startup_trials: 4}"),
                                             ("pruner.n_startup_trials: 4 >= budget.trials (4)",)),
    "percentile needs more trials than the budget": (
        _edit(PRUNER, "pruner: {type: percentile, percentile: 25.0, n_min_trials: 9}"),
        ("pruner.n_min_trials: 9 >= budget.trials (4)",)),
    "halving min_resource at the last epoch": (_edit(PRUNER, "pruner: {type: successive_halving, min_resource: 2}"),
                                               ("pruner.min_resource: the first rung is at epoch 2",)),
    "halving first rung past the budget": (
        _edit(PRUNER, "pruner: {type: successive_halving, min_resource: 1, reduction_factor: 3, "
                      "min_early_stopping_rate: 1}"), ("the first rung is at epoch 3",)),
    "halving bootstrap as long as the budget": (
        _edit(PRUNER, "pruner: {type: successive_halving, min_resource: 1, bootstrap_count: 4}"),
        ("pruner.bootstrap_count: 4 >= budget.trials (4)", "every trial would be pruned")),
    "hyperband min_resource at max_epochs": (_edit(PRUNER, "pruner: {type: hyperband, min_resource: 2}"),
                                             ("pruner.min_resource: 2 >= max_resource (2 = budget.max_epochs)",)),
    "hyperband min_resource at max_resource": (
        _edit(PRUNER, "pruner: {type: hyperband, min_resource: 1, max_resource: 1}"),
        ("pruner.min_resource: 1 >= max_resource (1)",)),
    # Early stopping that could never stop a trial, or is not a number of epochs.
    "early stopping patience as long as the budget": (
        BASE + "early_stopping: {patience: 2}\n",
        ("early_stopping.patience: must be >= 1 and < budget.max_epochs (2)",)),
    "early stopping without a patience": (BASE + "early_stopping: {min_delta: 0.01}\n",
                                          ("early_stopping.patience: missing",)),
    "early stopping patience as text": (BASE + "early_stopping: {patience: three}\n",
                                        ("early_stopping.patience: must be an integer",)),
    "early stopping negative min_delta": (BASE + "early_stopping: {patience: 1, min_delta: -0.1}\n",
                                          ("early_stopping.min_delta: must be >= 0",)),
    "an accuracy target above 1": (BASE + "early_stopping: {target: 2.0}\n",
                                   ("early_stopping.target: val_accuracy lies in [0, 1], so 2.0 is never reached",)),
    "an accuracy target in percent": (BASE + "early_stopping: {target: 99}\n",
                                      ("early_stopping.target: val_accuracy lies in [0, 1]",)),
    "early stopping min_delta without a patience": (BASE + "early_stopping: {target: 1.0, min_delta: 0.1}\n",
                                                    ("early_stopping.min_delta: applies to patience",)),
    "early stopping target as text": (BASE + "early_stopping: {target: perfect}\n",
                                      ("early_stopping.target: must be a number",)),
    # A task or metric hpo does not know, or one the task's model never logs: never trains on NaN.
    "unknown task": (_edit("task: classification", "task: segmentation"), ("task: unknown value 'segmentation'",)),
    "metric of another task": (_edit("metric: val_accuracy, direction: maximize", "metric: val_rmse, direction: "
                                     "minimize"), ("objective.metric: unknown metric 'val_rmse' for task",)),
    "metric no model logs": (_edit("metric: val_accuracy", "metric: val_mae"), ("unknown metric 'val_mae'",)),
    "metric in the wrong case": (_edit("metric: val_accuracy", "metric: VAL_ACCURACY"),
                                 ("unknown metric 'VAL_ACCURACY'",)),
}


@pytest.mark.parametrize("case", list(YAML_CASES))
def test_bad_study_file_is_one_line_and_changes_nothing(study: Study, tmp_path: Path, case: str) -> None:
    text, fragments = YAML_CASES[case]
    space = tmp_path / "tiny.yaml"
    space.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = db_snapshot(study.url)
    proc = run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", study.url, cwd=tmp_path)
    line = _refused(proc, f"{space}: ", *fragments)
    assert "\r" not in line and "\x1b" not in line
    assert db_snapshot(study.url) == before


def test_a_study_file_that_is_a_directory(study: Study, tmp_path: Path) -> None:
    (tmp_path / "spaces").mkdir()
    proc = run_hpo("create", "--study", "tiny", "--space", "spaces", "--storage", study.url, cwd=tmp_path)
    _refused(proc, "spaces: is a directory; give the study file itself")


def test_thousands_of_problems_print_a_bounded_list(study: Study, tmp_path: Path) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text(BASE + "".join(f"k{i}: 1\n" for i in range(5000)))
    proc = run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", study.url, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == MAX_LINES
    assert lines[0].startswith(f"hpo: error: {space}: k0: unknown key")
    assert lines[-1] == f"hpo: error: ... and {5000 - MAX_LINES + 1} more lines like these"


# ------------------------------------------------ hand-edited exports (hpo.export.read_config)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = config
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        index: Any = int(last) if isinstance(node, list) else last
        if value is _DELETE:
            del node[index]
        else:
            node[index] = value
    return edit


def _all(*edits: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        for one in edits:
            one(config)
    return edit


_DELETE = object()

JSON_CASES: dict[str, tuple[Callable[[dict[str, Any]], None], tuple[str, ...]]] = {
    # Params are checked against the pinned spec: no network the study could not have built.
    "50 conv blocks": (_set("params.conv_blocks", 50), ("params.conv_blocks: 50 is outside the parameter's range",)),
    "a filter count not among the choices": (_set("params.filters", 1024), ("params.filters: 1024 is not one of",)),
    "a number written as text": (_set("params.dropout", "0.1"), ("params.dropout: must be a number",)),
    "an unsearched parameter changed": (_set("params.convs_per_block", 50),
                                        ("params.convs_per_block: 50: the study neither searches nor fixes",)),
    "a fixed parameter changed": (_set("params.batch_size", 100000),
                                  ("params.batch_size: 100000 differs from the fixed value 64",)),
    "another model family": (_set("params.model", "mlp"), ("params.model: 'mlp': the study neither searches",)),
    "an unknown parameter": (_set("params.bogus", 1), ("params.bogus: is not a parameter of this study's model",)),
    "an inactive parameter out of range": (_set("params.momentum", 5.0), ("params.momentum: 5.0 is outside",)),
    "an augmentation switched on": (lambda c: c["params"].update({"augment.rotation": 0.5}),
                                    ("params.augment.rotation: 0.5: the study neither searches nor fixes",)),
    "params not an object": (_set("params", [1, 2]), ("params: must be an object, got [1, 2]",)),
    "a ranked trial's params": (_set("ranked.0.params.hidden_units", 10**6), ("ranked[0].params.hidden_units",)),
    "a ranked trial's epochs": (_set("ranked.1.epochs", -1), ("ranked[1].epochs: -1 is not in 1..2",)),
    "a ranked trial not an object": (_set("ranked.0", "best"), ("ranked[0]: must be an object",)),
    "ranked not a list": (_set("ranked", "x"), ("ranked: must be a list or null",)),
    # Epochs: a whole number within the study's budget.
    "a million epochs": (_set("epochs", 10**6), ("epochs: 1000000 is not in 1..2", "pass --epochs N")),
    "zero epochs": (_set("epochs", 0), ("epochs: 0 is not in 1..2",)),
    "epochs as text": (_set("epochs", "3"), ('epochs: must be an integer, got "3"',)),
    "epochs as a boolean": (_set("epochs", True), ("epochs: must be an integer, got true",)),
    "epochs as a fraction": (_set("epochs", 1.5), ("epochs: must be an integer, got 1.5",)),
    # Wrong types and missing keys.
    "no params": (_set("params", _DELETE), ("params: missing; is it from `hpo export`?",)),
    "no spec": (_set("spec", _DELETE), ("spec: missing",)),
    "trial as text": (_set("trial", "abc"), ('trial: must be an integer or null, got "abc"',)),
    "data_file as text": (_set("data_file", "x.csv"), ("data_file: must be an object or null",)),
    "data_file's path as a number": (_set("data_file", {"path": 123, "sha256": "ab"}),
                                     ("data_file.path: must be a string, got 123",)),
    "data_file without its path": (_set("data_file", {"sha256": "ab"}), ("data_file.path: missing",)),
    "a searched parameter left out": (_set("params.filters", _DELETE),
                                      ("params.filters: missing; the study searches it", "export it again")),
    "a fixed parameter left out": (_set("params.batch_size", _DELETE),
                                   ("params.batch_size: missing; the study fixes",)),
    "value as text": (_set("value", "best"), ("value: must be an integer or a number or null",)),
    # A task or metric that does not fit: the spec, the data and the JSON must agree.
    "task edited": (_set("task", "keypoints"), ("task: 'keypoints' but the pinned spec says 'classification'",)),
    "metric edited": (_set("metric", "val_rmse"), ("metric: 'val_rmse' but the pinned spec says 'val_accuracy'",)),
    "direction edited": (_set("direction", "minimize"), ("direction: 'minimize' but the pinned spec says",)),
    "spec budget widened": (_all(_set("spec.budget", {"trials": 4, "max_epochs": 10**9}), _set("epochs", 10**9)),
                            ("spec: edited (its SHA-256 is", "export it again")),
    "spec param range widened": (_all(_set("spec.params.conv_blocks", {"type": "int", "low": 1, "high": 8}),
                                      _set("params.conv_blocks", 8)), ("spec: edited",)),
    "spec metric unknown": (_set("spec.objective.metric", "val_bogus"),
                            ("spec: objective.metric: unknown metric 'val_bogus'",)),
    "spec task that does not fit the data": (
        _all(_set("spec.task", "keypoints"), _set("task", "keypoints"), _set("metric", "val_rmse"),
             _set("spec.objective", {"metric": "val_rmse", "direction": "minimize"}), _set("direction", "minimize")),
        ("spec: data.format: unknown format 'digits' for task keypoints",)),
}

RAW_JSON_CASES: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "a duplicated key": (b'{"epochs": 1, "epochs": 2}', ("not valid JSON: duplicate key 'epochs'",)),
    "a list": (b"[1, 2]", ("expected a JSON object",)),
    "latin-1 bytes": ('{"study": "caf\xe9"}'.encode("latin-1"), ("not valid JSON",)),
    "truncated": (b'{"task": "classification", "par', ("not valid JSON",)),
    "nested 100000 deep": (b"[" * 100_000 + b"]" * 100_000, ("not valid JSON",)),
}


def _train(study: Study, tmp_path: Path, config: bytes) -> Any:
    (tmp_path / "best.json").write_bytes(config)
    before, snapshot = _files(tmp_path), db_snapshot(study.url)
    proc = run_hpo("train", "--config", "best.json", "--out", "model.keras", cwd=tmp_path)
    assert _files(tmp_path) == before and db_snapshot(study.url) == snapshot
    return proc


@pytest.mark.parametrize("case", list(JSON_CASES))
def test_edited_export_is_refused_before_training(study: Study, tmp_path: Path, case: str) -> None:
    edit, fragments = JSON_CASES[case]
    config = copy.deepcopy(study.config)
    edit(config)
    _refused(_train(study, tmp_path, json.dumps(config).encode()), "best.json: ", *fragments)


@pytest.mark.parametrize("case", list(RAW_JSON_CASES))
def test_malformed_export_is_one_line(study: Study, tmp_path: Path, case: str) -> None:
    text, fragments = RAW_JSON_CASES[case]
    _refused(_train(study, tmp_path, text), "best.json: ", *fragments)


def test_an_unedited_export_passes(study: Study) -> None:
    from hpo.export import read_config

    assert read_config(study.dir / "best.json") == study.config


def test_a_config_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    _refused(run_hpo("train", "--config", "exports", "--out", "m.keras", cwd=tmp_path),
             "exports: is a directory; give the JSON file")


# ------------------------------------------------ flags (hpo.cli: _INERT_FLAGS, _number, _file_out)

FLAG_CASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # Flags that do nothing here, given a value that would matter: refused.
    "--per-gpu without --gpus": (("worker", "--study", "tiny", "--per-gpu", "2"), ("--per-gpu: only with --gpus",)),
    "--per-gpu with --workers": (("worker", "--study", "tiny", "--workers", "2", "--per-gpu", "2"),
                                 ("--per-gpu: only with --gpus",)),
    "--rgb for a CSV": (("data", "synth", "keypoints", "--rows", "3", "--rgb", "--out", "k.csv"),
                        ("--rgb: only for image-folder, not with keypoints",)),
    "--classes for a CSV": (("data", "synth", "fer2013", "--rows", "3", "--classes", "a,b", "--out", "f.csv"),
                            ("--classes: only for image-folder, not with fer2013",)),
    "--size for a CSV": (("data", "synth", "fer2013", "--rows", "3", "--size", "32", "32", "--out", "f.csv"),
                         ("--size: only for image-folder",)),
    "--per-class for a CSV": (("data", "synth", "keypoints", "--rows", "3", "--per-class", "10", "--out", "k.csv"),
                              ("--per-class: only for image-folder",)),
    "--rows for image folders": (("data", "synth", "image-folder", "--rows", "5", "--out", "faces"),
                                 ("--rows: only for keypoints, keypoints-test and fer2013", "takes --per-class")),
    "--rows for a lookup table": (("data", "synth", "lookup", "--rows", "5", "--test", "t.csv", "--out", "l.csv"),
                                  ("--rows: only for", "takes its images from --test")),
    "--test for fer2013": (("data", "synth", "fer2013", "--rows", "3", "--test", "t.csv", "--out", "f.csv"),
                           ("--test: only for lookup, not with fer2013",)),
    # Absurd sizes and seeds: refused with the limit.
    "a trillion rows": (("data", "synth", "keypoints", "--rows", str(10**12), "--out", "k.csv"),
                        ("argument --rows: must be at most 100000 (the real FER2013 file has 35887)",)),
    "one row over the limit": (("data", "synth", "fer2013", "--rows", "100001", "--out", "f.csv"),
                               ("--rows: must be at most 100000",)),
    "negative rows": (("data", "synth", "fer2013", "--rows", "-5", "--out", "f.csv"), ("--rows: must be >= 1",)),
    "a negative seed": (("data", "synth", "keypoints", "--rows", "3", "--seed", "-1", "--out", "k.csv"),
                        ("argument --seed: must be >= 0, got -1",)),
    "a seed past 2**31": (("data", "synth", "keypoints", "--rows", "3", "--seed", str(2**31), "--out", "k.csv"),
                          ("--seed: must be at most 2147483647",)),
    "a seed in exponent notation": (("data", "synth", "keypoints", "--rows", "3", "--seed", "1e3", "--out", "k.csv"),
                                    ("--seed: must be a whole number, got '1e3'",)),
    "a billion images per class": (("data", "synth", "image-folder", "--per-class", str(10**9), "--out", "faces"),
                                   ("--per-class: must be at most 10000",)),
    "one image per class": (("data", "synth", "image-folder", "--per-class", "1", "--out", "faces"),
                            ("--per-class: must be >= 2",)),
    "images of 4x4 pixels": (("data", "synth", "image-folder", "--size", "4", "4", "--out", "faces"),
                             ("--size: must be >= 8",)),
    "images of 100000x100000 pixels": (("data", "synth", "image-folder", "--size", "100000", "100000", "--out",
                                        "faces"), ("--size: must be at most 1024",)),
    "a class name with a slash": (("data", "synth", "image-folder", "--classes", "a/b,c", "--out", "faces"),
                                  ("--classes: must be distinct folder names",)),
    "a thousand classes": (("data", "synth", "image-folder", "--classes", ",".join(f"c{i}" for i in range(1000)),
                            "--out", "faces"), ("--classes: give 2 to 100 distinct names",)),
    "a class list of 100 kB": (("data", "synth", "image-folder", "--classes", "x" * 100_000, "--out", "faces"),
                               ("--classes: give 2 to 100", "characters cut")),
    # An output FILE that names a folder: "is a directory", not a file called like the folder.
    "export --out newdir/": (("export", "--study", "tiny", "--out", "newdir/"),
                             ("argument --out: newdir/ is a directory; give a file name, e.g. newdir/best.json",)),
    "export --out an existing folder": (("export", "--study", "tiny", "--out", "folder"),
                                        ("argument --out: folder is a directory",)),
    "train --out model.keras/": (("train", "--config", "best.json", "--out", "model.keras/"),
                                 ("argument --out: model.keras/ is a directory",)),
    "train --out an existing folder": (("train", "--config", "best.json", "--out", "folder"),
                                       ("folder is a directory; give a file name, e.g. folder/model.keras",)),
    "predict --out preds/": (("predict", "--model", "m.keras", "--input", "x.png", "--out", "preds/"),
                             ("argument --out: preds/ is a directory",)),
    "synth --out d/": (("data", "synth", "keypoints", "--rows", "3", "--out", "d/"),
                       ("--out: d/ is a directory; give a file name, e.g. d/training.csv",)),
    "synth --out an existing folder": (("data", "synth", "fer2013", "--rows", "3", "--out", "folder"),
                                       ("--out: folder is a directory", "folder/fer2013.csv")),
}


@pytest.mark.parametrize("case", list(FLAG_CASES))
def test_flag_that_cannot_work_is_refused(study: Study, tmp_path: Path, case: str) -> None:
    args, fragments = FLAG_CASES[case]
    (tmp_path / "folder").mkdir()
    (tmp_path / "best.json").write_text(json.dumps(study.config))
    before, snapshot = _files(tmp_path), db_snapshot(study.url)
    storage = ("--storage", study.url) if args[0] in ("worker", "export") else ()
    _refused(run_hpo(*args, *storage, cwd=tmp_path), *fragments)
    assert _files(tmp_path) == before and db_snapshot(study.url) == snapshot


WARN_CASES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "--per-class 40 for keypoints": (("data", "synth", "keypoints", "--rows", "3", "--per-class", "40"),
                                     "--per-class is ignored with keypoints (it is only for image-folder)", "k.csv"),
    "--size 48 48 for keypoints-test": (("data", "synth", "keypoints-test", "--rows", "3", "--size", "48", "48"),
                                        "--size is ignored with keypoints-test (it is only for image-folder)", "k.csv"),
}


@pytest.mark.parametrize("case", list(WARN_CASES))
def test_flag_with_its_default_value_is_ignored_with_one_warning(tmp_path: Path, case: str) -> None:
    args, warning, out = WARN_CASES[case]
    proc = run_hpo(*args, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("hpo: warning: ")]
    assert warnings == [f"hpo: warning: {warning}"]
    assert (tmp_path / out).is_file()


def test_per_gpu_1_without_gpus_warns_once(study: Study, tmp_path: Path) -> None:
    proc = run_hpo("worker", "--study", "nope", "--per-gpu", "1", "--storage", study.url, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "hpo: warning: --per-gpu is ignored without --gpus (it is only with --gpus)"
    assert sum(line.startswith("hpo: warning:") for line in lines) == 1 and proc.returncode == 2


def test_fleet_and_recycled_workers_keep_quiet() -> None:
    from hpo.cli import _worker_flags, build_parser

    args = build_parser().parse_args(["worker", "--study", "s", "--workers", "2", "--quiet"])
    assert "--quiet" in _worker_flags(args, None, None)


# ------------------------------------------------ data paths that are folders (hpo.data.pixels.require_file)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("space", "name"), [("keypoints", "training.csv"), ("emotions", "fer2013.csv")])
def test_a_data_folder_is_not_called_missing(tmp_path: Path, space: str, name: str) -> None:
    text = (REPO / "search_spaces" / f"{space}.yaml").read_text().replace(f"name: {space}", "name: s")
    (tmp_path / "s.yaml").write_text(text)
    (tmp_path / "data").mkdir()
    proc = run_hpo("worker", "--study", "s", "--space", "s.yaml", "--data", "data",
                   "--storage", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path)
    _refused(proc, f"data: is a directory; give the {name} file itself, e.g. data/{name}")
    assert not (tmp_path / "x.db").exists()


# ------------------------------------------------ report into a place it cannot write (hpo.report)


@pytest.mark.parametrize("where", ["under-a-file", "proc", "a-file"])
def test_report_that_cannot_be_written_is_one_line(study: Study, tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("x")
    out = {"under-a-file": str(tmp_path / "file" / "report"), "proc": "/proc/hpo-report-test",
           "a-file": str(tmp_path / "file")}[where]
    before, snapshot = _files(tmp_path), db_snapshot(study.url)
    proc = run_hpo("report", "--study", "tiny", "--storage", study.url, "--out", out, cwd=tmp_path)
    _refused(proc, *((f"--out: {out} is a file",) if where == "a-file" else ("--out: cannot create", out)))
    assert _files(tmp_path) == before and db_snapshot(study.url) == snapshot


# ------------------------------------------------ an --out that is an input, or cannot be written (hpo.cli._check_out)

OUT_CASES: dict[str, tuple[list[str], list[str]]] = {  # argv (run in a folder holding the inputs), fragments
    "predict over its model": (["predict", "--model", "m.keras", "--input", "imgs", "--out", "m.keras"],
                               ["--out: m.keras is the --model file"]),
    "predict over its image": (["predict", "--model", "m.keras", "--input", "imgs/a.png", "--out", "imgs/a.png"],
                               ["--out: imgs/a.png is the --input file"]),
    "predict over a link to its CSV": (["predict", "--model", "m.keras", "--input", "test.csv", "--out", "link.csv"],
                                       ["--out: link.csv is the --input file"]),
    "predict over its lookup table": (["predict", "--model", "m.keras", "--input", "test.csv", "--kaggle-lookup",
                                       "lookup.csv", "--out", "lookup.csv"],
                                      ["--out: lookup.csv is the --kaggle-lookup"]),
    "train over its config": (["train", "--config", "best.json", "--out", "./best.json"],
                              ["--out: ./best.json is the --config file"]),
    "train under a file": (["train", "--config", "best.json", "--out", "best.json/m.keras"],
                           ["--out: ", "best.json is a file, not a folder; give a path you can write"]),
    "train where nothing can be written": (["train", "--config", "best.json", "--out", "/proc/hpo-test/m.keras"],
                                           ["--out: cannot write in /proc: "]),
    "evaluate where nothing can be written": (["evaluate", "--model", "m.keras", "--out", "/proc/hpo-test"],
                                              ["--out: cannot write in /proc: "]),
    "evaluate into a file": (["evaluate", "--model", "m.keras", "--out", "best.json"],
                             ["--out: best.json is a file, not a folder"]),
}


@pytest.mark.parametrize("case", list(OUT_CASES))
def test_an_out_that_is_an_input_or_unwritable_is_refused_before_any_work(tmp_path: Path, case: str) -> None:
    argv, fragments = OUT_CASES[case]
    (tmp_path / "imgs").mkdir()
    for name, data in (("m.keras", b"PK model"), ("imgs/a.png", b"png"), ("test.csv", b"ImageId,Image\n"),
                       ("lookup.csv", b"RowId,ImageId,FeatureName,Location\n"), ("best.json", b"{}")):
        (tmp_path / name).write_bytes(data)
    (tmp_path / "link.csv").symlink_to(tmp_path / "test.csv")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    _refused(run_hpo(*argv, cwd=tmp_path), *fragments)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert not Path("/proc/hpo-test").exists()


# ------------------------------------------------ the one printer (hpo.cli.say) and its fallback


def test_every_line_is_bounded_and_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    from hpo.cli import say

    say("error", "f.yaml: k: " + "x" * 10**6 + " \x1b[2J\r do this")
    line = capsys.readouterr().err.rstrip("\n")
    assert "\n" not in line and len(line) <= BOUND
    assert line.startswith("hpo: error: f.yaml: k: xxx") and line.endswith("\\x1b[2J\\x0d do this")


def test_an_unexpected_file_error_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import hpo.cli

    def fail(args: Any) -> int:
        raise PermissionError(13, "Permission denied", "/somewhere/out.png")

    monkeypatch.setattr(hpo.cli, "_dispatch", fail)
    assert hpo.cli.main(["status"]) == 1
    assert capsys.readouterr().err == "hpo: error: /somewhere/out.png: Permission denied\n"


# ------------------------------------------------ every metric a study may name is one its task logs


def test_every_metric_a_study_may_name_is_one_its_task_logs() -> None:
    """The validator accepts exactly catalog.TASKS[task].metrics; Keras logs a compiled metric
    as val_NAME, so each must be among the task's compiled metrics with that metric as the
    objective (else every trial would be scored NaN for a name its model never logs)."""
    from hpo import catalog
    from hpo.tasks import get_task

    def names(m: Any) -> list[str]:  # a metric whose result is a dict logs each key (ClassificationScores)
        result = m.result()
        return list(result) if isinstance(result, dict) else [m.name]

    for task, spec in catalog.TASKS.items():
        for metric in spec.metrics:
            compiled = get_task(task).metrics(3, 8, objectives=(metric,))
            logged = {"val_loss"} | {f"val_{name}" for m in compiled for name in names(m)}
            assert metric in logged, (task, metric, sorted(logged))
