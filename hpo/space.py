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
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hpo import catalog
from hpo.catalog import Domain, Scalar, same
from hpo.errors import ConfigError, SpecError
from hpo.userref import check_ref, parse_ref

if TYPE_CHECKING:
    import optuna

MAX_SEED = 2**31 - 1
MAX_GRID_POINTS = 100_000
# A study file is a page of YAML. These bounds keep a hostile one (a huge file, a "billion
# laughs" alias bomb, deep nesting) from costing memory, time or megabytes of error text.
MAX_FILE_BYTES = 1 << 20
MAX_YAML_VALUES = 100_000  # every use of an alias counts again
MAX_YAML_DEPTH = 64
MAX_NAME_LENGTH = 128  # a study name is a database key and part of file names

# Type and lower bound of each sampler option ("bool" for flags).
_SAMPLER_OPTION_TYPES: dict[str, tuple[str, float]] = {
    "seed": ("int", 0), "n_startup_trials": ("int", 0), "n_ei_candidates": ("int", 1),
    "multivariate": ("bool", 0), "constant_liar": ("bool", 0), "deterministic_objective": ("bool", 0),
    "warn_independent_sampling": ("bool", 0), "sigma0": ("float", 0),
    "population_size": ("int", 2), "mutation_prob": ("prob", 0), "crossover_prob": ("prob", 0),
    "swapping_prob": ("prob", 0),
}

_TOP_KEYS = ("name", "description", "task", "model", "data", "objective", "budget", "early_stopping", "sampler",
             "pruner", "params", "baselines")
_DATA_KEYS = ("format", "path", "validation_fraction", "test_fraction", "augment", "limit", "seed")
_PARAM_KEYS = {
    "int": ("type", "low", "high", "step", "log", "when"),
    "float": ("type", "low", "high", "step", "log", "when"),
    "categorical": ("type", "choices", "when"),
}
AUGMENT_PREFIX = "augment."  # a searched data.augment entry is the param "augment.rotation"
MODEL_PARAM = "model"  # a categorical param over family names searches the family


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

    def contains(self, value: Any, *, grid: bool = True) -> bool:
        return self.problem(value, grid=grid) is None

    def problem(self, value: Any, *, grid: bool = True) -> str | None:
        """Why this parameter can never take ``value`` (a choice it lacks, out of range, off the
        step grid), or None. The one check for baselines and for edited exports (``grid=False``:
        range only, for values recorded before grids were checked: a pinned study's baselines)."""
        if self.type == "fixed":
            return None if bool(value == self.value) else f"{value!r} differs from the fixed value {self.value!r}"
        if self.type == "categorical":
            if any(same(value, c) for c in self.choices):
                return None
            return f"{value!r} is not one of the choices: {', '.join(map(repr, self.choices))}"
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"must be a{'n integer' if self.type == 'int' else ' number'}, got {value!r}"
        if self.type == "int" and not float(value).is_integer():
            return f"must be an integer, got {value!r}"
        assert self.low is not None and self.high is not None
        if not self.low <= value <= self.high:
            return f"{value!r} is outside the parameter's range [{self.low:g}, {self.high:g}]"
        step = self.step or (1 if self.type == "int" else None)
        if grid and step is not None and not self.log:
            k = (value - self.low) / step
            if abs(k - round(k)) > 1e-6:  # tolerance: trial values are low + k*step in floating point
                below = self.low + math.floor(k) * step
                return (f"{value!r} is off the parameter's grid (low {self.low:g}, step {step:g}); "
                        f"nearest: {below:g} or {below + step:g}")
        return None


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
    # {"family": NAME} | {"builder": REF, "sha256": ...} | {"keras_tuner": REF, "sha256": ...};
    # {} when the family itself is searched (a categorical param "model").
    model: Mapping[str, Any] = field(default_factory=lambda: {"family": "cnn"})
    source: str = field(default="<spec>", compare=False)
    # Where relative paths in the spec (builders, loaders, weights) are looked up: the study
    # file's folder; for a spec read back from the database, search_spaces/.
    base_dir: Path = field(default=Path("search_spaces"), compare=False)
    # Every objective as (metric, direction); the first is (metric, direction) above, the one
    # trained on. More than one: a multi-objective study (a Pareto front, no single best).
    objectives: tuple[tuple[str, str], ...] = ()
    # {"patience": N, "min_delta": X}: a trial stops once the objective has not improved for N
    # epochs (keras.callbacks.EarlyStopping); {}: every trial that is not pruned trains max_epochs.
    early_stopping: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.objectives:
            object.__setattr__(self, "objectives", ((self.metric, self.direction),))

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def metric_names(self) -> list[str]:
        return [m for m, _ in self.objectives]

    @property
    def directions(self) -> list[str]:
        return [d for _, d in self.objectives]

    def to_dict(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        augment: dict[str, Any] = dict(self.data.get("augment", {}))
        for p in self.params:
            into, name = (augment, p.name[len(AUGMENT_PREFIX):]) if p.name.startswith(AUGMENT_PREFIX) else (
                params, p.name)
            if p.type == "fixed":
                into[name] = p.value
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
            into[name] = d
        data = _plain(self.data)
        if augment:
            data["augment"] = augment
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "task": self.task,
            "data": data,
            "objective": ([{"metric": m, "direction": d} for m, d in self.objectives] if self.multi_objective
                          else {"metric": self.metric, "direction": self.direction}),
            "budget": {"trials": self.trials, "max_epochs": self.max_epochs},
            "sampler": _plain(self.sampler),
            "pruner": _plain(self.pruner),
            "params": params,
            "baselines": [dict(b) for b in self.baselines],
        }
        if self.early_stopping:  # absent when unset: studies pinned before the key keep their hash
            out["early_stopping"] = _plain(self.early_stopping)
        if self.model:  # as the study file writes it: a family name, or the user's code and its hash
            out["model"] = self.model["family"] if "family" in self.model else _plain(self.model)
        return out

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

    @property
    def user_model(self) -> str | None:
        """"builder" or "keras_tuner" when the model is the user's own code, else None."""
        return next((k for k in catalog.USER_MODEL_KINDS if k in self.model), None)

    @property
    def families(self) -> tuple[str, ...]:
        """The built-in families this study can build (several when ``model`` is searched)."""
        if "family" in self.model:
            return (str(self.model["family"]),)
        p = self.param(MODEL_PARAM)
        if p is None:
            return ()
        return tuple(str(c) for c in (p.choices if p.type == "categorical" else (p.value,)))

    def defaults(self, family: str | None) -> dict[str, Any]:
        """Every parameter's value when the study neither searches nor fixes it."""
        values: dict[str, Any] = {k: d.default for k, d in catalog.TRAINING_PARAMS.items()}
        values.update({AUGMENT_PREFIX + k: d.default for k, d in catalog.AUGMENTATIONS.items()})
        if family is not None:
            values.update({k: d.default for k, d in catalog.model_families()[family].params.items()})
            values[MODEL_PARAM] = family
        return values


