from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from hpo.errors import SpecError
from hpo.space import grid_search_space, load_spec, spec_from_dict, suggest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted((REPO / "search_spaces").glob("*.yaml"))


def _base() -> dict:
    return {
        "name": "s",
        "task": "classification",
        "data": {"format": "digits"},
        "objective": {"metric": "val_accuracy", "direction": "maximize"},
        "budget": {"trials": 5, "max_epochs": 3},
        "sampler": {"type": "tpe", "seed": 1},
        "pruner": {"type": "median"},
        "params": {
            "dropout": {"type": "float", "low": 0.0, "high": 0.5},
            "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
            "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
            "filters": {"type": "int", "low": 8, "high": 32, "step": 8},
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "batch_size": 32,
        },
    }


def _problems(raw: dict) -> str:
    with pytest.raises(SpecError) as info:
        spec_from_dict(raw, source="f.yaml")
    return str(info.value)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_study_files_are_valid(path: Path) -> None:
    spec = load_spec(path)
    assert spec.name == path.stem
    assert spec.searched and len(spec.sha256) == 64


def test_keypoints_file_carries_both_notebook_baselines() -> None:
    spec = load_spec(REPO / "search_spaces" / "keypoints.yaml")
    first, second = spec.baselines
    assert (first["conv_blocks"], first["filters"], first["batch_norm"], first["hidden_units"],
            first["dropout"], first["optimizer"], first["learning_rate"], first["batch_size"]) == (
        3, 32, True, 256, 0.5, "adam", 0.005, 16)
    assert (second["conv_blocks"], second["filters"], second["hidden_units"], second["dropout"],
            second["optimizer"], second["learning_rate"], second["batch_size"]) == (
        5, 32, 50, 0.2, "rmsprop", 0.001, 32)
    # 32 filters doubling over 5 blocks ends at 512, as in the notebook.
    assert 32 * spec.fixed["filter_growth"] ** 4 == 512


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r.update(colour="red"), "f.yaml: colour: unknown key"),
        (lambda r: r["params"]["dropout"].update(low=0.6), "f.yaml: params.dropout.high: must be > low"),
        (lambda r: r.update(task="segmentation"), "f.yaml: task: unknown value 'segmentation'"),
        (lambda r: r["objective"].update(metric="val_mae"), "f.yaml: objective.metric: unknown metric 'val_mae'"),
        (lambda r: r["sampler"].update(type="bayes"), "f.yaml: sampler.type: unknown value 'bayes'"),
        (lambda r: r["pruner"].update(type="asha"), "f.yaml: pruner.type: unknown value 'asha'"),
        (lambda r: r["params"]["momentum"].update(when={"solver": "sgd"}),
         "f.yaml: params.momentum.when.solver: refers to an unknown parameter"),
        (lambda r: r["params"].update(dropuot={"type": "float", "low": 0, "high": 1}),
         "f.yaml: params.dropuot: unknown parameter"),
        (lambda r: r["params"]["dropout"].update(lo=0.1), "f.yaml: params.dropout.lo: unknown key"),
        (lambda r: r["params"]["optimizer"].update(choices=["adam", "lbfgs"]),
         "f.yaml: params.optimizer.choices: 'lbfgs' is not one of: adam"),
        (lambda r: r["params"]["learning_rate"].update(low=0.0), "params.learning_rate.low: must be > 0 when log"),
        (lambda r: r["objective"].update(direction="minimize"),
         "objective.direction: val_accuracy should be maximized"),
        (lambda r: r["budget"].update(trials=0), "f.yaml: budget.trials: must be >= 1"),
        (lambda r: r["pruner"].update(percentile=50), "f.yaml: pruner.percentile: unknown key"),
        (lambda r: r.update(baselines=[{"dropout": 0.9}]), "f.yaml: baselines[0].dropout: 0.9 is outside"),
        (lambda r: r["data"].update(format="kaggle_keypoints"), "f.yaml: data.format: unknown format"),
        (lambda r: r["sampler"].update(type="grid"), "f.yaml: params.dropout: the grid sampler needs a step"),
    ],
)
def test_each_problem_is_named_with_file_and_key_path(mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    raw = _base()
    mutate(raw)
    assert expected in _problems(raw)


def test_every_problem_is_reported_one_per_line() -> None:
    raw = _base()
    raw["params"]["dropout"]["low"] = 0.9
    raw["sampler"]["type"] = "bayes"
    raw["budget"]["max_epochs"] = -1
    lines = _problems(raw).splitlines()
    assert len(lines) == 3
    assert all(line.startswith("f.yaml: ") for line in lines)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nparams: {dropout: [\n")
    with pytest.raises(SpecError, match=r"bad\.yaml: line \d+, column \d+: malformed YAML"):
        load_spec(bad)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="nope.yaml: no such study file"):
        load_spec(tmp_path / "nope.yaml")


def test_name_must_match_the_study(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text((REPO / "search_spaces" / "digits.yaml").read_text())
    with pytest.raises(SpecError, match="name: is 'digits' but the study is 'a'"):
        load_spec(path, expected_name="a")


def test_conditional_param_suggested_only_when_its_condition_holds() -> None:
    spec = spec_from_dict(_base())
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {"adam": 0, "sgd": 0}
    for _ in range(30):
        trial = study.ask()
        values = suggest(trial, spec)
        seen[values["optimizer"]] += 1
        assert ("momentum" in trial.params) == (values["optimizer"] == "sgd")
        assert values["filters"] in (8, 16, 24, 32)
        assert values["batch_size"] == 32  # fixed
        assert set(values) == set(spec.defaults("cnn"))
        study.tell(trial, 0.0)
    assert seen["adam"] and seen["sgd"]


def test_spec_round_trips_through_its_pinned_dict_with_the_same_hash() -> None:
    spec = spec_from_dict(_base())
    again = spec_from_dict(spec.to_dict())
    assert again == spec and again.sha256 == spec.sha256
    changed = _base()
    changed["params"]["dropout"]["high"] = 0.4
    assert spec_from_dict(changed).sha256 != spec.sha256


def test_early_stopping_is_pinned_only_when_set() -> None:
    plain = spec_from_dict(_base())
    assert plain.early_stopping == {} and "early_stopping" not in plain.to_dict()  # old studies keep their hash
    raw = _base()
    raw["early_stopping"] = {"patience": 2}
    spec = spec_from_dict(raw)
    assert spec.early_stopping == {"patience": 2}
    assert spec_from_dict(spec.to_dict()) == spec and spec.sha256 != plain.sha256
    raw["early_stopping"] = {"patience": 2, "min_delta": 0.01}
    assert spec_from_dict(raw).sha256 != spec.sha256
    raw["early_stopping"] = {"target": 1}  # a target alone, no patience
    assert spec_from_dict(raw).early_stopping == {"target": 1.0}


def test_grid_space_enumerates_steps() -> None:
    raw = _base()
    raw["sampler"] = {"type": "grid"}
    raw["params"]["dropout"]["step"] = 0.25
    raw["params"]["momentum"]["step"] = 0.45
    raw["params"]["learning_rate"] = {"type": "categorical", "choices": [0.001, 0.01]}
    grid = grid_search_space(spec_from_dict(raw))
    assert grid["dropout"] == [0.0, 0.25, 0.5]
    assert grid["filters"] == [8, 16, 24, 32]
