"""Best trial -> a self-describing JSON config (``hpo train`` turns it into a model: hpo.train).

Exporting imports no Keras: it reads the study only.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from shlex import quote
from typing import TYPE_CHECKING, Any

from hpo import __version__
from hpo.errors import ConfigError, HpoError
from hpo.files import write_atomic as write_atomic  # re-exported: `hpo export --out` writes with it
from hpo.jsontypes import Types, type_problems
from hpo.record import (
    BASELINE_ATTR,
    BEST_EPOCH_ATTR,
    DATA_ATTR,
    EPOCHS_ATTR,
    SHA_ATTR,
    SPEC_ATTR,
    fixed_values,
    trivial_baseline,
)
from hpo.space import full_params, params_problems, spec_from_dict
from hpo.study import pinned_spec

if TYPE_CHECKING:
    import optuna

EXPORT_KEYS = ("study", "task", "metric", "direction", "value", "params", "trial", "epochs",
               "data", "spec_sha256", "versions", "created_at")


def best_config(storage: optuna.storages.BaseStorage, name: str, trial: int | None = None) -> dict[str, Any]:
    """The best trial's configuration, or trial number ``trial``'s (one from a Pareto front)."""
    import optuna

    spec = pinned_spec(storage, name, wait_s=0)
    study = optuna.load_study(study_name=name, storage=storage)
    best = chosen_trial(study, spec, trial)
    keras_version, _, backend = str(best.user_attrs.get("keras", "")).partition("/")
    data_record = study.user_attrs.get(DATA_ATTR) or {}
    trivial = trivial_baseline(study.user_attrs)
    epochs = best.user_attrs.get(BEST_EPOCH_ATTR)
    return {
        "study": name,
        "task": spec.task,
        "metric": spec.metric,
        "direction": spec.direction,
        "value": best.values[0],
        **({"objectives": [{"metric": m, "direction": d} for m, d in spec.objectives],
            "values": dict(zip(spec.metric_names, best.values, strict=True)),
            "pareto_front": [t.number for t in study.best_trials]} if spec.multi_objective else {}),
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
        "beats_trivial": beats(best.values[0], trivial, spec.direction),
        "ranked": ranked_trials(study, spec, limit=10),
        # What `hpo train` checks each epochs count against: budget.max_epochs, or more where the
        # budget was lowered after trials had trained longer (their epochs are still theirs).
        "most_epochs_trained": most_epochs_trained(study, spec),
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


def chosen_trial(study: optuna.Study, spec: Any, number: int | None) -> optuna.trial.FrozenTrial:
    """Trial ``number`` if given (it must be COMPLETE), else the best one; a multi-objective study
    has no single best, so there the number is required and the error lists the front."""
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        raise HpoError(f"study {study.study_name!r} has no completed trial yet; "
                       f"run `hpo worker --study {quote(study.study_name)}` first")
    if number is None:
        if not spec.multi_objective:
            return study.best_trial
        front = sorted(t.number for t in study.best_trials)
        raise ConfigError(f"--trial: study {study.study_name!r} has {len(spec.objectives)} objectives and no single "
                          f"best; pick one of its Pareto front with --trial N (front: {', '.join(map(str, front))}; "
                          "`hpo status` shows their values)")
    for t in study.get_trials(deepcopy=False):
        if t.number == number:
            if t.state != optuna.trial.TrialState.COMPLETE:
                raise ConfigError(f"--trial {number}: that trial is {t.state.name}, not COMPLETE; "
                                  "only a completed trial has a value and a best epoch to export")
            return t
    raise ConfigError(f"--trial {number}: study {study.study_name!r} has no trial {number} "
                      f"(trials 0-{len(study.get_trials(deepcopy=False)) - 1})")


def beats(value: float | None, trivial: dict[str, Any] | None, direction: str) -> bool | None:
    """Whether ``value`` is better than the trivial predictor's (None: not known)."""
    from hpo.fmt import beats as better

    return None if value is None or trivial is None else better(value, float(trivial["value"]), direction)


def most_epochs_trained(study: optuna.Study, spec: Any) -> int:
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return max([spec.max_epochs] + [int(t.user_attrs.get(EPOCHS_ATTR) or 0) for t in done])


