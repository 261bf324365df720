"""How numbers reach a person: parameters as they were suggested, and the trivial-baseline verdict.

One home for the report, ``hpo status`` and the live panel, so that none prints
``0.35000000000000003`` (what ``suggest_float(step=0.05)`` stores for 0.35). No imports
beyond the standard library: every display module may use it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

SIGNIFICANT = 12  # binary noise sits past the 15th digit; 12 keeps every value a person typed or a step made


def count(n: int, noun: str) -> str:
    """``1 trial``, ``3 trials``: a count with its noun in the right number."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def short_float(value: float) -> float:
    """``0.1 + 0.25`` -> ``0.35``: the float as it was meant, without binary noise."""
    return float(f"{value:.{SIGNIFICANT}g}") if math.isfinite(value) else value


def param_value(value: Any) -> Any:
    # bool is not a float, so True stays True; numpy floats are floats and are cleaned too.
    return short_float(float(value)) if isinstance(value, float) else value


def clean_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {name: param_value(value) for name, value in params.items()}


def param_text(value: Any) -> str:
    """One parameter value as text: ``0.35``, ``0.0001``, ``adam``, ``64``."""
    value = param_value(value)
    return repr(value) if isinstance(value, float) else str(value)


def params_json(params: Mapping[str, Any]) -> str:
    return json.dumps(clean_params(params), sort_keys=True)


def beats(value: float, other: float, direction: str) -> bool:
    return value < other if direction == "minimize" else value > other


def trivial_mark(value: float, trivial: Mapping[str, Any] | None, direction: str) -> str:
    """One trial's value (a Pareto front member's first objective) against the trivial predictor,
    in a few words: every member shown, not only the best, stands next to it."""
    if not trivial:
        return ""
    base = float(trivial["value"])
    return "beats trivial" if beats(value, base, direction) else f"does not beat trivial ({base:.4g})"


def trivial_verdict(best: float, trivial: Mapping[str, Any], direction: str) -> str:
    """How the best trial compares with the trivial predictor, said plainly either way."""
    base = float(trivial["value"])
    what = f"the trivial predictor ({trivial.get('predictor', 'trivial predictor')}, {base:.6g})"
    if not beats(best, base, direction):
        return f"the best value ({best:.6g}) does not beat {what}"
    gain = abs(best - base)
    rel = f" ({gain / abs(base) * 100:.1f}%)" if base else ""
    return f"the best value ({best:.6g}) beats {what} by {gain:.4g}{rel}"
