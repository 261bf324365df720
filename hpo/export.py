"""Best trial -> a self-describing JSON config (``hpo train`` turns it into a model: hpo.train).

Exporting imports no Keras: it reads the study only.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo import __version__
from hpo.errors import ConfigError, HpoError
from hpo.record import (
    BASELINE_ATTR,
    BEST_EPOCH_ATTR,
    DATA_ATTR,
    SHA_ATTR,
    SPEC_ATTR,
    fixed_values,
    trivial_baseline,
)
from hpo.space import full_params, spec_from_dict
from hpo.study import pinned_spec

if TYPE_CHECKING:
    import optuna

EXPORT_KEYS = ("study", "task", "metric", "direction", "value", "params", "trial", "epochs",
               "data", "spec_sha256", "versions", "created_at")


def best_config(storage: optuna.storages.BaseStorage, name: str) -> dict[str, Any]:
    import optuna

    spec = pinned_spec(storage, name, wait_s=0)
    study = optuna.load_study(study_name=name, storage=storage)
    try:
        best = study.best_trial
    except ValueError as e:
        raise HpoError(
            f"study {name!r} has no completed trial yet; run `hpo worker --study {name}` first"
        ) from e
    keras_version, _, backend = str(best.user_attrs.get("keras", "")).partition("/")
    data_record = study.user_attrs.get(DATA_ATTR) or {}
    trivial = trivial_baseline(study.user_attrs)
    epochs = best.user_attrs.get(BEST_EPOCH_ATTR)
    return {
        "study": name,
        "task": spec.task,
        "metric": spec.metric,
        "direction": spec.direction,
        "value": best.value,
        # Exact values (not the 12-digit display form): the JSON reproduces the trial.
        "params": full_params(spec, {**fixed_values(best), **best.params}),
        "searched_params": best.params,
        "trial": best.number,
        # Train the final model for as many epochs as the best trial needed to peak.
        "epochs": int(epochs) + 1 if epochs is not None else spec.max_epochs,
        "baseline": best.user_attrs.get(BASELINE_ATTR),
        "data": dict(spec.data),
        # The file the trials trained on (a worker's --data), and what a trivial predictor scores.
        "data_file": data_record.get("file"),
        "splits": data_record.get("splits"),
        "trivial_baseline": trivial,
        "beats_trivial": beats(best.value, trivial, spec.direction),
        "ranked": ranked_trials(study, spec, limit=10),
        "spec_sha256": study.user_attrs.get(SHA_ATTR, spec.sha256),
        "spec": study.user_attrs.get(SPEC_ATTR),
        "versions": {
            "hpo": __version__,
            "optuna": optuna.__version__,
            "keras": keras_version or _installed("keras"),
            "backend": backend or os.environ.get("KERAS_BACKEND", "tensorflow"),
        },
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def beats(value: float | None, trivial: dict[str, Any] | None, direction: str) -> bool | None:
    """Whether ``value`` is better than the trivial predictor's (None: not known)."""
    from hpo.fmt import beats as better

    return None if value is None or trivial is None else better(value, float(trivial["value"]), direction)


def ranked_trials(study: optuna.Study, spec: Any, limit: int) -> list[dict[str, Any]]:
    """The best completed trials with distinct params, best first: what `hpo train --top K` trains."""
    import optuna

    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.value is not None]
    sign = 1.0 if spec.direction == "minimize" else -1.0
    done.sort(key=lambda t: sign * float(t.value or 0.0))
    seen: set[str] = set()
    ranked: list[dict[str, Any]] = []
    for t in done:
        params = full_params(spec, {**fixed_values(t), **t.params})
        key = json.dumps(params, sort_keys=True, default=str)
        if key in seen:
            continue  # a retry or a repeated baseline: the same model again adds nothing to an ensemble
        seen.add(key)
        epochs = t.user_attrs.get(BEST_EPOCH_ATTR)
        ranked.append({"trial": t.number, "value": t.value, "params": params,
                       "epochs": int(epochs) + 1 if epochs is not None else spec.max_epochs})
        if len(ranked) == limit:
            break
    return ranked


def _installed(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary name in the same folder, then rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from a dashboard container
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2, sort_keys=False) + "\n"


def read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: no such file; write one with `hpo export --out {path}`") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a JSON object from `hpo export`")
    missing = [k for k in ("task", "metric", "direction", "params", "epochs", "data")
               if k not in config]
    if missing:
        raise ConfigError(f"{path}: missing keys {', '.join(missing)}; is it from `hpo export`?")
    if config.get("spec"):
        spec_from_dict(config["spec"], source=str(path), pinned=True)  # validates params against the model
    return config