def _plain(value: Any) -> Any:
    """Mappings -> dicts, recursively, so specs serialise to JSON the same way every time."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# ---------------------------------------------------------------- loading


def load_spec(path: str | Path, *, expected_name: str | None = None) -> StudySpec:
    """Read and validate a study file; raise ``SpecError`` listing every problem."""
    path = Path(path)
    source = str(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as e:
        raise SpecError(f"{source}: no such study file; create it or pass --space FILE") from e
    except IsADirectoryError as e:
        raise SpecError(f"{source}: is a directory; give the study file itself (NAME.yaml)") from e
    except OSError as e:
        raise SpecError(f"{source}: cannot read: {e.strerror}") from e
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(f"{source}: larger than {MAX_FILE_BYTES >> 10} KiB; a study file is a page of YAML")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{source}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
                        "save it as UTF-8") from e
    raw = parse_yaml(text, source)
    return spec_from_dict(raw, source=source, default_name=path.stem, expected_name=expected_name,
                          base_dir=path.parent)


def parse_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load``, refusing what PyYAML takes silently or at any cost: a duplicate key
    (the last one would win), and more than ``MAX_YAML_VALUES`` values or ``MAX_YAML_DEPTH``
    levels (an alias bomb: a few lines that expand to billions of values). Checked on the
    node graph, before anything is built from it."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        problems = _node_problems(node, source)
        if problems:
            raise SpecError("\n".join(problems))
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"{source}: {where}malformed YAML: {problem}") from e
    except RecursionError as e:  # PyYAML composes recursively: hundreds of [[[ levels
        raise SpecError(f"{source}: nested more than {MAX_YAML_DEPTH} levels deep") from e
    finally:
        loader.dispose()


def _node_problems(root: yaml.Node, source: str) -> list[str]:
    """Duplicate keys (with their key path and both lines), and the size and depth bounds."""
    found: list[tuple[int, str]] = []
    stack: list[tuple[yaml.Node, str, int]] = [(root, "", 0)]
    count = 0
    while stack:
        node, path, depth = stack.pop()
        count += 1
        if count > MAX_YAML_VALUES:
            return [f"{source}: more than {MAX_YAML_VALUES} values (every use of a YAML alias counts "
                    "again); a study file needs far fewer"]
        if depth > MAX_YAML_DEPTH:
            return [f"{source}: {path}: nested more than {MAX_YAML_DEPTH} levels deep"]
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                merge = key.tag == "tag:yaml.org,2002:merge"  # `<<: *base`: its keys join this mapping
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
                sub = path if merge else f"{path}.{name}" if path else name
                if isinstance(key, yaml.ScalarNode) and not merge:
                    line = key.start_mark.line + 1
                    if (key.tag, key.value) in first:
                        found.append((line, f"{source}: {sub}: duplicate key (lines {first[key.tag, key.value]} "
                                            f"and {line}); YAML would keep only the last: keep one"))
                    else:
                        first[key.tag, key.value] = line
                stack.append((key, sub, depth + 1))
                stack.append((value, sub, depth + 1))
    return [message for _, message in sorted(found)]


def spec_from_dict(
    raw: Any,
    *,
    source: str = "<spec>",
    default_name: str | None = None,
    expected_name: str | None = None,
    base_dir: Path = Path("search_spaces"),
    pinned: bool = False,
) -> StudySpec:
    """Validate a parsed study file (``pinned``: a spec read back from a study, whose code
    fingerprints are taken as pinned instead of recomputed)."""
    v = _Validator(source, base_dir, pinned)
    spec = v.study(raw, default_name, expected_name)
    if v.problems:
        raise SpecError("\n".join(v.problems))
    assert spec is not None
    return spec


class _Validator:
    def __init__(self, source: str, base_dir: Path, pinned: bool) -> None:
        self.source, self.base_dir, self.pinned = source, base_dir, pinned
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
            self.bad("", "must be a YAML mapping of name, task, model, data, objective, budget, "
                         "sampler, pruner, params")
            return None
        top = self.mapping(raw, "", _TOP_KEYS)
        name = top.get("name", default_name)
        if not isinstance(name, str) or not name.strip():
            self.bad("name", "must be a non-empty string")
            name = ""
        elif len(name) > MAX_NAME_LENGTH and not self.pinned:  # pinned: the study exists under it
            self.bad("name", f"is {len(name)} characters long; at most {MAX_NAME_LENGTH}")
        elif expected_name is not None and name != expected_name:
            self.bad("name", f"is {name!r} but the study is {expected_name!r}; make them agree")
        task = top.get("task")
        if task is None:
            self.bad("task", f"missing; expected one of: {', '.join(catalog.TASKS)}")
        else:
            task = self.choice(task, "task", list(catalog.TASKS))
        raw_params = top.get("params")
        model = self.model(top.get("model"), raw_params)
        data, augment = self.data(top.get("data"), task)
        objectives = self.objectives(top.get("objective"), task)
        metric, direction = objectives[0] if objectives else ("", "")
        trials, max_epochs = self.budget(top.get("budget"))
        early_stopping = self.early_stopping(top.get("early_stopping"), max_epochs, metric, direction)
        params = self.params(raw_params, model) + augment
        sampler = self.sampler(top.get("sampler"), params)
        raw_pruner = top.get("pruner")
        if len(objectives) > 1:
            if sampler.get("type") not in (None, *catalog.MULTI_OBJECTIVE_SAMPLERS):
                self.bad("sampler.type", f"{sampler['type']} handles one objective only; for several use one of: "
                                         f"{', '.join(catalog.MULTI_OBJECTIVE_SAMPLERS)}")
            kind = raw_pruner.get("type") if isinstance(raw_pruner, Mapping) else raw_pruner
            if raw_pruner is not None and kind != "none":
                self.bad("pruner", "Optuna cannot prune a multi-objective study (trials report one value per "
                                   "epoch); remove the pruner key or set pruner: {type: none}")
            raw_pruner = {"type": "none"}
        pruner = self.pruner(raw_pruner, max_epochs, trials)
        baselines = self.baselines(top.get("baselines"), params, model)
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
            baselines=baselines, description=str(description), model=model, source=self.source,
            base_dir=self.base_dir, objectives=tuple(objectives), early_stopping=early_stopping,
        )

    def code(self, ref: Any, key: str, pinned_sha: Any) -> str | None:
        """A reference to the user's code: checked (without running it) and fingerprinted."""
        if self.pinned:  # read back from the database: the fingerprint is the one pinned
            if not isinstance(pinned_sha, str):
                self.bad(key, "has no pinned sha256; recreate the study")
            return pinned_sha if isinstance(pinned_sha, str) else None
        try:
            return check_ref(parse_ref(ref, key, self.base_dir), key)
        except ConfigError as e:
            self.problems.append(f"{self.source}: {e}")
            return None

    def model(self, raw: Any, raw_params: Any) -> dict[str, Any]:
        searched = isinstance(raw_params, Mapping) and MODEL_PARAM in raw_params
        if raw is None:
            return {} if searched else {"family": "cnn"}
        if searched:
            self.bad("model", "is also a parameter (params.model); keep one: a fixed family here, "
                              "or params.model to search over families")
            return {}
        families = catalog.model_families()
        if isinstance(raw, str):
            if raw not in families:
                self.bad("model", f"unknown model family {raw!r}; expected one of: {', '.join(families)}, "
                                  "or {builder: FILE.py:FUNCTION} or {keras_tuner: FILE.py:build_model}")
                return {}
            return {"family": raw}
        allowed = catalog.USER_MODEL_KINDS + (("sha256",) if self.pinned else ())
        m = self.mapping(raw, "model", allowed)
        kinds = [k for k in catalog.USER_MODEL_KINDS if k in m]
        if len(kinds) != 1:
            if isinstance(raw, Mapping):
                self.bad("model", "give exactly one of builder: FILE.py:FUNCTION or keras_tuner: "
                                  "FILE.py:build_model")
            return {}
        kind = kinds[0]
        sha = self.code(m[kind], f"model.{kind}", m.get("sha256"))
        return {kind: m[kind], "sha256": sha}

    def data(self, raw: Any, task: str | None) -> tuple[dict[str, Any], tuple[ParamSpec, ...]]:
        if raw is None:
            self.bad("data", "missing; give at least data.format or data.path")
            return {}, ()
        formats = catalog.data_formats()
        fmt_name = raw.get("format") if isinstance(raw, Mapping) else None
        if fmt_name is None and isinstance(raw, Mapping) and "loader" in raw:
            fmt_name = "loader"
        if fmt_name is None:
            fmt_name = next(iter(catalog.formats_for(task or "")), None)
        fmt = formats.get(str(fmt_name))
        options = dict(fmt.options) if fmt is not None else {}
        extra = ("loader_sha256",) if self.pinned and fmt_name == "loader" else ()
        d = self.mapping(raw, "data", _DATA_KEYS + tuple(options) + extra)
        if fmt is None or (task is not None and task not in fmt.tasks):
            usable = catalog.formats_for(task or "") if task else list(formats)
            self.bad("data.format", f"unknown format {fmt_name!r}" + (f" for task {task}" if task else "")
                     + f"; expected one of: {', '.join(usable)}")
        out: dict[str, Any] = {"format": fmt_name}
        if "path" in d:
            if not isinstance(d["path"], str) or not d["path"]:
                self.bad("data.path", "must be a file path string")
            out["path"] = d["path"]
        elif fmt is not None and fmt.needs_path:
            self.bad("data.path", f"missing; format {fmt_name} reads a {'folder' if 'folder' in fmt.name else 'file'}")
        for key, default in (("validation_fraction", 0.2), ("test_fraction", 0.1)):
            num = self.number(d.get(key, default), f"data.{key}")
            if num is not None and not (0.0 < num < 1.0 or (key == "test_fraction" and num == 0.0)):
                self.bad(f"data.{key}", f"must be between 0 and 1 (exclusive), got {num:g}")
            out[key] = num
        for key, domain in options.items():
            if key not in d:
                if domain.default is not None:
                    out[key] = domain.default
                continue
            problem = domain.problem(d[key])
            if problem:
                self.bad(f"data.{key}", problem)
            out[key] = d[key]
        if fmt_name == "loader" and "loader" in d:
            out["loader_sha256"] = self.code(d["loader"], "data.loader", d.get("loader_sha256"))
        if "limit" in d:
            limit = self.number(d["limit"], "data.limit", integer=True)
            if limit is not None and limit < 10:
                self.bad("data.limit", "must be >= 10 rows")
            out["limit"] = limit
        seed = self.number(d.get("seed", 0), "data.seed", integer=True)
        if seed is not None and not 0 <= seed <= MAX_SEED:
            self.bad("data.seed", f"must be between 0 and {MAX_SEED}")
        out["seed"] = seed
        return out, self.augment(d.get("augment"), task)

    def augment(self, raw: Any, task: str | None) -> tuple[ParamSpec, ...]:
        """data.augment entries become params "augment.NAME", fixed or searched like any other."""
        aug = self.mapping(raw, "data.augment", tuple(catalog.AUGMENTATIONS))
        mappable = catalog.TASKS[task].augmentations if task in catalog.TASKS else tuple(catalog.AUGMENTATIONS)
        specs = []
        for key, body in aug.items():
            if key not in mappable:
                self.bad(f"data.augment.{key}", f"task {task} cannot map this transform onto its targets; "
                                                f"allowed: {', '.join(mappable) or 'none'}")
                continue
            spec = self.param(AUGMENT_PREFIX + key, body, f"data.augment.{key}",
                              {AUGMENT_PREFIX + key: catalog.AUGMENTATIONS[key]})
            if spec is not None:
                specs.append(spec)
        return tuple(specs)

    def objectives(self, raw: Any, task: str | None) -> list[tuple[str, str]]:
        """``objective:`` as one mapping, or a list of them (a multi-objective study). The first
        is a validation metric the model trains on; later ones may also be model metrics
        (params, model_mb, latency_ms)."""
        if raw is None:
            self.bad("objective", "missing; give objective.metric and objective.direction")
            return []
        if not isinstance(raw, list):
            one = self.objective(raw, task, "objective", first=True)
            return [one] if one else []
        if not raw:
            self.bad("objective", "is an empty list; give at least one {metric, direction}")
            return []
        found: list[tuple[str, str]] = []
        for i, item in enumerate(raw):
            one = self.objective(item, task, f"objective[{i}]", first=i == 0)
            names = [m for m, _ in found]
            if one and one[0] in names:
                self.bad(f"objective[{i}].metric", f"{one[0]} is already objective[{names.index(one[0])}]")
            elif one:
                found.append(one)
        return found

    def objective(self, raw: Any, task: str | None, key: str, *, first: bool) -> tuple[str, str] | None:
        o = self.mapping(raw, key, ("metric", "direction"))
        if not isinstance(raw, Mapping):
            return None
        metrics = dict(catalog.TASKS[task].metrics) if task in catalog.TASKS else {}
        model_metrics = {} if first else {m.name: m.direction for m in catalog.MODEL_METRICS.values()}
        metric = o.get("metric")
        if metric is None:
            self.bad(f"{key}.metric", "missing")
            return None
        if task is not None and metric not in metrics and metric not in model_metrics:
            hint = ("" if not first or metric not in catalog.MODEL_METRICS else
                    f"; {metric} is a model metric: list it after the validation metric the model trains on")
            self.bad(f"{key}.metric", f"unknown metric {metric!r} for task {task}; "
                                      f"expected one of: {', '.join([*metrics, *model_metrics])}{hint}")
            return None
        natural = {**metrics, **model_metrics}.get(metric, "minimize")
        direction = o.get("direction", natural)
        if self.choice(direction, f"{key}.direction", ["minimize", "maximize"]) and (
            task is not None and direction != natural
        ):
            self.bad(f"{key}.direction", f"{metric} should be {natural}d, not {direction}d")
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

    def early_stopping(self, raw: Any, max_epochs: int, metric: str, direction: str) -> dict[str, Any]:
        if raw is None:
            return {}
        e = self.mapping(raw, "early_stopping", ("patience", "min_delta", "target"))
        if "patience" not in e and "target" not in e:
            if isinstance(raw, Mapping):
                self.bad("early_stopping.patience", "missing; epochs without improvement before a trial stops, "
                                                    "e.g. early_stopping: {patience: 4} (or a target: {target: 1.0})")
            return {}
        out: dict[str, Any] = {}
        if "patience" in e:
            patience = self.number(e["patience"], "early_stopping.patience", integer=True)
            if patience is not None and not 1 <= patience < max_epochs:
                self.bad("early_stopping.patience", f"must be >= 1 and < budget.max_epochs ({max_epochs}), got "
                                                    f"{patience}; remove early_stopping to train every trial to "
                                                    "max_epochs")
            out["patience"] = int(patience or 1)
        if "min_delta" in e:
            if "patience" not in e:
                self.bad("early_stopping.min_delta", "applies to patience; add early_stopping.patience or remove it")
            delta = self.number(e["min_delta"], "early_stopping.min_delta")
            if delta is not None and delta < 0:
                self.bad("early_stopping.min_delta", f"must be >= 0, got {delta}")
            out["min_delta"] = float(delta or 0.0)
        if "target" in e:
            target = self.number(e["target"], "early_stopping.target")
            # A target no value of the metric can reach stops nothing: the user meant something else.
            if target is not None and metric in catalog.UNIT_INTERVAL_METRICS and not 0 <= target <= 1:
                self.bad("early_stopping.target", f"{metric} lies in [0, 1], so {target} is never reached; "
                                                  "give a value in that range (1.0: stop at a perfect score)")
            elif target is not None and direction == "minimize" and metric != "val_loss" and target < 0:
                self.bad("early_stopping.target", f"{metric} is never below 0, so {target} is never reached")
            out["target"] = float(target or 0.0)
        return out

    def sampler(self, raw: Any, params: tuple[ParamSpec, ...]) -> dict[str, Any]:
        s = dict(raw) if isinstance(raw, Mapping) else {"type": "tpe"} if raw is None else raw
        if not isinstance(s, Mapping):
            self.bad("sampler", "must be a mapping like {type: tpe, seed: 0}")
            return {}
        kind = self.choice(s.get("type", "tpe"), "sampler.type", list(catalog.SAMPLER_OPTIONS))
        if kind is None:
            return {}
        out = {"type": kind, **self.mapping({k: v for k, v in s.items() if k != "type"},
                                            "sampler", catalog.SAMPLER_OPTIONS[kind])}
        for key, value in out.items():
            if key == "type":
                continue
            kind_of, floor = _SAMPLER_OPTION_TYPES[key]
            if kind_of == "bool":
                if not isinstance(value, bool):
                    self.bad(f"sampler.{key}", f"must be true or false, got {value!r}")
                continue
            n = self.number(value, f"sampler.{key}", integer=kind_of == "int")
            if kind_of == "prob":
                if n is not None and not 0.0 <= n <= 1.0:
                    self.bad(f"sampler.{key}", f"must be between 0 and 1, got {n:g}")
                continue
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

    def pruner(self, raw: Any, max_epochs: int, trials: int) -> dict[str, Any]:
        p = dict(raw) if isinstance(raw, Mapping) else {"type": "median"} if raw is None else raw
        if not isinstance(p, Mapping):
            self.bad("pruner", "must be a mapping like {type: hyperband, min_resource: 2}")
            return {}
        kind = self.choice(p.get("type", "median"), "pruner.type", list(catalog.PRUNER_OPTIONS))
        if kind is None:
            return {}
        opts = self.mapping({k: v for k, v in p.items() if k != "type"}, "pruner",
                            catalog.PRUNER_OPTIONS[kind])
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
        if not self.pinned and min(max_epochs, trials) >= 1:  # pinned: accepted when the study was made
            whole = {k: v for k, v in opts.items() if isinstance(v, int) and not isinstance(v, bool) and v >= 0}
            self.pruner_budget(kind, whole, max_epochs, trials)
        return {"type": kind, **opts}

    def pruner_budget(self, kind: str, n: dict[str, int], max_epochs: int, trials: int) -> None:
        """Refuse settings under which the pruner can never prune within the budget: such a study
        silently costs the whole budget. Trials report epochs 0 .. max_epochs - 1 as steps."""
        never = "so no trial could ever be pruned; lower it or use pruner type none"
        for key in ("n_startup_trials", "n_min_trials", "bootstrap_count"):
            if key in n and n[key] >= trials:  # counts of other trials; a study has trials - 1 at most
                what = "every trial would be pruned at its first rung" if key == "bootstrap_count" else never
                self.bad(f"pruner.{key}", f"{n[key]} >= budget.trials ({trials}), {what}")
        if "n_warmup_steps" in n and n["n_warmup_steps"] >= max_epochs:
            self.bad("pruner.n_warmup_steps", f"{n['n_warmup_steps']} >= budget.max_epochs ({max_epochs}): "
                                              f"no epoch is past the warm-up, {never}")
        if kind == "successive_halving" and "min_resource" in n:
            rate = min(n.get("min_early_stopping_rate", 0), 64)  # 64: far past any budget already
            first = n["min_resource"] * n.get("reduction_factor", 4) ** rate
            if first >= max_epochs:
                self.bad("pruner.min_resource", f"the first rung is at epoch {first} (min_resource x reduction_factor"
                                                f"^min_early_stopping_rate) but trials stop at budget.max_epochs "
                                                f"({max_epochs}), {never}")
        if kind == "hyperband" and "min_resource" in n and n["min_resource"] >= n.get("max_resource", max_epochs):
            top = n.get("max_resource", max_epochs)
            self.bad("pruner.min_resource", f"{n['min_resource']} >= max_resource ({top}"
                                            f"{'' if 'max_resource' in n else ' = budget.max_epochs'}): hyperband "
                                            f"has no rung before the last epoch, {never}")

    def params(self, raw: Any, model: Mapping[str, Any]) -> tuple[ParamSpec, ...]:
        if raw is None and "keras_tuner" in model:
            return ()  # build_model(hp) declares its own
        if not isinstance(raw, Mapping) or not raw:
            self.bad("params", "missing or empty; declare at least one parameter to search")
            return ()
        self.declared = {str(n) for n in raw}
        families = catalog.model_families()
        specs: list[ParamSpec] = []
        in_play: tuple[str, ...] = (model["family"],) if "family" in model else ()
        if MODEL_PARAM in raw:  # first: the other params' vocabulary depends on it
            spec = self.param(MODEL_PARAM, raw[MODEL_PARAM], "params.model",
                              {"model": Domain("choice", choices=tuple(families))})
            if spec is not None:
                specs.append(spec)
                in_play = tuple(map(str, spec.choices if spec.type == "categorical" else (spec.value,)))
        for name, body in raw.items():
            name, key = str(name), f"params.{name}"
            if name == MODEL_PARAM:
                continue
            domains = self.vocabulary(name, body, key, model, in_play, families)
            if domains is None:
                continue
            spec = self.param(name, body, key, domains)
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

    def vocabulary(
        self, name: str, body: Any, key: str, model: Mapping[str, Any], in_play: tuple[str, ...],
        families: Mapping[str, catalog.ModelFamily],
    ) -> dict[str, Domain] | None:
        """The domains a parameter must fit (one per family it applies to); None: not a parameter here."""
        if name in catalog.TRAINING_PARAMS:
            return {name: catalog.TRAINING_PARAMS[name]}
        if "builder" in model:
            return {}  # the user's own builder reads whatever names it likes
        if "keras_tuner" in model:
            if isinstance(body, Mapping):
                self.bad(key, "a keras_tuner study searches what build_model(hp) declares; "
                              "give a plain value here to fix that hyperparameter, or remove it")
                return None
            return {}
        if not model and not in_play:
            return None  # params.model itself was invalid: reported there
        gate = dict(self.when(body.get("when"), f"{key}.when")).get(MODEL_PARAM) if isinstance(
            body, Mapping) else None
        applies = [str(f) for f in gate] if gate else list(in_play)
        knowing = [f for f in applies if f in families and name in families[f].params]
        if not knowing:
            every = sorted({n for f in in_play if f in families for n in families[f].params}
                           | set(catalog.TRAINING_PARAMS))
            self.bad(key, f"unknown parameter for model {' / '.join(in_play)}; it understands: {', '.join(every)}")
            return None
        if len(knowing) < len(applies) and isinstance(body, Mapping):  # a fixed value serves those that know it
            missing = [f for f in applies if f not in knowing]
            self.bad(key, f"model family {', '.join(missing)} has no parameter {name}; "
                          f"gate it with when: {{model: [{', '.join(knowing)}]}}")
            return None
        return {f"{f}.{name}": families[f].params[name] for f in knowing}

    def param(self, name: str, body: Any, key: str, domains: Mapping[str, Domain]) -> ParamSpec | None:
        if not isinstance(body, Mapping):
            if body is not None and not isinstance(body, str | int | float | bool):
                self.bad(key, "must be a mapping with a type, or a plain value to fix it")
                return None
            fixed = ParamSpec(name=name, type="fixed", value=body)
            self.domain(fixed, key, [body], domains)
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
            self.domain(spec, f"{key}.choices", list(choices), domains)
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
        if step is not None and step > 0 and not log and not self.pinned:
            # Optuna would silently shrink the range to the last step below high (exact decimals, as it does).
            span, d_step = Decimal(str(high)) - Decimal(str(low)), Decimal(str(step))
            if span % d_step:
                top = Decimal(str(low)) + span // d_step * d_step
                self.bad(f"{key}.step", f"{step:g} does not divide high - low ({high:g} - {low:g}): Optuna would "
                                        f"shrink the range to [{low:g}, {top:g}]; make high {top:g} or "
                                        f"{top + d_step:g}, or pick a step that divides it")
        spec = ParamSpec(name=name, type=kind, low=low, high=high, step=step, log=log, when=when)
        self.domain(spec, key, [low, high], domains)
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

    def domain(self, spec: ParamSpec, key: str, values: list[Any], domains: Mapping[str, Domain]) -> None:
        """Check that the values a parameter can take make sense to every model it feeds."""
        for label, d in domains.items():
            family = f" (model {label.split('.')[0]})" if "." in label and not label.startswith("augment") else ""
            if d.kind in ("choice", "bool", "text", "str_list", "int_pair") and spec.type in ("int", "float"):
                self.bad(key, f"{spec.name} must be categorical or fixed")
                return
            if d.kind == "int" and spec.type == "float":
                self.bad(f"{key}.type", f"{spec.name} takes whole numbers; use type: int")
                return
            for v in values:
                problem = d.problem(v)
                if problem:
                    self.bad(key, f"{problem}{family}")

    def baselines(
        self, raw: Any, params: tuple[ParamSpec, ...], model: Mapping[str, Any]
    ) -> tuple[dict[str, Scalar], ...]:
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
                if p is None and (name in self.declared or "keras_tuner" in model):
                    continue  # reported where it is declared; or one of build_model(hp)'s own
                if p is None:
                    self.bad(f"{key}.{name}", "is not a parameter of this study; declare it in params")
                    continue
                # A pinned study's baselines are enqueued already: range only, as when it was created.
                problem = p.problem(value, grid=not self.pinned)
                if problem:
                    self.bad(f"{key}.{name}", problem)
                for cond, values in () if self.pinned else p.when:
                    if cond in base and not any(same(base[cond], v) for v in values):
                        self.bad(f"{key}.{name}", f"is never used: {name} is searched only when {cond} is "
                                                  f"{' or '.join(map(repr, values))}, and this baseline has "
                                                  f"{cond}: {base[cond]!r}; drop it")
            out.append(dict(base))
        return tuple(out)


