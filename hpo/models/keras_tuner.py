"""Keras Tuner's ``hp`` object on an Optuna trial: ``def build_model(hp): ...`` runs unchanged.

``TrialHyperParameters`` offers the part of ``keras_tuner.HyperParameters`` that build
functions use (``Int``, ``Float``, ``Choice``, ``Boolean``, ``Fixed``,
``conditional_scope``, ``get``, ``values``, ``is_active``, ``in``), with keras_tuner's
signatures, defaults and conditional semantics; each value comes from the trial's
``suggest_*``. Everything else raises a one-line ``ConfigError``.

With ``trial=None`` it is in defaults mode, like keras_tuner's first build: every active
hyperparameter takes its default. As in keras_tuner, a hyperparameter inside a
``conditional_scope`` whose condition does not hold is not sampled (Optuna never sees
it) and the method returns ``None``.

Imports neither keras nor keras_tuner; only optuna (lazily, for ``TrialPruned``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from hpo.errors import ConfigError, HpoError
from hpo.record import FIXED_ATTR
from hpo.userref import USER_ERRORS, what_it_did

if TYPE_CHECKING:
    import optuna

SUPPORTED = "Int, Float, Choice, Boolean, Fixed, conditional_scope, get, values, is_active"

_SAMPLINGS = ("linear", "log")
_LOG_STEP_TOLERANCE = 1e-8  # keras_tuner's, so log(max/min, step) = 3.9999999 still counts 4 steps


class UnsupportedHyperParameterError(ConfigError, AttributeError):
    """``hp.<something keras_tuner has but hpo does not>``; an AttributeError too, so hasattr() says False."""


class UnknownHyperParameterError(ConfigError, KeyError):
    """``hp.get(name)`` for a name never defined; a KeyError too, as in keras_tuner."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InactiveHyperParameterError(ConfigError, ValueError):
    """``hp.get(name)`` for a name defined only in scopes that do not hold; a ValueError, as in keras_tuner."""


@dataclass(frozen=True)
class _Condition:
    """keras_tuner's ``Parent`` condition: ``parent``'s current value is one of ``values``."""

    parent: str
    values: tuple[Any, ...]

    def holds(self, current: Mapping[str, Any]) -> bool:
        return self.parent in current and current[self.parent] in self.values


@dataclass(frozen=True)
class _Spec:
    """One hyperparameter's definition. Two calls with equal specs are the same hyperparameter."""

    kind: str  # Int, Float, Choice, Boolean, Fixed
    args: tuple[tuple[str, Any], ...]  # the normalised arguments that define the search range
    default: Any = field(compare=False)
    # Int/Float with log sampling and a step: keras_tuner's multiplicative grid, sampled as a categorical.
    grid: tuple[Any, ...] | None = field(default=None, compare=False)

    def arg(self, name: str) -> Any:
        return dict(self.args)[name]

    def describe(self) -> str:
        return f"{self.kind}({', '.join(f'{k}={v!r}' for k, v in self.args)})"


@dataclass(frozen=True)
class _Registration:
    spec: _Spec
    conditions: tuple[_Condition, ...]


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _clean_float(value: float) -> float:
    """0.1 rather than 0.10000000000000002 for the points of a multiplicative grid."""
    return float(f"{value:.12g}")


