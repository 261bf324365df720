"""The names hpo knows, in one place: tasks, data formats, model families, metrics,
optimizers, samplers and pruners.

The study-file validator (``hpo.space``) checks every name against this registry,
and the implementations register here: a model family or a data format is one
module that defines a ``ModelFamily`` / ``DataFormat`` and one line in
``BUILTIN_MODELS`` / ``BUILTIN_DATASETS`` below. Installed packages add their own
through the entry-point groups ``hpo.models`` and ``hpo.datasets`` (an entry point
names a ``ModelFamily`` or ``DataFormat`` object).

Nothing here imports Keras: implementations are named as ``"module:attr"`` strings
and imported only by the code that trains, so ``hpo create``, ``status`` and
``export`` stay fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Domain:
    """The legal values of one parameter or option, and its default.

    ``kind``: int | float (between ``low`` and ``high``), choice (one of ``choices``),
    bool, text (any non-empty string; ``choices`` lists named values, anything else is
    taken as a path), str_list, int_pair.
    """

    kind: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not allowed
    high_open: bool = False
    choices: tuple[Scalar, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not legal here, or None."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
        if self.kind == "choice":
            if any(same(value, c) for c in self.choices):
                return None
            return f"{value!r} is not one of: {', '.join(map(str, self.choices))}"
        if self.kind == "ref":  # "file.py:function"; hpo.userref checks the code itself
            return None if isinstance(value, str) and ":" in value else (
                f"must look like \"file.py:function\" or \"package.module:function\", got {value!r}")
        if self.kind == "text":
            return None if isinstance(value, str) and value else f"must be a non-empty string, got {value!r}"
        if self.kind == "str_list":
            ok = isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)
            return None if ok and len(set(value)) == len(value) else "must be a list of distinct names"
        if self.kind == "int_pair":
            ok = isinstance(value, list) and len(value) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in value)
            return None if ok else f"must be [HEIGHT, WIDTH] in pixels (1-4096), got {value!r}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a{'n integer' if self.kind == 'int' else ' number'}, got {value!r}"
        if self.kind == "int" and not float(value).is_integer():
            return f"must be an integer, got {value!r}"
        assert self.low is not None and self.high is not None
        lo_ok = value > self.low if self.low_open else value >= self.low
        hi_ok = value < self.high if self.high_open else value <= self.high
        if lo_ok and hi_ok:
            return None
        return (f"{value!r} is out of range: must be in {'(' if self.low_open else '['}{self.low:g}, "
                f"{self.high:g}{')' if self.high_open else ']'}")

    @property
    def searchable(self) -> bool:
        return self.kind in ("int", "float", "choice", "bool", "text")


def same(a: Any, b: Any) -> bool:
    """Equal and of the same kind: YAML ``true`` must not match a choice of 1, nor 1 match True."""
    return type(a) is type(b) and a == b or (
        isinstance(a, int | float) and isinstance(b, int | float)
        and not isinstance(a, bool) and not isinstance(b, bool) and a == b
    )


def Int(low: int, high: int, default: int) -> Domain:  # noqa: N802  (reads like a type)
    return Domain("int", default, low, high)


def Float(low: float, high: float, default: float, *, low_open: bool = False, high_open: bool = False) -> Domain:  # noqa: N802
    return Domain("float", default, low, high, low_open, high_open)


def Choice(*choices: Scalar, default: Scalar = None) -> Domain:  # noqa: N802
    return Domain("choice", choices[0] if default is None else default, choices=choices)


def Bool(default: bool = False) -> Domain:  # noqa: N802
    return Domain("bool", default)


# ---------------------------------------------------------------- the registry's kinds


@dataclass(frozen=True)
class Task:
    """A kind of problem: which metrics it can optimise (and their natural direction)."""

    name: str
    metrics: Mapping[str, str]  # objective metric (as Keras logs it) -> minimize | maximize
    augmentations: tuple[str, ...]  # data.augment keys whose effect on the targets is implemented
    impl: str  # "module:attr" of the Keras side (head, loss, metrics, targets)


@dataclass(frozen=True)
class DataFormat:
    name: str
    tasks: tuple[str, ...]  # which tasks it can feed
    loader: str  # "module:function": load(data, path, *, cache_dir, base_dir, task) -> Dataset
    needs_path: bool = False
    options: Mapping[str, Domain] = field(default_factory=dict)  # format-specific data.* keys
    synth: str | None = None  # the `hpo data synth` command that writes a file in this format


@dataclass(frozen=True)
class ModelFamily:
    """A model family: its own parameters (beside the training ones) and its builder.

    ``build`` names ``build(params, input_shape, n_outputs, task) -> keras.Model``
    (uncompiled; hpo compiles it with the task's loss and the searched optimizer).
    """

    name: str
    params: Mapping[str, Domain]
    build: str
    description: str = ""


# Parameters of the fit itself, understood whatever the model family.
TRAINING_PARAMS: dict[str, Domain] = {
    "optimizer": Choice("adam", "adamw", "nadam", "rmsprop", "sgd"),
    "learning_rate": Float(0.0, 10.0, 1.0e-3, low_open=True),
    "momentum": Float(0.0, 1.0, 0.0, high_open=True),
    "batch_size": Int(1, 65536, 32),
}
# data.augment: Keras preprocessing layers inside the model, active in training only.
AUGMENTATIONS: dict[str, Domain] = {
    "horizontal_flip": Bool(False),
    "rotation": Float(0.0, 0.5, 0.0),  # fraction of a full turn, either way
    "zoom": Float(0.0, 0.9, 0.0),  # fraction in or out
    "translation": Float(0.0, 0.5, 0.0),  # fraction of height/width
    "contrast": Float(0.0, 0.9, 0.0),
}
ACTIVATIONS = ("relu", "elu", "selu", "tanh", "sigmoid", "lecun_tanh", "gelu", "swish", "leaky_relu")

SAMPLER_OPTIONS: dict[str, frozenset[str]] = {
    "tpe": frozenset({"seed", "n_startup_trials", "multivariate", "constant_liar", "n_ei_candidates"}),
    "random": frozenset({"seed"}),
    "gp": frozenset({"seed", "n_startup_trials", "deterministic_objective"}),
    "cmaes": frozenset({"seed", "n_startup_trials", "sigma0", "warn_independent_sampling"}),
    "grid": frozenset({"seed"}),
    "nsga2": frozenset({"seed", "population_size", "mutation_prob", "crossover_prob", "swapping_prob"}),
}
# Samplers that handle several objectives (optuna's CMA-ES is single-objective only).
MULTI_OBJECTIVE_SAMPLERS = ("tpe", "nsga2", "random", "grid", "gp")
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

_CLASSIFICATION_METRICS = {
    "val_accuracy": "maximize", "val_auc": "maximize", "val_f1": "maximize",
    "val_precision": "maximize", "val_recall": "maximize", "val_loss": "minimize",
}
# Scores that live in [0, 1] (an early-stopping target outside it could never be reached).
UNIT_INTERVAL_METRICS = frozenset(m for m, d in _CLASSIFICATION_METRICS.items() if d == "maximize")
TASKS: dict[str, Task] = {
    t.name: t for t in (
        Task("classification", _CLASSIFICATION_METRICS, tuple(AUGMENTATIONS), "hpo.tasks:Classification"),
        # Keypoint targets move with the image: only transforms whose mapping is implemented.
        Task("keypoints", {"val_rmse": "minimize", "val_loss": "minimize"}, ("horizontal_flip",),
             "hpo.tasks:Keypoints"),
        Task("regression", {"val_rmse": "minimize", "val_loss": "minimize"}, (), "hpo.tasks:Regression"),
    )
}



@dataclass(frozen=True)
class ModelMetric:
    """A property of the trained model (not of its validation predictions) that a
    multi-objective study can trade against the task metric. ``measure`` names
    ``measure(model, x_val) -> float``."""

    name: str
    direction: str
    measure: str
    description: str = ""


MODEL_METRICS: dict[str, ModelMetric] = {
    m.name: m for m in (
        ModelMetric("params", "minimize", "hpo.model_metrics:param_count", "trainable parameters"),
        ModelMetric("model_mb", "minimize", "hpo.model_metrics:weights_mb",
                    "MiB of weights (trainable and not), about the .keras file's size"),
        ModelMetric("latency_ms", "minimize", "hpo.model_metrics:latency_ms",
                    "milliseconds per image, batch 32, on the worker's device, after training"),
    )
}

# Built-in implementations: one line each. Each module defines FAMILY or FORMAT(S).
BUILTIN_MODELS = ("hpo.models.cnn", "hpo.models.mlp", "hpo.models.pretrained")
BUILTIN_DATASETS = ("hpo.data.formats",)

# Model sources other than a family name: the user's own code, named in `model:`.
USER_MODEL_KINDS = ("builder", "keras_tuner")

_models: dict[str, ModelFamily] = {}
_formats: dict[str, DataFormat] = {}
_loaded = False


def register_model(family: ModelFamily) -> ModelFamily:
    if family.name in USER_MODEL_KINDS or family.name in _models and _models[family.name] != family:
        raise ValueError(f"model family {family.name!r} is already registered")
    _models[family.name] = family
    return family


def register_format(fmt: DataFormat) -> DataFormat:
    if fmt.name in _formats and _formats[fmt.name] != fmt:
        raise ValueError(f"data format {fmt.name!r} is already registered")
    _formats[fmt.name] = fmt
    return fmt


def _load() -> None:
    """Import the built-in declarations (Keras-free) and installed plugins, once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in BUILTIN_MODELS:
        register_model(importlib.import_module(name).FAMILY)
    for name in BUILTIN_DATASETS:
        for fmt in importlib.import_module(name).FORMATS:
            register_format(fmt)
    from importlib.metadata import entry_points

    for group, register in (("hpo.models", register_model), ("hpo.datasets", register_format)):
        for ep in entry_points(group=group):
            register(ep.load())  # type: ignore[operator]


def model_families() -> dict[str, ModelFamily]:
    _load()
    return dict(_models)


def data_formats() -> dict[str, DataFormat]:
    _load()
    return dict(_formats)


def formats_for(task: str) -> list[str]:
    """Formats that can feed ``task``; the first is the default when ``data.format`` is absent."""
    return [f.name for f in data_formats().values() if task in f.tasks]


def resolve(target: str) -> Any:
    """Import ``"module:attr"``: how the code that trains reaches an implementation."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def resolve_callable(target: str) -> Callable[..., Any]:
    fn = resolve(target)
    assert callable(fn), target
    return fn  # type: ignore[no-any-return]
