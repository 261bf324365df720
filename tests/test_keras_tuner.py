"""hpo.models.keras_tuner: Keras Tuner's ``hp`` on an Optuna trial. No keras, no keras_tuner: the
build functions are plain Python and return ``hp.values`` (or what they would have built)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import optuna
import pytest

from hpo.errors import ConfigError
from hpo.models.keras_tuner import FIXED_ATTR, SUPPORTED, TrialHyperParameters, build_with_hp

optuna.logging.set_verbosity(optuna.logging.WARNING)

Build = Callable[[TrialHyperParameters], Any]


def _study() -> optuna.Study:
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))


def _run(fn: Build, n: int = 30, fixed: dict[str, Any] | None = None) -> list[tuple[Any, TrialHyperParameters, Any]]:
    """n trials of fn on one in-memory study: (what fn returned, its hp, the finished FrozenTrial)."""
    study = _study()
    out = []
    for _ in range(n):
        trial = study.ask()
        built, hp = build_with_hp(fn, trial, ref_text="tuned.py:build_model", fixed=fixed)
        hp.record(trial)
        study.tell(trial, 0.0)
        out.append((built, hp, study.trials[-1]))
    return out


def _error(call: Callable[[], Any]) -> str:
    with pytest.raises(ConfigError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- value types and ranges


def test_each_method_returns_typed_values_in_range_over_30_trials() -> None:
    def build(hp: TrialHyperParameters) -> dict[str, Any]:
        hp.Int("layers", 1, 10)
        hp.Int("n_layers", min_value=6, max_value=13, step=3)  # keras_tuner doc: 6, 9, 12
        hp.Float("rotation", 0, 1)
        hp.Float("dropout", min_value=0.0, max_value=1.0, step=0.2)
        hp.Choice("activation", ["relu", "tanh", "gelu"])
        hp.Choice("kernel", [3, 5, 7])
        hp.Choice("momentum", [0.0, 0.9])
        hp.Boolean("batch_norm")
        hp.Fixed("seed", 42)
        return hp.values

    runs = _run(build)
    seen: dict[str, set[Any]] = {}
    for values, hp, trial in runs:
        assert set(values) == {"layers", "n_layers", "rotation", "dropout", "activation", "kernel", "momentum",
                               "batch_norm", "seed"}
        assert type(values["layers"]) is int and 1 <= values["layers"] <= 10
        assert values["n_layers"] in {6, 9, 12} and type(values["n_layers"]) is int
        assert type(values["rotation"]) is float and 0.0 <= values["rotation"] <= 1.0
        assert any(math.isclose(values["dropout"], v) for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
        assert values["activation"] in {"relu", "tanh", "gelu"}
        assert type(values["kernel"]) is int and values["kernel"] in {3, 5, 7}
        assert type(values["momentum"]) is float and values["momentum"] in {0.0, 0.9}
        assert type(values["batch_norm"]) is bool
        assert values["seed"] == 42
        # everything but the Fixed one went through optuna; the Fixed one is on the trial as a user attr
        assert trial.params == {k: v for k, v in values.items() if k != "seed"}
        assert trial.user_attrs[FIXED_ATTR] == {"seed": 42}
        assert hp.fixed_values == {"seed": 42} and hp.inactive == []
        for k, v in values.items():
            seen.setdefault(k, set()).add(v)
    # it really samples: every tuned hyperparameter took more than one value
    assert all(len(seen[k]) > 1 for k in seen if k != "seed")
    assert seen["n_layers"] == {6, 9, 12} and seen["batch_norm"] == {False, True}

    dists = runs[0][2].distributions
    assert dists["layers"] == optuna.distributions.IntDistribution(1, 10, step=1)
    assert dists["n_layers"] == optuna.distributions.IntDistribution(6, 12, step=3)
    assert dists["dropout"] == optuna.distributions.FloatDistribution(0.0, 1.0, step=0.2)
    assert dists["batch_norm"] == optuna.distributions.CategoricalDistribution([False, True])


def test_log_sampling_is_log_uniform() -> None:
    def build(hp: TrialHyperParameters) -> dict[str, Any]:
        hp.Int("units", 1, 1024, sampling="log")
        hp.Int("units1", 1, 1024, step=1, sampling="LOG")  # step 1 is plain log; keras_tuner lower-cases
        hp.Float("lr", min_value=1e-5, max_value=1e-1, sampling="log")
        return hp.values

    runs = _run(build)
    dists = runs[0][2].distributions
    assert dists["units"] == optuna.distributions.IntDistribution(1, 1024, log=True)
    assert dists["units1"] == optuna.distributions.IntDistribution(1, 1024, log=True)
    assert dists["lr"] == optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True)
    lrs = [values["lr"] for values, _, _ in runs]
    assert all(1e-5 <= lr <= 1e-1 for lr in lrs)
    # log-uniform: about half below 1e-3 (a linear draw would put ~1% there)
    assert sum(lr < 1e-3 for lr in lrs) >= 8
    assert sum(values["units"] < 32 for values, _, _ in runs) >= 8


def test_log_sampling_with_a_step_multiplies_like_keras_tuner() -> None:
    def build(hp: TrialHyperParameters) -> dict[str, Any]:
        hp.Int("batch_size", min_value=2, max_value=32, step=2, sampling="log")  # 2, 4, 8, 16, 32
        hp.Int("filters", 3, 100, step=3, sampling="log")  # 3, 9, 27, 81: max not on the grid
        hp.Float("lr", min_value=0.001, max_value=10, step=10, sampling="log")  # 0.001 ... 10
        return hp.values

    runs = _run(build)
    dists = runs[0][2].distributions
    assert dists["batch_size"] == optuna.distributions.CategoricalDistribution([2, 4, 8, 16, 32])
    assert dists["filters"] == optuna.distributions.CategoricalDistribution([3, 9, 27, 81])
    assert dists["lr"] == optuna.distributions.CategoricalDistribution([0.001, 0.01, 0.1, 1.0, 10.0])
    for values, _, _ in runs:
        assert type(values["batch_size"]) is int and values["batch_size"] in {2, 4, 8, 16, 32}
        assert values["filters"] in {3, 9, 27, 81}
        assert type(values["lr"]) is float and values["lr"] in {0.001, 0.01, 0.1, 1.0, 10.0}
    assert len({values["batch_size"] for values, _, _ in runs}) >= 4


# ---------------------------------------------------------------- conditional scopes


def _nested(hp: TrialHyperParameters) -> dict[str, Any]:
    kind = hp.Choice("kind", ["a", "b"])
    with hp.conditional_scope("kind", "a"):  # a single value works like [value]
        depth = hp.Int("depth", 1, 3)
        with hp.conditional_scope("depth", [2, 3]):
            width = hp.Int("width", 8, 16)
            with hp.conditional_scope("width", list(range(8, 13))):
                narrow = hp.Boolean("narrow_bias")
    with hp.conditional_scope("kind", ["b"]):
        rate = hp.Float("rate", 0.0, 1.0)
    return {"kind": kind, "depth": depth, "width": width, "narrow_bias": narrow, "rate": rate}


def _expected_active(kind: str, depth: int | None, width: int | None) -> set[str]:
    if kind == "b":
        return {"kind", "rate"}
    active = {"kind", "depth"}
    if depth in (2, 3):
        active.add("width")
        if width is not None and width <= 12:
            active.add("narrow_bias")
    return active


def test_nested_conditional_scopes_suggest_only_the_active_branch() -> None:
    names = {"kind", "depth", "width", "narrow_bias", "rate"}
    branches = set()
    for built, hp, trial in _run(_nested, n=40):
        active = _expected_active(built["kind"], built["depth"], built["width"])
        assert set(trial.params) == active
        assert set(hp.values) == active
        assert sorted(hp.inactive) == sorted(names - active)
        for name in names:
            assert hp.is_active(name) is (name in active)
            assert (name in hp) is (name in active)
            # keras_tuner: an inactive hyperparameter returns None
            assert (built[name] is None) is (name not in active)
        if built["kind"] == "a":
            assert 1 <= built["depth"] <= 3
        branches.add(frozenset(active))
    # every branch of the tree was visited, the innermost included
    assert branches == {
        frozenset({"kind", "rate"}),
        frozenset({"kind", "depth"}),
        frozenset({"kind", "depth", "width"}),
        frozenset({"kind", "depth", "width", "narrow_bias"}),
    }


def test_parent_name_and_parent_values_keywords_are_a_one_off_scope() -> None:
    def build(hp: TrialHyperParameters) -> dict[str, Any]:
        opt = hp.Choice("optimizer", ["adam", "sgd"])
        momentum = hp.Float("momentum", 0.0, 0.99, parent_name="optimizer", parent_values=["sgd"])
        nesterov = hp.Boolean("nesterov", parent_name="optimizer", parent_values="sgd")
        epochs = hp.Int("epochs", 1, 5)  # after the one-off scope: unconditional again
        return {"optimizer": opt, "momentum": momentum, "nesterov": nesterov, "epochs": epochs}

    opts = set()
    for built, hp, trial in _run(build):
        opts.add(built["optimizer"])
        if built["optimizer"] == "sgd":
            assert set(trial.params) == {"optimizer", "momentum", "nesterov", "epochs"}
            assert 0.0 <= built["momentum"] <= 0.99 and type(built["nesterov"]) is bool
        else:
            assert set(trial.params) == {"optimizer", "epochs"}
            assert built["momentum"] is None and built["nesterov"] is None
            assert hp.inactive == ["momentum", "nesterov"]
        assert 1 <= built["epochs"] <= 5
    assert opts == {"adam", "sgd"}


def test_same_name_in_exclusive_scopes_is_two_hyperparameters() -> None:
    """keras_tuner identifies a hyperparameter by name and conditions: each branch may define its own range."""

    def build(hp: TrialHyperParameters) -> dict[str, Any]:
        model_type = hp.Choice("model_type", ["mlp", "cnn"])
        with hp.conditional_scope("model_type", ["mlp"]):
            mlp_units = hp.Int("units", 32, 64)
        with hp.conditional_scope("model_type", ["cnn"]):
            cnn_units = hp.Int("units", 1, 4)
        return {"model_type": model_type, "mlp": mlp_units, "cnn": cnn_units}

    for built, _, trial in _run(build):
        if built["model_type"] == "mlp":
            assert 32 <= built["mlp"] <= 64 and built["cnn"] is None
        else:
            assert 1 <= built["cnn"] <= 4 and built["mlp"] is None
        assert set(trial.params) == {"model_type", "units"}


def test_scopes_need_a_defined_parent_and_a_distinct_name() -> None:
    hp = TrialHyperParameters(_study().ask())
    message = _error(lambda: hp.conditional_scope("model_type", ["cnn"]).__enter__())
    assert message == ("model.keras_tuner: hp.conditional_scope('model_type', ['cnn']): parent hyperparameter "
                       "'model_type' is not defined yet; define it before its scope")
    message = _error(lambda: hp.Int("units", 1, 4, parent_name="model_type", parent_values=["cnn"]))
    assert message.startswith("model.keras_tuner: hp.Int('units'): parent hyperparameter 'model_type' is not defined")
    hp.Choice("model_type", ["mlp", "cnn"])
    assert "give both or neither" in _error(lambda: hp.Int("units", 1, 4, parent_name="model_type"))
    assert "give both or neither" in _error(lambda: hp.Int("units", 1, 4, parent_values=["cnn"]))
    assert "parent_values must not be empty" in _error(lambda: hp.conditional_scope("model_type", []).__enter__())
    with hp.conditional_scope("model_type", ["mlp", "cnn"]):
        message = _error(lambda: hp.Int("model_type", 1, 4))
    assert "hp.Int('model_type')" in message and "cannot have the name of its parent" in message
    # a failed scope or call leaves no condition behind
    assert hp.Int("after", 1, 4) in range(1, 5) and hp.is_active("after")


# ---------------------------------------------------------------- defaults mode


def test_defaults_mode_returns_keras_tuner_defaults() -> None:
    hp = TrialHyperParameters(None)
    assert hp.Int("a", 3, 9) == 3
    assert hp.Int("b", 3, 9, default=7) == 7
    assert hp.Int("c", 2, 32, step=2, sampling="log") == 2
    f = hp.Float("d", 1, 2)
    assert f == 1.0 and type(f) is float
    assert hp.Float("e", 1e-4, 1e-2, sampling="log", default=1e-3) == 1e-3
    assert hp.Choice("f", ["x", "y"]) == "x"
    assert hp.Choice("g", [1, 2, 3], default=2) == 2
    assert hp.Boolean("h") is False
    assert hp.Boolean("i", default=True) is True
    assert hp.Fixed("j", "adam") == "adam"
    with hp.conditional_scope("f", ["x"]):  # f's default 'x' makes this scope active
        assert hp.Int("k", 5, 6) == 5
    with hp.conditional_scope("f", ["y"]):
        assert hp.Int("l", 5, 6) is None
    assert hp.values == {"a": 3, "b": 7, "c": 2, "d": 1.0, "e": 1e-3, "f": "x", "g": 2, "h": False, "i": True,
                         "j": "adam", "k": 5}
    assert hp.fixed_values == {"j": "adam"}
    assert hp.inactive == ["l"]


def test_defaults_mode_runs_a_build_without_a_study() -> None:
    built, hp = build_with_hp(_nested, None, ref_text="tuned.py:build_model")
    assert built == {"kind": "a", "depth": 1, "width": None, "narrow_bias": None, "rate": None}
    assert hp.values == {"kind": "a", "depth": 1}
    assert hp.inactive == ["width", "narrow_bias", "rate"]


# ---------------------------------------------------------------- repeated names, overrides


def test_repeated_name_returns_the_same_value_and_a_new_range_is_an_error() -> None:
    def build(hp: TrialHyperParameters) -> tuple[Any, ...]:
        first = (hp.Int("units", 8, 64), hp.Float("lr", 1e-4, 1e-1, sampling="log"), hp.Choice("act", ["a", "b"]))
        again = (hp.Int("units", 8, 64, step=1), hp.Float("lr", 1e-4, 1e-1, sampling="log"),
                 hp.Choice("act", ["a", "b"], default="b"))  # a default is not part of the range
        return first, again

    for (first, again), hp, trial in _run(build, n=10):
        assert first == again
        assert trial.params == {"units": first[0], "lr": first[1], "act": first[2]} == hp.values

    hp = TrialHyperParameters(_study().ask())
    hp.Int("units", 8, 64)
    message = _error(lambda: hp.Int("units", 8, 128))
    assert message == ("model.keras_tuner: hp.Int('units'): already defined as Int(min_value=8, max_value=64, step=1, "
                       "sampling='linear'), now Int(min_value=8, max_value=128, step=1, sampling='linear'); "
                       "a name keeps one definition")
    assert "hp.Float('units'): already defined as Int(" in _error(lambda: hp.Float("units", 8, 64))
    hp.Choice("act", ["relu", "tanh"])
    assert "hp.Choice('act'): already defined as Choice(values=('relu', 'tanh'))" in _error(
        lambda: hp.Choice("act", ["relu", "gelu"]))
    hp.Fixed("seed", 1)
    assert "hp.Fixed('seed'): already defined" in _error(lambda: hp.Fixed("seed", 2))


def test_a_name_redefined_across_trials_is_a_config_error_naming_it() -> None:
    study = _study()
    first = TrialHyperParameters(study.ask())
    first.Choice("act", ["relu", "tanh"])
    later = TrialHyperParameters(study.ask())
    message = _error(lambda: later.Choice("act", ["relu", "gelu"]))
    assert message.startswith("model.keras_tuner: hp.Choice('act'): Choice(values=('relu', 'gelu')) refused by optuna:")


def test_fixed_overrides_are_returned_as_is_and_recorded_not_suggested() -> None:
    def build(hp: TrialHyperParameters) -> dict[str, Any]:
        model_type = hp.Choice("model_type", ["mlp", "cnn"])
        with hp.conditional_scope("model_type", ["mlp"]):
            units = hp.Int("units", 32, 512, step=32)
        with hp.conditional_scope("model_type", ["cnn"]):
            filters = hp.Int("filters", 16, 64)
        act = hp.Choice("activation", ["relu", "tanh"])
        seed = hp.Fixed("seed", 7)
        lr = hp.Float("lr", 1e-4, 1e-2, sampling="log")
        return {"model_type": model_type, "units": units, "filters": filters, "activation": act, "seed": seed,
                "lr": lr}

    fixed = {"model_type": "mlp", "units": 100, "activation": "gelu", "seed": 8}  # 100, gelu: not in the range
    for built, hp, trial in _run(build, n=10, fixed=fixed):
        assert built["model_type"] == "mlp" and built["units"] == 100 and built["activation"] == "gelu"
        assert built["seed"] == 8 and built["filters"] is None
        assert set(trial.params) == {"lr"}
        assert hp.values == {**fixed, "lr": built["lr"]}
        assert hp.fixed_values == fixed
        assert trial.user_attrs[FIXED_ATTR] == fixed
        assert hp.inactive == ["filters"]


def test_record_sets_nothing_without_fixed_values() -> None:
    study = _study()
    trial = study.ask()
    hp = TrialHyperParameters(trial)
    hp.Int("units", 1, 3)
    hp.record(trial)
    study.tell(trial, 0.0)
    assert study.trials[0].user_attrs == {}


def test_a_finished_trial_rebuilds_the_same_values() -> None:
    """hpo can rebuild a model (the best, an export) from a FrozenTrial or a FixedTrial."""
    for built, _, frozen in _run(_nested, n=10):
        again, hp = build_with_hp(_nested, frozen, ref_text="tuned.py:build_model")
        assert again == built
        fixed_trial, _ = build_with_hp(_nested, optuna.trial.FixedTrial(frozen.params), ref_text="tuned.py:b")
        assert fixed_trial == built
        assert hp.values == frozen.params


# ---------------------------------------------------------------- get, values, is_active


def test_get_values_and_is_active_follow_keras_tuner() -> None:
    hp = TrialHyperParameters(None, key="study.yaml: model.keras_tuner")
    hp.Choice("model_type", ["mlp", "cnn"])
    with hp.conditional_scope("model_type", ["cnn"]):
        hp.Int("filters", 16, 64)
    assert hp.get("model_type") == "mlp" and hp["model_type"] == "mlp"
    with pytest.raises(KeyError) as unknown:  # keras_tuner raises KeyError for unknown names ...
        hp.get("units")
    assert isinstance(unknown.value, ConfigError)
    assert str(unknown.value) == ("study.yaml: model.keras_tuner: hp.get('units'): no hyperparameter named 'units' "
                                  "is defined; defined: model_type, filters")
    with pytest.raises(ValueError) as inactive:  # ... and ValueError for inactive ones
        hp.get("filters")
    assert isinstance(inactive.value, ConfigError)
    assert str(inactive.value) == ("study.yaml: model.keras_tuner: hp.get('filters'): 'filters' is inactive "
                                   "(its conditional_scope does not hold)")
    assert hp.is_active("model_type") and not hp.is_active("filters") and not hp.is_active("nothing")

    class Named:
        name = "model_type"

    assert hp.is_active(Named())
    values = hp.values
    values["model_type"] = "cnn"  # a copy: the hp is unchanged
    assert hp.values == {"model_type": "mlp"} and "filters" not in hp and "model_type" in hp


# ---------------------------------------------------------------- unsupported API, bad arguments


@pytest.mark.parametrize(
    "attr", ["Discrete", "Range", "Linear", "merge", "name_scope", "space", "copy", "get_config", "from_config",
             "active_scopes", "inactive_scopes", "whatever"],
)
def test_unsupported_keras_tuner_api_is_a_one_line_config_error(attr: str) -> None:
    hp = TrialHyperParameters(None)
    message = _error(lambda: getattr(hp, attr))
    assert message == f"model.keras_tuner: hp.{attr} is not supported by hpo; supported: {SUPPORTED}"
    assert SUPPORTED == "Int, Float, Choice, Boolean, Fixed, conditional_scope, get, values, is_active"
    assert not hasattr(hp, attr)  # also an AttributeError: hasattr/getattr(default) keep working


def test_unsupported_api_inside_a_build_passes_through_with_the_study_key() -> None:
    def build(hp: TrialHyperParameters) -> Any:
        with hp.name_scope("block1"):
            return hp.Int("units", 1, 2)

    with pytest.raises(ConfigError) as info:
        build_with_hp(build, None, ref_text="tuned.py:build_model", key="s.yaml: model.keras_tuner")
    assert str(info.value) == ("s.yaml: model.keras_tuner: hp.name_scope is not supported by hpo; "
                               f"supported: {SUPPORTED}")


BAD_ARGUMENTS: list[tuple[str, Callable[[TrialHyperParameters], Any], str]] = [
    ("int min > max", lambda hp: hp.Int("units", 64, 8), "hp.Int('units'): min_value 64 is greater than max_value 8"),
    ("float min > max", lambda hp: hp.Float("lr", 1.0, 0.1), "hp.Float('lr'): min_value 1.0 is greater than max_value"),
    ("int not an int", lambda hp: hp.Int("units", 1.5, 8),  # type: ignore[arg-type]
     "hp.Int('units'): min_value must be an int, got 1.5"),
    ("int step 0", lambda hp: hp.Int("units", 1, 8, step=0), "hp.Int('units'): step must be > 0, got 0"),
    ("float step < 0", lambda hp: hp.Float("lr", 0, 1, step=-0.1), "hp.Float('lr'): step must be > 0, got -0.1"),
    ("float not a number", lambda hp: hp.Float("lr", "a", 1),  # type: ignore[arg-type]
     "hp.Float('lr'): min_value must be a finite number"),
    ("unknown sampling", lambda hp: hp.Int("units", 1, 8, sampling="cubic"),
     "hp.Int('units'): sampling must be 'linear' or 'log', got 'cubic'"),
    ("reverse_log", lambda hp: hp.Float("lr", 1e-4, 1, sampling="reverse_log"),
     "hp.Float('lr'): sampling='reverse_log' is not supported by hpo; use 'linear' or 'log'"),
    ("log from 0", lambda hp: hp.Float("lr", 0.0, 1.0, sampling="log"),
     "hp.Float('lr'): sampling='log' needs min_value > 0, got 0.0"),
    ("log step 1.0", lambda hp: hp.Float("lr", 1e-4, 1.0, step=1.0, sampling="log"),
     "hp.Float('lr'): sampling='log' multiplies by step, so step must be > 1, got 1.0"),
    ("empty choices", lambda hp: hp.Choice("act", []), "hp.Choice('act'): values must not be empty"),
    ("mixed choices", lambda hp: hp.Choice("act", ["relu", 1]), "hp.Choice('act'): values must all be one type"),
    ("choices a string", lambda hp: hp.Choice("act", "relu"), "hp.Choice('act'): values must be a list, got str"),
    ("choice of None", lambda hp: hp.Choice("act", [None]), "hp.Choice('act'): values must be str, int, float or bool"),
    ("choice default", lambda hp: hp.Choice("act", ["relu"], default="tanh"),
     "hp.Choice('act'): default 'tanh' is not one of values ['relu']"),
    ("ordered strings", lambda hp: hp.Choice("act", ["a", "b"], ordered=True),
     "hp.Choice('act'): ordered=True needs int or float values"),
    ("boolean default", lambda hp: hp.Boolean("bn", default="yes"),  # type: ignore[arg-type]
     "hp.Boolean('bn'): default must be True or False, got 'yes'"),
    ("fixed list", lambda hp: hp.Fixed("shape", [1, 2]), "hp.Fixed('shape'): value must be an int, float, str or bool"),
]


@pytest.mark.parametrize(("case", "call", "expected"), BAD_ARGUMENTS, ids=[case for case, _, _ in BAD_ARGUMENTS])
def test_bad_arguments_are_one_line_config_errors_naming_the_hyperparameter(
    case: str, call: Callable[[TrialHyperParameters], Any], expected: str
) -> None:
    for trial in (None, _study().ask()):
        hp = TrialHyperParameters(trial)
        message = _error(functools.partial(call, hp))
        assert message.startswith("model.keras_tuner: "), case
        assert expected in message, message
        assert hp.values == {}


# ---------------------------------------------------------------- build_with_hp


def test_build_with_hp_turns_user_errors_into_one_line_config_errors() -> None:
    def build(hp: TrialHyperParameters) -> Any:
        units = hp.Int("units", 1, 4)
        raise ValueError(f"Negative dimension size\ncaused by units={units}")

    with pytest.raises(ConfigError) as info:
        build_with_hp(build, None, ref_text="tuned.py:build_model")
    assert str(info.value) == ("model.keras_tuner: tuned.py:build_model raised ValueError: "
                               "Negative dimension size caused by units=1")
    assert isinstance(info.value.__cause__, ValueError)

    def no_message(hp: TrialHyperParameters) -> Any:
        raise RuntimeError()

    with pytest.raises(ConfigError) as info:
        build_with_hp(no_message, None, ref_text="tuned.py:build_model", key="k")
    assert str(info.value) == "k: tuned.py:build_model raised RuntimeError"


def test_build_with_hp_lets_pruning_and_hpo_errors_through_unchanged() -> None:
    pruned = optuna.TrialPruned("not now")
    own = ConfigError("model.keras_tuner: something hpo said")

    def prune(hp: TrialHyperParameters) -> Any:
        raise pruned

    def config(hp: TrialHyperParameters) -> Any:
        raise own

    with pytest.raises(optuna.TrialPruned) as p:
        build_with_hp(prune, None, ref_text="tuned.py:build_model")
    assert p.value is pruned
    with pytest.raises(ConfigError) as c:
        build_with_hp(config, None, ref_text="tuned.py:build_model")
    assert c.value is own


# ---------------------------------------------------------------- a keras_tuner docs style build


def build_model(hp: TrialHyperParameters) -> dict[str, Any]:
    """As in the keras_tuner docs (model selection with conditional_scope), returning a layer list, not a model."""
    layers: list[tuple[Any, ...]] = [("input", (32, 32, 3))]
    model_type = hp.Choice("model_type", ["mlp", "cnn"])
    with hp.conditional_scope("model_type", ["mlp"]):
        if model_type == "mlp":
            layers.append(("flatten",))
            layers.append(("dense", hp.Int("units", min_value=32, max_value=512, step=32),
                           hp.Choice("activation", ["relu", "tanh"])))
    with hp.conditional_scope("model_type", ["cnn"]):
        # called whatever model_type is: inactive here returns None and is not sampled
        filters = hp.Int("filters", 16, 64, step=16)
        kernel = hp.Choice("kernel_size", [3, 5])
        if model_type == "cnn":
            layers.append(("conv2d", filters, kernel, "relu"))
            layers.append(("global_average_pooling2d",))
    if hp.Boolean("dropout"):
        layers.append(("dropout", 0.25))
    layers.append(("dense", 10, "softmax"))
    learning_rate = hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
    return {"layers": layers, "optimizer": ("adam", learning_rate)}


def test_a_keras_tuner_docs_build_model_runs_and_trials_hold_exactly_the_active_set() -> None:
    runs = _run(build_model, n=10)
    seen = set()
    for built, hp, trial in runs:
        model_type = trial.params["model_type"]
        seen.add(model_type)
        branch = {"units", "activation"} if model_type == "mlp" else {"filters", "kernel_size"}
        assert set(trial.params) == {"model_type", "dropout", "lr"} | branch
        assert trial.params == hp.values
        assert sorted(hp.inactive) == sorted({"filters", "kernel_size"} if model_type == "mlp" else set())
        kinds = [layer[0] for layer in built["layers"]]
        assert ("dense" in kinds[:-1]) is (model_type == "mlp") and ("conv2d" in kinds) is (model_type == "cnn")
        assert ("dropout" in kinds) is trial.params["dropout"]
        if model_type == "mlp":
            assert trial.params["units"] % 32 == 0 and 32 <= trial.params["units"] <= 512
            assert trial.params["activation"] in {"relu", "tanh"}
        else:
            assert trial.params["filters"] in {16, 32, 48, 64} and trial.params["kernel_size"] in {3, 5}
        assert built["optimizer"] == ("adam", trial.params["lr"]) and 1e-4 <= trial.params["lr"] <= 1e-2
    assert seen == {"mlp", "cnn"}
    # the defaults-mode build (keras_tuner's first build) is an mlp of 32 relu units, no dropout
    defaults, _ = build_with_hp(build_model, None, ref_text="tuned.py:build_model")
    assert defaults["layers"] == [("input", (32, 32, 3)), ("flatten",), ("dense", 32, "relu"), ("dense", 10, "softmax")]
    assert defaults["optimizer"] == ("adam", 1e-4)