# ---------------------------------------------------------------- sampling


def active(param: ParamSpec, values: Mapping[str, Any]) -> bool:
    """Whether a conditional parameter applies, given the values chosen so far."""
    return all(any(same(values.get(k), v) for v in vs) for k, vs in param.when)


def suggest(trial: optuna.trial.BaseTrial, spec: StudySpec) -> dict[str, Any]:
    """All model parameters for one trial: searched ones from the trial, fixed ones, defaults."""
    values: dict[str, Any] = dict(spec.fixed)
    # Unconditional parameters first (the family among them), so that a `when` sees the value
    # it depends on, and the chosen family's defaults fill in what the study leaves out.
    unconditional = [p for p in spec.searched if not p.when]
    for p in sorted(unconditional, key=lambda p: p.name != MODEL_PARAM):
        values[p.name] = _suggest_one(trial, p)
    values = full_params(spec, values)
    for p in spec.searched:
        if p.when and active(p, values):
            values[p.name] = _suggest_one(trial, p)
    return values


def _suggest_one(trial: optuna.trial.BaseTrial, p: ParamSpec) -> Any:
    if p.type == "categorical":
        return trial.suggest_categorical(p.name, list(p.choices))  # type: ignore[arg-type]
    assert p.low is not None and p.high is not None
    if p.type == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    return trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)


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
    chosen = {**spec.fixed, **trial_params}
    family = chosen.get(MODEL_PARAM, spec.model.get("family"))
    values = spec.defaults(str(family) if family in catalog.model_families() else None)
    values.update(chosen)
    return values