class TrialHyperParameters:
    """The ``hp`` handed to a Keras Tuner style ``build_model(hp)``, backed by an Optuna trial.

    ``trial=None`` is defaults mode: each hyperparameter returns keras_tuner's default
    (``default`` or else ``min_value`` / ``values[0]`` / ``False`` / the Fixed value).
    ``fixed`` maps names to values returned as is (recorded, never suggested).
    ``key`` prefixes every error message (the study file key that named the build function).
    """

    def __init__(
        self,
        trial: optuna.trial.BaseTrial | None,
        fixed: Mapping[str, Any] | None = None,
        *,
        key: str = "model.keras_tuner",
    ) -> None:
        self._key = key
        self._trial = trial
        self._overrides: dict[str, Any] = dict(fixed or {})
        self._conditions: list[_Condition] = []
        self._registered: dict[str, list[_Registration]] = {}  # name -> its definitions, in call order
        self._values: dict[str, Any] = {}  # active values: suggested, defaults, Fixed and overrides
        self._value_specs: dict[str, _Spec] = {}  # the definition each active value came from
        self._fixed_values: dict[str, Any] = {}

    # ------------------------------------------------------------------ hyperparameters

    def Int(  # keras_tuner's name
        self,
        name: str,
        min_value: int,
        max_value: int,
        step: int | None = None,
        sampling: str | None = "linear",
        default: int | None = None,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> int | None:
        """An integer in [min_value, max_value] (both included); keras_tuner's ``hp.Int``."""
        where = self._where("Int", name)
        lo = self._integer(min_value, "min_value", where)
        hi = self._integer(max_value, "max_value", where)
        step_i = None if step is None else self._integer(step, "step", where)
        mode = self._sampling(sampling, lo, hi, step_i, where, unit_log_step=True)
        grid: tuple[Any, ...] | None = None
        if mode == "linear":
            step_i = 1 if step_i is None else step_i
            if step_i <= 0:
                self._bad(where, f"step must be > 0, got {step_i}")
        elif step_i == 1:
            step_i = None  # plain log sampling over the integers
        elif step_i is not None:
            grid = tuple(lo * step_i**i for i in range(self._grid_size(lo, hi, step_i)))
        spec = _Spec(
            "Int",
            (("min_value", lo), ("max_value", hi), ("step", step_i), ("sampling", mode)),
            default=lo if default is None else default,
            grid=grid,
        )
        return self._retrieve(str(name), spec, parent_name, parent_values)

    def Float(  # keras_tuner's name
        self,
        name: str,
        min_value: float,
        max_value: float,
        step: float | None = None,
        sampling: str | None = "linear",
        default: float | None = None,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> float | None:
        """A float in [min_value, max_value]; keras_tuner's ``hp.Float``."""
        where = self._where("Float", name)
        lo = self._real(min_value, "min_value", where)
        hi = self._real(max_value, "max_value", where)
        step_f = None if step is None else self._real(step, "step", where)
        mode = self._sampling(sampling, lo, hi, step_f, where)
        grid: tuple[Any, ...] | None = None
        if mode == "linear":
            if step_f is not None and step_f <= 0:
                self._bad(where, f"step must be > 0, got {step_f}")
        elif step_f is not None:
            n = self._grid_size(lo, hi, step_f)
            grid = (lo, *(_clean_float(lo * math.pow(step_f, i)) for i in range(1, n)))
        spec = _Spec(
            "Float",
            (("min_value", lo), ("max_value", hi), ("step", step_f), ("sampling", mode)),
            default=lo if default is None else default,
            grid=grid,
        )
        return self._retrieve(str(name), spec, parent_name, parent_values)

    def Choice(  # keras_tuner's name
        self,
        name: str,
        values: Sequence[Any],
        ordered: bool | None = None,
        default: Any = None,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> Any:
        """One of ``values`` (str, int, float or bool, all one type); keras_tuner's ``hp.Choice``.

        ``ordered`` is checked as keras_tuner does but otherwise ignored: Optuna's
        categorical distribution has no order.
        """
        where = self._where("Choice", name)
        choices = self._choices(values, where, what="values")
        if default is not None:
            default = self._standardise(default, choices[0])
            if default not in choices:
                self._bad(where, f"default {default!r} is not one of values {list(choices)!r}")
        numeric = isinstance(choices[0], int | float) and not isinstance(choices[0], bool)
        if ordered and not numeric:
            self._bad(where, "ordered=True needs int or float values")
        spec = _Spec("Choice", (("values", choices),), default=choices[0] if default is None else default)
        return self._retrieve(str(name), spec, parent_name, parent_values)

    def Boolean(  # keras_tuner's name
        self,
        name: str,
        default: bool = False,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> bool | None:
        """True or False; keras_tuner's ``hp.Boolean``."""
        where = self._where("Boolean", name)
        if default not in (True, False):
            self._bad(where, f"default must be True or False, got {default!r}")
        spec = _Spec("Boolean", (), default=bool(default))
        return self._retrieve(str(name), spec, parent_name, parent_values)

    def Fixed(  # keras_tuner's name
        self,
        name: str,
        value: Any,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> Any:
        """An untuned value (int, float, str or bool): recorded, never suggested; keras_tuner's ``hp.Fixed``."""
        where = self._where("Fixed", name)
        if not isinstance(value, bool | int | float | str):
            self._bad(where, f"value must be an int, float, str or bool, got {type(value).__name__}")
        if isinstance(value, int) and not isinstance(value, bool):
            value = int(value)
        spec = _Spec("Fixed", (("value", value),), default=value)
        return self._retrieve(str(name), spec, parent_name, parent_values)

    # ------------------------------------------------------------------ conditions

    @contextlib.contextmanager
    def conditional_scope(self, parent_name: str, parent_values: Any) -> Iterator[None]:
        """Hyperparameters defined inside are active only while ``parent_name``'s value is in ``parent_values``.

        Scopes nest (all must hold). The code inside always runs; an inactive
        hyperparameter is not sampled and its method returns None, as in keras_tuner.
        """
        where = f"{self._key}: hp.conditional_scope({str(parent_name)!r}, {parent_values!r})"
        self._conditions.append(self._condition(parent_name, parent_values, where))
        try:
            yield
        finally:
            self._conditions.pop()

    def is_active(self, hyperparameter: Any) -> bool:
        """Whether a hyperparameter (a name, or anything with ``.name``) is active: all its conditions hold."""
        name = hyperparameter if isinstance(hyperparameter, str) else getattr(hyperparameter, "name", hyperparameter)
        return any(self._holds(reg.conditions) for reg in self._registered.get(str(name), ()))

    # ------------------------------------------------------------------ values

    def get(self, name: str) -> Any:
        """The current value of an active hyperparameter.

        Raises UnknownHyperParameterError (a KeyError) for an undefined name and
        InactiveHyperParameterError (a ValueError) for an inactive one, as keras_tuner does.
        """
        name = str(name)
        if name in self._values:
            return self._values[name]
        if name in self._registered:
            raise InactiveHyperParameterError(
                f"{self._key}: hp.get({name!r}): {name!r} is inactive (its conditional_scope does not hold)"
            )
        known = ", ".join(self._registered) or "none yet"
        raise UnknownHyperParameterError(
            f"{self._key}: hp.get({name!r}): no hyperparameter named {name!r} is defined; defined: {known}"
        )

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._values

    @property
    def values(self) -> dict[str, Any]:
        """The active values: suggested (or defaults), Fixed and overridden; a copy."""
        return dict(self._values)

    @property
    def fixed_values(self) -> dict[str, Any]:
        """The active values that were not suggested: ``hp.Fixed`` ones and ``fixed`` overrides."""
        return dict(self._fixed_values)

    @property
    def inactive(self) -> list[str]:
        """The names defined only inside conditional scopes that did not hold, in first-seen order."""
        return [name for name in self._registered if name not in self._values]

    def record(self, trial: optuna.trial.BaseTrial) -> None:
        """Store the Fixed/overridden values on the trial (user attr ``hpo:fixed``), when there are any."""
        if self._fixed_values:
            trial.set_user_attr(FIXED_ATTR, dict(self._fixed_values))

    def __getattr__(self, name: str) -> NoReturn:
        # Only reached for attributes the class does not have.
        if name.startswith("_"):
            raise AttributeError(name)
        raise UnsupportedHyperParameterError(f"{self._key}: hp.{name} is not supported by hpo; supported: {SUPPORTED}")

    def __repr__(self) -> str:
        mode = "defaults" if self._trial is None else f"trial {getattr(self._trial, 'number', '?')}"
        return f"TrialHyperParameters({mode}, values={self._values!r})"

    # ------------------------------------------------------------------ internals

    def _retrieve(self, name: str, spec: _Spec, parent_name: str | None, parent_values: Any) -> Any:
        where = self._where(spec.kind, name)
        one_off = self._one_off_condition(parent_name, parent_values, where)
        conditions = tuple(self._conditions) + one_off
        for condition in conditions:
            if condition.parent == name:
                self._bad(where, f"a conditional hyperparameter cannot have the name of its parent {name!r}")
        registrations = self._registered.setdefault(name, [])
        same_place = [reg for reg in registrations if reg.conditions == conditions]
        for reg in same_place:
            if reg.spec != spec:
                self._conflict(where, reg.spec, spec)
        if not same_place:
            registrations.append(_Registration(spec, conditions))
        if not self._holds(conditions):
            return None  # keras_tuner: inactive hyperparameters have no value
        if name in self._values:
            if self._value_specs[name] != spec:
                self._conflict(where, self._value_specs[name], spec)
            return self._values[name]
        if name in self._overrides:
            value = self._overrides[name]
            self._fixed_values[name] = value
        elif spec.kind == "Fixed":
            value = spec.default
            self._fixed_values[name] = value
        elif self._trial is None:
            value = spec.default
        else:
            value = self._suggest(self._trial, name, spec, where)
        self._values[name] = value
        self._value_specs[name] = spec
        return value

    def _suggest(self, trial: optuna.trial.BaseTrial, name: str, spec: _Spec, where: str) -> Any:
        try:
            if spec.grid is not None:
                return trial.suggest_categorical(name, spec.grid)
            if spec.kind == "Int":
                lo, hi, step = spec.arg("min_value"), spec.arg("max_value"), spec.arg("step") or 1
                hi = lo + (hi - lo) // step * step  # keras_tuner's last point; spares optuna's warning
                return trial.suggest_int(name, lo, hi, step=step, log=spec.arg("sampling") == "log")
            if spec.kind == "Float":
                log = spec.arg("sampling") == "log"
                lo, hi, step = spec.arg("min_value"), spec.arg("max_value"), spec.arg("step")
                return trial.suggest_float(name, lo, hi, step=step, log=log)
            if spec.kind == "Choice":
                return trial.suggest_categorical(name, spec.arg("values"))
            return trial.suggest_categorical(name, (False, True))  # Boolean
        except ValueError as e:  # e.g. the study already holds trials where this name had other choices
            self._bad(where, f"{spec.describe()} refused by optuna: {_one_line(str(e))}")

    def _holds(self, conditions: tuple[_Condition, ...]) -> bool:
        return all(condition.holds(self._values) for condition in conditions)

    def _condition(self, parent_name: Any, parent_values: Any, where: str) -> _Condition:
        parent = str(parent_name)
        if parent not in self._registered:
            self._bad(where, f"parent hyperparameter {parent!r} is not defined yet; define it before its scope")
        values = list(parent_values) if isinstance(parent_values, list | tuple) else [parent_values]
        return _Condition(parent, self._choices(values, where, what="parent_values"))

    def _one_off_condition(self, parent_name: Any, parent_values: Any, where: str) -> tuple[_Condition, ...]:
        if parent_name is None and parent_values is None:
            return ()
        if parent_name is None or parent_values is None:
            self._bad(where, "parent_name and parent_values go together; give both or neither")
        return (self._condition(parent_name, parent_values, where),)

    def _choices(self, values: Any, where: str, *, what: str) -> tuple[Any, ...]:
        """keras_tuner's checks on Choice values and Parent values: non-empty, one type of str/int/float/bool."""
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            self._bad(where, f"{what} must be a list, got {type(values).__name__}")
        if not values:
            self._bad(where, f"{what} must not be empty")
        types = {type(v) for v in values}
        if len(types) > 1:
            self._bad(where, f"{what} must all be one type, got {', '.join(sorted(t.__name__ for t in types))}")
        if not isinstance(values[0], str | int | float | bool):
            self._bad(where, f"{what} must be str, int, float or bool, got {type(values[0]).__name__}")
        return tuple(self._standardise(v, values[0]) for v in values)

    @staticmethod
    def _standardise(value: Any, like: Any) -> Any:
        """keras_tuner's standardisation on the type of the first value: str -> str, int -> int."""
        if isinstance(like, str):
            return str(value)
        if isinstance(like, int) and not isinstance(like, bool) and isinstance(value, int | float):
            return int(value)
        return value

    def _sampling(
        self, sampling: str | None, lo: float, hi: float, step: float | None, where: str, *, unit_log_step: bool = False
    ) -> str:
        """The sampling mode, after keras_tuner's checks; ``unit_log_step``: Int accepts log with step=1 (plain log)."""
        if lo > hi:
            self._bad(where, f"min_value {lo} is greater than max_value {hi}")
        mode = "linear" if sampling is None else str(sampling).lower()
        if mode == "reverse_log":
            self._bad(where, "sampling='reverse_log' is not supported by hpo; use 'linear' or 'log'")
        if mode not in _SAMPLINGS:
            self._bad(where, f"sampling must be 'linear' or 'log', got {sampling!r}")
        if mode == "log" and lo <= 0:
            self._bad(where, f"sampling='log' needs min_value > 0, got {lo}")
        if mode == "log" and step is not None and (step < 1 or (step == 1 and not unit_log_step)):
            self._bad(where, f"sampling='log' multiplies by step, so step must be > 1, got {step}")
        return mode

    @staticmethod
    def _grid_size(lo: float, hi: float, step: float) -> int:
        """keras_tuner's count of points min * step**i <= max."""
        return int(math.log(hi / lo, step) + _LOG_STEP_TOLERANCE) + 1

    def _integer(self, value: Any, arg: str, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self._bad(where, f"{arg} must be an int, got {value!r}")
        if int(value) != value:
            self._bad(where, f"{arg} must be an int, got {value!r}")
        return int(value)

    def _real(self, value: Any, arg: str, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self._bad(where, f"{arg} must be a finite number, got {value!r}")
        return float(value)

    def _where(self, kind: str, name: Any) -> str:
        return f"{self._key}: hp.{kind}({str(name)!r})"

    def _conflict(self, where: str, old: _Spec, new: _Spec) -> NoReturn:
        self._bad(where, f"already defined as {old.describe()}, now {new.describe()}; a name keeps one definition")

    @staticmethod
    def _bad(where: str, message: str) -> NoReturn:
        raise ConfigError(f"{where}: {message}")


def build_with_hp(
    fn: Callable[[TrialHyperParameters], Any],
    trial: optuna.trial.BaseTrial | None,
    *,
    ref_text: str,
    fixed: Mapping[str, Any] | None = None,
    key: str = "model.keras_tuner",
) -> tuple[Any, TrialHyperParameters]:
    """Call ``fn(hp)`` with an ``hp`` on ``trial``; return what it built and the ``hp``.

    An exception from the user's code becomes a one-line ConfigError
    (``model.keras_tuner: tuned.py:build_model raised ValueError: ...``, chained);
    ``optuna.TrialPruned`` and hpo's own errors pass through unchanged.
    The returned model is not checked here.
    """
    import optuna

    hp = TrialHyperParameters(trial, fixed, key=key)
    try:
        built = fn(hp)
    except (optuna.TrialPruned, HpoError):
        raise
    except USER_ERRORS as e:
        raise ConfigError(f"{key}: {ref_text} {what_it_did(e)}") from e
    return built, hp
