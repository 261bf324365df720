"""Study files: YAML -> a frozen, validated ``StudySpec``; and ``suggest(trial, spec)``.

The whole file is validated before anything touches the database, and every
problem is reported with the file name and the key path, one line each
(``search_spaces/keypoints.yaml: params.dropout.high: must be > low``).
Imports no TensorFlow: ``hpo create``/``export``/``status`` stay fast.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hpo.errors import SpecError

if TYPE_CHECKING:
    import optuna

Scalar = str | int | float | bool | None

# What each task can optimise, and in which direction (the metric names Keras logs).
TASK_METRICS: dict[str, dict[str, str]] = {
    "keypoints": {"val_rmse": "minimize", "val_loss": "minimize"},
    "classification": {"val_accuracy": "maximize", "val_loss": "minimize"},
}
# Which data formats feed which task; the first is the default when `data.format` is absent.
TASK_FORMATS: dict[str, tuple[str, ...]] = {
    "keypoints": ("kaggle_keypoints",),
    "classification": ("digits", "lfw_subset", "fer2013"),
}
FILE_FORMATS = frozenset({"kaggle_keypoints", "fer2013"})  # these need data.path

ACTIVATIONS = ("relu", "elu", "selu", "tanh", "gelu", "swish", "leaky_relu")
OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "sgd")

# The model vocabulary (hpo.model reads exactly these) with the value used when a
# study neither searches nor fixes a parameter.
MODEL_DEFAULTS: dict[str, Scalar] = {
    "conv_blocks": 3,
    "filters": 32,
    "filter_growth": 2,  # filters multiply by this each block: 32 -> 64 -> 128
    "kernel_size": 3,
    "activation": "relu",
    "batch_norm": False,
    "conv_dropout": 0.0,
    "hidden_units": 128,
    "dense_layers": 1,
    "dropout": 0.0,
    "optimizer": "adam",
    "learning_rate": 1.0e-3,
    "momentum": 0.0,
    "batch_size": 32,
}

# Legal values of each model parameter: (low, high, low inclusive, high inclusive) or a set.
_NUMERIC_DOMAINS: dict[str, tuple[float, float, bool, bool]] = {
    "conv_blocks": (1, 8, True, True),
    "filters": (1, 4096, True, True),
    "filter_growth": (1, 4, True, True),
    "kernel_size": (1, 15, True, True),
    "conv_dropout": (0.0, 1.0, True, False),
    "hidden_units": (1, 65536, True, True),
    "dense_layers": (0, 8, True, True),
    "dropout": (0.0, 1.0, True, False),
    "learning_rate": (0.0, 10.0, False, True),
    "momentum": (0.0, 1.0, True, False),
    "batch_size": (1, 65536, True, True),
}
_CHOICE_DOMAINS: dict[str, tuple[Scalar, ...]] = {
    "activation": ACTIVATIONS,
    "optimizer": OPTIMIZERS,
    "batch_norm": (True, False),
}
_INT_PARAMS = frozenset(
    {"conv_blocks", "filters", "kernel_size", "hidden_units", "dense_layers", "batch_size"}
)

SAMPLER_OPTIONS: dict[str, frozenset[str]] = {
    "tpe": frozenset({"seed", "n_startup_trials", "multivariate", "constant_liar", "n_ei_candidates"}),
    "random": frozenset({"seed"}),
    "gp": frozenset({"seed", "n_startup_trials", "deterministic_objective"}),
    "cmaes": frozenset({"seed", "n_startup_trials", "sigma0", "warn_independent_sampling"}),
    "grid": frozenset({"seed"}),
}
_PRUNER_COMMON = frozenset({"n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"})
PRUNER_OPTIONS: dict[str, frozenset[str]] = {
    "median": _PRUNER_COMMON,
    "percentile": _PRUNER_COMMON | {"percentile"},
    "successive_halving": frozenset(
        {"min_resource", "reduction_factor", "min_early_stopping_rate", "bootstrap_count"}
    ),
    "hyperband": frozenset({"min_resource", "max_resource", "reduction_factor", "bootstrap_count"}),
    "none": frozenset(),
}

# Type and lower bound of each sampler option ("bool" for flags).
_SAMPLER_OPTION_TYPES: dict[str, tuple[str, float]] = {
    "seed": ("int", 0), "n_startup_trials": ("int", 0), "n_ei_candidates": ("int", 1),
    "multivariate": ("bool", 0), "constant_liar": ("bool", 0), "deterministic_objective": ("bool", 0),
    "warn_independent_sampling": ("bool", 0), "sigma0": ("float", 0),
}
MAX_SEED = 2**31 - 1
MAX_GRID_POINTS = 100_000

_TOP_KEYS = ("name", "description", "task", "data", "objective", "budget", "sampler", "pruner",
             "params", "baselines")
_DATA_KEYS = ("format", "path", "validation_fraction", "missing_keypoints", "augment", "limit",
              "seed")
_PARAM_KEYS = {
    "int": ("type", "low", "high", "step", "log", "when"),
    "float": ("type", "low", "high", "step", "log", "when"),
    "categorical": ("type", "choices", "when"),
}


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: searched (int/float/categorical) or fixed (a plain value in the file)."""

    name: str
    type: str  # int | float | categorical | fixed
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Scalar, ...] = ()
    value: Scalar = None  # for fixed params
    when: tuple[tuple[str, tuple[Scalar, ...]], ...] = ()  # suggested only if all hold

    def distribution(self) -> optuna.distributions.BaseDistribution:
        import optuna

        if self.type == "int":
            assert self.low is not None and self.high is not None
            return optuna.distributions.IntDistribution(
                int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        if self.type == "float":
            assert self.low is not None and self.high is not None
            return optuna.distributions.FloatDistribution(
                self.low, self.high, log=self.log, step=self.step
            )
        if self.type == "categorical":
            return optuna.distributions.CategoricalDistribution(self.choices)
        raise ValueError(f"fixed parameter {self.name} has no distribution")

    def contains(self, value: Any) -> bool:
        if self.type == "fixed":
            return bool(value == self.value)
        if self.type == "categorical":
            return any(_same(value, c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.type == "int" and not float(value).is_integer():
            return False
        assert self.low is not None and self.high is not None
        return self.low <= value <= self.high


@dataclass(frozen=True)
class StudySpec:
    """A validated study file. ``to_dict()`` is what gets pinned in the study."""

    name: str
    task: str
    data: Mapping[str, Any]
    metric: str
    direction: str
    trials: int
    max_epochs: int
    sampler: Mapping[str, Any]
    pruner: Mapping[str, Any]
    params: tuple[ParamSpec, ...]
    baselines: tuple[Mapping[str, Scalar], ...]
    description: str = ""
    source: str = field(default="<spec>", compare=False)

    def to_dict(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for p in self.params:
            if p.type == "fixed":
                params[p.name] = p.value
                continue
            d: dict[str, Any] = {"type": p.type}
            if p.type == "categorical":
                d["choices"] = list(p.choices)
            else:
                d.update(low=p.low, high=p.high)
                if p.step is not None:
                    d["step"] = p.step
                if p.log:
                    d["log"] = True
            if p.when:
                d["when"] = {k: list(v) for k, v in p.when}
            params[p.name] = d
        return {
            "name": self.name,
            "description": self.description,
            "task": self.task,
            "data": _plain(self.data),
            "objective": {"metric": self.metric, "direction": self.direction},
            "budget": {"trials": self.trials, "max_epochs": self.max_epochs},
            "sampler": _plain(self.sampler),
            "pruner": _plain(self.pruner),
            "params": params,
            "baselines": [dict(b) for b in self.baselines],
        }

    @property
    def sha256(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def searched(self) -> tuple[ParamSpec, ...]:
        return tuple(p for p in self.params if p.type != "fixed")

    @property
    def fixed(self) -> dict[str, Scalar]:
        return {p.name: p.value for p in self.params if p.type == "fixed"}

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)


def _plain(value: Any) -> Any:
    """Mappings -> dicts, recursively, so specs serialise to JSON the same way every time."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    # YAML `true` must not match a choice of 1, nor 1 match True.
    return type(a) is type(b) and a == b or (
        isinstance(a, int | float) and isinstance(b, int | float)
        and not isinstance(a, bool) and not isinstance(b, bool) and a == b
    )


# ---------------------------------------------------------------- loading


def load_spec(path: str | Path, *, expected_name: str | None = None) -> StudySpec:
    """Read and validate a study file; raise ``SpecError`` listing every problem."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise SpecError(f"{source}: no such study file; create it or pass --space FILE") from e
    except OSError as e:
        raise SpecError(f"{source}: cannot read: {e.strerror}") from e
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"{source}: {where}malformed YAML: {problem}") from e
    return spec_from_dict(raw, source=source, default_name=path.stem, expected_name=expected_name)


def spec_from_dict(
    raw: Any,
    *,
    source: str = "<spec>",
    default_name: str | None = None,
    expected_name: str | None = None,
) -> StudySpec:
    """Validate a parsed study file (also used to re-read the spec pinned in a study)."""
    v = _Validator(source)
    spec = v.study(raw, default_name, expected_name)
    if v.problems:
        raise SpecError("\n".join(v.problems))
    assert spec is not None
    return spec


class _Validator:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self.declared: set[str] = set()  # params named in the file, valid or not

    def bad(self, key: str, message: str) -> None:
        self.problems.append(f"{self.source}: {key}: {message}" if key else f"{self.source}: {message}")

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...] | frozenset[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.bad(key, f"must be a mapping, got {type(value).__name__}")
            return {}
        for k in value:
            if k not in allowed:
                self.bad(f"{key}.{k}" if key else str(k),
                         f"unknown key; expected one of: {', '.join(sorted(allowed))}")
        return {k: v for k, v in value.items() if k in allowed}

    def number(self, value: Any, key: str, *, integer: bool = False) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            hint = ""
            if isinstance(value, str):
                try:
                    hint = f" (YAML reads {value} as text; write it as {float(value)!r})"
                except ValueError:
                    pass
            self.bad(key, f"must be a{'n integer' if integer else ' number'}, got {value!r}{hint}")
            return None
        if integer and not float(value).is_integer():
            self.bad(key, f"must be an integer, got {value!r}")
            return None
        return int(value) if integer else float(value)

    def choice(self, value: Any, key: str, allowed: tuple[str, ...] | list[str]) -> str | None:
        if value not in allowed:
            self.bad(key, f"unknown value {value!r}; expected one of: {', '.join(allowed)}")
            return None
        return str(value)

    # -- sections

    def study(self, raw: Any, default_name: str | None, expected_name: str | None) -> StudySpec | None:
        if not isinstance(raw, Mapping):
            self.bad("", "must be a YAML mapping of name, task, data, objective, budget, "
                         "sampler, pruner, params")
            return None
        top = self.mapping(raw, "", _TOP_KEYS)
        name = top.get("name", default_name)
        if not isinstance(name, str) or not name.strip():
            self.bad("name", "must be a non-empty string")
            name = ""
        elif expected_name is not None and name != expected_name:
            self.bad("name", f"is {name!r} but the study is {expected_name!r}; make them agree")
        task = top.get("task")
        if task is None:
            self.bad("task", f"missing; expected one of: {', '.join(TASK_METRICS)}")
        else:
            task = self.choice(task, "task", list(TASK_METRICS))
        data = self.data(top.get("data"), task)
        metric, direction = self.objective(top.get("objective"), task)
        trials, max_epochs = self.budget(top.get("budget"))
        params = self.params(top.get("params"))
        sampler = self.sampler(top.get("sampler"), params)
        pruner = self.pruner(top.get("pruner"), max_epochs)
        baselines = self.baselines(top.get("baselines"), params)
        if len(baselines) > trials:
            self.bad("baselines", f"{len(baselines)} baselines but budget.trials is {trials}; "
                                  "raise the budget or drop some")
        description = top.get("description", "")
        if not isinstance(description, str):
            self.bad("description", "must be a string")
        if self.problems or task is None:
            return None
        return StudySpec(
            name=name, task=task, data=data, metric=metric, direction=direction, trials=trials,
            max_epochs=max_epochs, sampler=sampler, pruner=pruner, params=params,
            baselines=baselines, description=str(description), source=self.source,
        )

    def data(self, raw: Any, task: str | None) -> dict[str, Any]:
        if raw is None:
            self.bad("data", "missing; give at least data.format or data.path")
            return {}
        d = self.mapping(raw, "data", _DATA_KEYS)
        formats = TASK_FORMATS.get(task or "", ())
        fmt = d.get("format", formats[0] if formats else None)
        if task is not None and fmt not in formats:
            self.bad("data.format", f"unknown format {fmt!r} for task {task}; "
                                    f"expected one of: {', '.join(formats)}")
        out: dict[str, Any] = {"format": fmt}
        if "path" in d:
            if not isinstance(d["path"], str) or not d["path"]:
                self.bad("data.path", "must be a file path string")
            out["path"] = d["path"]
        elif fmt in FILE_FORMATS:
            self.bad("data.path", f"missing; format {fmt} reads a file")
        vf = d.get("validation_fraction", 0.2)
        num = self.number(vf, "data.validation_fraction")
        if num is not None and not 0.0 < num < 1.0:
            self.bad("data.validation_fraction", f"must be between 0 and 1 (exclusive), got {vf}")
        out["validation_fraction"] = num
        if task == "keypoints":
            out["missing_keypoints"] = self.choice(
                d.get("missing_keypoints", "mask"), "data.missing_keypoints", ["mask", "drop"]
            )
        elif "missing_keypoints" in d:
            self.bad("data.missing_keypoints", "only applies to task keypoints; remove it")
        aug = self.mapping(d.get("augment"), "data.augment", ("horizontal_flip",))
        flip = aug.get("horizontal_flip", False)
        if not isinstance(flip, bool):
            self.bad("data.augment.horizontal_flip", "must be true or false")
        out["augment"] = {"horizontal_flip": flip}
        if "limit" in d:
            limit = self.number(d["limit"], "data.limit", integer=True)
            if limit is not None and limit < 10:
                self.bad("data.limit", "must be >= 10 rows")
            out["limit"] = limit
        seed = self.number(d.get("seed", 0), "data.seed", integer=True)
        if seed is not None and not 0 <= seed <= MAX_SEED:
            self.bad("data.seed", f"must be between 0 and {MAX_SEED}")
        out["seed"] = seed
        return out

    def objective(self, raw: Any, task: str | None) -> tuple[str, str]:
        o = self.mapping(raw, "objective", ("metric", "direction"))
        if raw is None:
            self.bad("objective", "missing; give objective.metric and objective.direction")
            return "", ""
        metrics = TASK_METRICS.get(task or "", {})
        metric = o.get("metric")
        if metric is None:
            self.bad("objective.metric", "missing")
            return "", ""
        if task is not None and metric not in metrics:
            self.bad("objective.metric", f"unknown metric {metric!r} for task {task}; "
                                         f"expected one of: {', '.join(metrics)}")
            return str(metric), ""
        natural = metrics.get(metric, "minimize")
        direction = o.get("direction", natural)
        if self.choice(direction, "objective.direction", ["minimize", "maximize"]) and (
            task is not None and direction != natural
        ):
            self.bad("objective.direction", f"{metric} should be {natural}d, not {direction}d")
        return str(metric), str(direction)

    def budget(self, raw: Any) -> tuple[int, int]:
        b = self.mapping(raw, "budget", ("trials", "max_epochs"))
        values = []
        for key, default in (("trials", 50), ("max_epochs", 20)):
            n = self.number(b.get(key, default), f"budget.{key}", integer=True)
            if n is not None and n < 1:
                self.bad(f"budget.{key}", f"must be >= 1, got {n}")
            values.append(int(n or 1))
        return values[0], values[1]

    def sampler(self, raw: Any, params: tuple[ParamSpec, ...]) -> dict[str, Any]:
        s = dict(raw) if isinstance(raw, Mapping) else {"type": "tpe"} if raw is None else raw
        if not isinstance(s, Mapping):
            self.bad("sampler", "must be a mapping like {type: tpe, seed: 0}")
            return {}
        kind = self.choice(s.get("type", "tpe"), "sampler.type", list(SAMPLER_OPTIONS))
        if kind is None:
            return {}
        out = {"type": kind, **self.mapping({k: v for k, v in s.items() if k != "type"},
                                            "sampler", SAMPLER_OPTIONS[kind])}
        for key, value in out.items():
            if key == "type":
                continue
            kind_of, floor = _SAMPLER_OPTION_TYPES[key]
            if kind_of == "bool":
                if not isinstance(value, bool):
                    self.bad(f"sampler.{key}", f"must be true or false, got {value!r}")
                continue
            n = self.number(value, f"sampler.{key}", integer=kind_of == "int")
            if n is not None and (n < floor or (key == "sigma0" and n <= 0)):
                self.bad(f"sampler.{key}", f"must be {'> 0' if key == 'sigma0' else f'>= {floor:g}'}, got {n:g}")
            if key == "seed" and n is not None and n > MAX_SEED:
                self.bad("sampler.seed", f"must be <= {MAX_SEED}")
        if kind == "grid":
            size = 1
            for p in params:
                if p.type == "float" and p.step is None:
                    self.bad(f"params.{p.name}", "the grid sampler needs a step on float params")
                elif p.type == "categorical":
                    size *= len(p.choices)
                elif p.type in ("int", "float") and p.low is not None and p.high is not None:
                    size *= int((p.high - p.low) // (p.step or 1)) + 1
            if size > MAX_GRID_POINTS:
                self.bad("sampler.type", f"grid of {size} points is too large (max {MAX_GRID_POINTS}); "
                                         "use fewer values or another sampler")
        return out

    def pruner(self, raw: Any, max_epochs: int) -> dict[str, Any]:
        p = dict(raw) if isinstance(raw, Mapping) else {"type": "median"} if raw is None else raw
        if not isinstance(p, Mapping):
            self.bad("pruner", "must be a mapping like {type: hyperband, min_resource: 2}")
            return {}
        kind = self.choice(p.get("type", "median"), "pruner.type", list(PRUNER_OPTIONS))
        if kind is None:
            return {}
        opts = self.mapping({k: v for k, v in p.items() if k != "type"}, "pruner",
                            PRUNER_OPTIONS[kind])
        for key, val in opts.items():
            if key == "percentile":
                continue
            n = self.number(val, f"pruner.{key}", integer=True)
            floor = 2 if key == "reduction_factor" else 1 if key in (
                "min_resource", "max_resource", "interval_steps", "n_min_trials") else 0
            if n is not None and n < floor:
                self.bad(f"pruner.{key}", f"must be >= {floor}, got {n}")
        if kind == "percentile":
            pct = self.number(opts.get("percentile"), "pruner.percentile")
            if pct is not None and not 0.0 < pct < 100.0:
                self.bad("pruner.percentile", f"must be between 0 and 100, got {pct}")
        if kind == "successive_halving" and opts.get("bootstrap_count") and "min_resource" not in opts:
            self.bad("pruner.bootstrap_count", "needs an explicit pruner.min_resource")
        if kind == "hyperband" and isinstance(opts.get("max_resource"), int) and (
            opts["max_resource"] > max_epochs
        ):
            self.bad("pruner.max_resource", f"must be <= budget.max_epochs ({max_epochs})")
        return {"type": kind, **opts}

    def params(self, raw: Any) -> tuple[ParamSpec, ...]:
        if not isinstance(raw, Mapping) or not raw:
            self.bad("params", "missing or empty; declare at least one parameter to search")
            return ()
        specs: list[ParamSpec] = []
        self.declared = {str(n) for n in raw}
        for name, body in raw.items():
            key = f"params.{name}"
            if name not in MODEL_DEFAULTS:
                self.bad(key, f"unknown parameter; the model understands: {', '.join(MODEL_DEFAULTS)}")
                continue
            spec = self.param(str(name), body, key)
            if spec is not None:
                specs.append(spec)
        by_name = {p.name: p for p in specs}
        for p in specs:
            for cond, values in p.when:
                parent = by_name.get(cond)
                where = f"params.{p.name}.when.{cond}"
                if parent is None and cond in self.declared:
                    continue  # already reported where it is declared
                if parent is None:
                    self.bad(where, "refers to an unknown parameter; condition on a declared one")
                elif parent.when:
                    self.bad(where, "conditions on a conditional parameter; nest one level only")
                elif parent.type != "categorical":
                    self.bad(where, "must refer to a categorical parameter")
                else:
                    for val in values:
                        if not parent.contains(val):
                            self.bad(where, f"{val!r} is not among {cond}'s choices")
        return tuple(specs)

    def param(self, name: str, body: Any, key: str) -> ParamSpec | None:
        if not isinstance(body, Mapping):
            if body is not None and not isinstance(body, str | int | float | bool):
                self.bad(key, "must be a mapping with a type, or a plain value to fix it")
                return None
            fixed = ParamSpec(name=name, type="fixed", value=body)
            self.domain(fixed, key, [body])
            return fixed
        kind = body.get("type")
        if kind not in _PARAM_KEYS:
            self.bad(f"{key}.type", f"unknown type {kind!r}; expected one of: int, float, categorical")
            return None
        body = self.mapping(body, key, _PARAM_KEYS[kind])
        when = self.when(body.get("when"), f"{key}.when")
        if kind == "categorical":
            choices = body.get("choices")
            if not isinstance(choices, list) or not choices:
                self.bad(f"{key}.choices", "must be a non-empty list")
                return None
            if any(isinstance(c, Mapping | list) for c in choices):
                self.bad(f"{key}.choices", "must be plain values (numbers, strings, booleans)")
                return None
            if len({json.dumps(c) for c in choices}) != len(choices):
                self.bad(f"{key}.choices", "has duplicates")
            spec = ParamSpec(name=name, type="categorical", choices=tuple(choices), when=when)
            self.domain(spec, f"{key}.choices", list(choices))
            return spec
        integer = kind == "int"
        if "low" not in body or "high" not in body:
            self.bad(key, "needs both low and high")
            return None
        low = self.number(body["low"], f"{key}.low", integer=integer)
        high = self.number(body["high"], f"{key}.high", integer=integer)
        log = body.get("log", False)
        if not isinstance(log, bool):
            self.bad(f"{key}.log", "must be true or false")
            log = False
        step = None
        if "step" in body:
            step = self.number(body["step"], f"{key}.step", integer=integer)
            if step is not None and step <= 0:
                self.bad(f"{key}.step", "must be > 0")
            if log:
                self.bad(f"{key}.step", "cannot be combined with log: true")
        if low is None or high is None:
            return None
        if high <= low:
            self.bad(f"{key}.high", "must be > low")
            return None
        if log and low <= 0:
            self.bad(f"{key}.low", "must be > 0 when log: true")
        spec = ParamSpec(name=name, type=kind, low=low, high=high, step=step, log=log, when=when)
        self.domain(spec, key, [low, high])
        return spec

    def when(self, raw: Any, key: str) -> tuple[tuple[str, tuple[Scalar, ...]], ...]:
        if raw is None:
            return ()
        if not isinstance(raw, Mapping) or not raw:
            self.bad(key, "must be a mapping like {optimizer: sgd}")
            return ()
        return tuple(
            (str(k), tuple(v) if isinstance(v, list) else (v,)) for k, v in raw.items()
        )

    def domain(self, spec: ParamSpec, key: str, values: list[Any]) -> None:
        """Check that the values a parameter can take make sense to the model."""
        name = spec.name
        if name in _CHOICE_DOMAINS:
            allowed = _CHOICE_DOMAINS[name]
            if spec.type in ("int", "float"):
                self.bad(key, f"{name} must be categorical or fixed")
            for v in values:
                if not any(_same(v, a) for a in allowed):
                    self.bad(key, f"{v!r} is not a valid {name}; expected one of: "
                                  f"{', '.join(map(str, allowed))}")
            return
        lo, hi, lo_in, hi_in = _NUMERIC_DOMAINS[name]
        if name in _INT_PARAMS and spec.type == "float":
            self.bad(f"{key}.type", f"{name} takes whole numbers; use type: int")
        for v in values:
            ok = (
                isinstance(v, int | float) and not isinstance(v, bool)
                and (lo <= v if lo_in else lo < v) and (v <= hi if hi_in else v < hi)
                and (name not in _INT_PARAMS or float(v).is_integer())
            )
            if not ok:
                self.bad(key, f"{v!r} is out of range for {name}: must be in "
                              f"{'[' if lo_in else '('}{lo:g}, {hi:g}{']' if hi_in else ')'}")

    def baselines(self, raw: Any, params: tuple[ParamSpec, ...]) -> tuple[dict[str, Scalar], ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.bad("baselines", "must be a list of parameter mappings")
            return ()
        by_name = {p.name: p for p in params}
        out = []
        for i, base in enumerate(raw):
            key = f"baselines[{i}]"
            if not isinstance(base, Mapping):
                self.bad(key, "must be a mapping of parameter values")
                continue
            for name, value in base.items():
                p = by_name.get(name)
                if p is None and name in self.declared:
                    continue  # already reported where it is declared
                if p is None:
                    self.bad(f"{key}.{name}", "is not a parameter of this study; declare it in params")
                elif not p.contains(value):
                    self.bad(f"{key}.{name}", f"{value!r} is outside the parameter's range")
            out.append(dict(base))
        return tuple(out)


# ---------------------------------------------------------------- sampling


def active(param: ParamSpec, values: Mapping[str, Any]) -> bool:
    """Whether a conditional parameter applies, given the values chosen so far."""
    return all(any(_same(values.get(k), v) for v in vs) for k, vs in param.when)


def suggest(trial: optuna.trial.BaseTrial, spec: StudySpec) -> dict[str, Any]:
    """All model parameters for one trial: searched ones from the trial, fixed ones, defaults."""
    values: dict[str, Any] = dict(MODEL_DEFAULTS)
    values.update(spec.fixed)
    # Unconditional parameters first, so a `when` can see the value it depends on.
    for p in sorted(spec.searched, key=lambda p: bool(p.when)):
        if not active(p, values):
            continue
        if p.type == "categorical":
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))  # type: ignore[arg-type]
        elif p.type == "int":
            assert p.low is not None and p.high is not None
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high),
                                               step=int(p.step or 1), log=p.log)
        else:
            assert p.low is not None and p.high is not None
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)
    return values


def grid_search_space(spec: StudySpec) -> dict[str, list[Any]]:
    """The grid for optuna's GridSampler: every value each searched parameter can take."""
    import numpy as np

    grid: dict[str, list[Any]] = {}
    for p in spec.searched:
        if p.type == "categorical":
            grid[p.name] = list(p.choices)
        else:
            assert p.low is not None and p.high is not None
            step = p.step or 1
            grid[p.name] = [
                int(v) if p.type == "int" else float(v)
                for v in np.arange(p.low, p.high + step / 2, step)
            ]
    return grid


def full_params(spec: StudySpec, trial_params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's params completed with fixed values and defaults: what the model was built from."""
    values: dict[str, Any] = dict(MODEL_DEFAULTS)
    values.update(spec.fixed)
    values.update(trial_params)
    return values
