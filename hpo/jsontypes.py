"""Type checks for JSON that hpo wrote and a user may have edited (an export, a model's hpo.json):
each wrong or missing key is one problem line naming it, not a traceback deep in training or
prediction. No Keras: every command may import this."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["Types", "type_problems"]

# key -> the JSON types it may have; None among them: it may be null or absent.
Types = Mapping[str, tuple[type | None, ...]]

_JSON_NAMES: dict[type | None, str] = {str: "a string", dict: "an object", list: "a list", int: "an integer",
                                       float: "a number", None: "null"}


def type_problems(obj: Mapping[str, Any], types: Types, key: str, *, hint: str = "is it from `hpo export`?"
                  ) -> list[str]:
    """``KEY.NAME: missing; HINT`` or ``KEY.NAME: must be an integer, got "3"`` for each key of ``types``."""
    out = []
    for name, allowed in types.items():
        value = obj.get(name)
        if name not in obj and None not in allowed:
            out.append(f"{key}{name}: missing; {hint}")
            continue
        kinds = tuple(t for t in allowed if t is not None)
        if value is None and None in allowed or not isinstance(value, bool) and isinstance(value, kinds):
            continue  # (a JSON true is not an integer)
        wanted = " or ".join(_JSON_NAMES[t] for t in allowed)
        out.append(f"{key}{name}: must be {wanted}, got {json.dumps(value)[:40]}")
    return out