def ranked_trials(study: optuna.Study, spec: Any, limit: int) -> list[dict[str, Any]]:
    """The best completed trials with distinct params, best first: what `hpo train --top K` trains."""
    import optuna

    # Several objectives: the Pareto front, by the first (trained-on) objective.
    pool = study.best_trials if spec.multi_objective else study.get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    done = [t for t in pool if t.values]
    sign = 1.0 if spec.direction == "minimize" else -1.0
    done.sort(key=lambda t: sign * float(t.values[0]))
    seen: set[str] = set()
    ranked: list[dict[str, Any]] = []
    for t in done:
        params = full_params(spec, {**fixed_values(t), **t.params})
        key = json.dumps(params, sort_keys=True, default=str)
        if key in seen:
            continue  # a retry or a repeated baseline: the same model again adds nothing to an ensemble
        seen.add(key)
        epochs = t.user_attrs.get(BEST_EPOCH_ATTR)
        ranked.append({"trial": t.number, "value": t.values[0], "params": params,
                       "epochs": int(epochs) + 1 if epochs is not None else spec.max_epochs})
        if len(ranked) == limit:
            break
    return ranked


def _installed(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def dump(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2, sort_keys=False) + "\n"


# The keys `hpo train` reads, and their JSON types: a hand edit of the wrong type is one line, not
# a traceback deep in training. (None: may be null or absent.)
_CONFIG_TYPES: Types = {
    "task": (str,), "metric": (str,), "direction": (str,), "params": (dict,), "epochs": (int,), "data": (dict,),
    "spec": (dict,), "study": (str, None), "trial": (int, None), "value": (int, float, None),
    "ranked": (list, None), "data_file": (dict, None), "trivial_baseline": (dict, None),
    "most_epochs_trained": (int, None), "spec_sha256": (str, None),
}
_RANKED_TYPES: Types = {
    "params": (dict,), "epochs": (int,), "trial": (int, None), "value": (int, float, None)}
_DATA_FILE_TYPES: Types = {"path": (str,), "sha256": (str, None)}


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:  # json.loads would keep the last silently
        raise ValueError(f"duplicate key {dupes[0]!r} in one object; keep one")
    return dict(pairs)


def read_config(path: Path, *, epochs_replaced: bool = False) -> dict[str, Any]:
    """Read and check an exported JSON: types, agreement with its pinned spec, and every param
    (of ``params`` and of each ``ranked`` trial) legal under that spec, so a hand edit cannot
    make `hpo train` build what no trial of the study could have built. ``epochs_replaced``
    (`hpo train --epochs N`): the members' own epochs counts are not used, so not checked."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicate_keys)
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: no such file; write one with `hpo export --out {path}`") from e
    except IsADirectoryError as e:
        raise ConfigError(f"{path}: is a directory; give the JSON file `hpo export --out` wrote") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError, duplicates, deep nesting
        raise ConfigError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a JSON object from `hpo export`")
    problems = type_problems(config, _CONFIG_TYPES, "")
    if isinstance(config.get("data_file"), dict):
        problems += type_problems(config["data_file"], _DATA_FILE_TYPES, "data_file.")
    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
    spec = spec_from_dict(config["spec"], source=f"{path}: spec", pinned=True)
    if config.get("spec_sha256") and config["spec_sha256"] != spec.sha256:
        # The spec bounds every other check here (params, epochs): an edit of it would widen them.
        problems.append(f"spec: edited (its SHA-256 is {spec.sha256[:12]}, the study's spec_sha256 "
                        f"{config['spec_sha256'][:12]}); export it again with `hpo export`")
    for name in ("task", "metric", "direction"):
        if config[name] != getattr(spec, name):
            problems.append(f"{name}: {config[name]!r} but the pinned spec says {getattr(spec, name)!r}; "
                            "export it again")
    members = [("", config)] + [(f"ranked[{i}].", r) for i, r in enumerate(config.get("ranked") or [])]
    most = max(spec.max_epochs, config.get("most_epochs_trained") or 0)
    for key, member in members:
        if not isinstance(member, dict):
            problems.append(f"{key[:-1]}: must be an object with params and epochs")
            continue
        kinds = type_problems(member, _RANKED_TYPES, key) if key else []
        problems += kinds
        if kinds:
            continue
        problems += params_problems(spec, member["params"], f"{key}params")
        if not epochs_replaced and not 1 <= member["epochs"] <= most:  # no trial trained longer
            problems.append(f"{key}epochs: {member['epochs']} is not in 1..{most} (the most epochs a trial of "
                            "the study trained); to train longer, pass --epochs N")
    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
    return config