def params_problems(spec: StudySpec, values: Any, key: str = "params") -> list[str]:
    """Why ``values`` (a trial's full params, as ``hpo export`` writes them) are not ones this
    study could have trained: a name its model does not take, a searched value outside its range
    or choices, a fixed or unsearched one changed, one the study names left out. The same
    ``ParamSpec.problem`` the baselines pass;
    range only, not the step grid: a baseline enqueued before grids were checked may be the best."""
    if not isinstance(values, Mapping):
        return [f"{key}: must be a mapping of parameter names to values, got {type(values).__name__}"]
    searched_family = spec.param(MODEL_PARAM) is not None
    family = values.get(MODEL_PARAM) if searched_family else spec.model.get("family")
    defaults = spec.defaults(str(family) if family in catalog.model_families() else None)
    own_names = "keras_tuner" in spec.model  # build_model(hp) declares names the spec never lists
    problems: list[str] = []
    for name, value in values.items():
        p = spec.param(str(name))
        if p is not None:
            problem = p.problem(value, grid=False)
            if problem and p.when and not active(p, values) and same(value, defaults.get(str(name))):
                problem = None  # a conditional parameter not in play: exported with its default
        elif own_names:
            continue
        elif name in defaults:
            problem = None if same(value, defaults[name]) else (
                f"{value!r}: the study neither searches nor fixes {name}; its trials used {defaults[name]!r}")
        else:
            problem = "is not a parameter of this study's model"
        if problem:
            problems.append(f"{key}.{name}: {problem}")
    for p in spec.params:  # `hpo export` writes every parameter the study names; a model would miss this one
        if p.name not in values and (not p.when or active(p, values)):
            problems.append(f"{key}.{p.name}: missing; the study {'searches' if p.type != 'fixed' else 'fixes'} it, "
                            "so every trial had one; export it again")
    return problems


def augment_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """The data.augment settings inside a trial's params ("augment.rotation" -> "rotation")."""
    return {k[len(AUGMENT_PREFIX):]: v for k, v in params.items() if k.startswith(AUGMENT_PREFIX)}
