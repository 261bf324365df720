"""Best trial -> a self-describing JSON config; that JSON -> a trained Keras model.

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
from hpo.record import BASELINE_ATTR, BEST_EPOCH_ATTR, SHA_ATTR, SPEC_ATTR, fixed_values
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
    epochs = best.user_attrs.get(BEST_EPOCH_ATTR)
    return {
        "study": name,
        "task": spec.task,
        "metric": spec.metric,
        "direction": spec.direction,
        "value": best.value,
        "params": full_params(spec, {**fixed_values(best), **best.params}),
        "searched_params": best.params,
        "trial": best.number,
        # Train the final model for as many epochs as the best trial needed to peak.
        "epochs": int(epochs) + 1 if epochs is not None else spec.max_epochs,
        "baseline": best.user_attrs.get(BASELINE_ATTR),
        "data": dict(spec.data),
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


def train_from_config(
    config_path: Path, out: Path, *, data_path: str | None = None, epochs: int | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Train the exported configuration and save the model as ``.keras``."""
    from hpo.data.cache import default_cache_dir
    from hpo.data.datasets import load_dataset

    config = read_config(config_path)
    if out.suffix != ".keras":
        raise ConfigError(f"--out: {out} must end in .keras (Keras 3's model format)")
    n_epochs = int(epochs or config["epochs"])
    if n_epochs < 1:
        raise ConfigError(f"--epochs: must be >= 1, got {n_epochs}")
    if not config.get("spec"):
        raise ConfigError(f"{config_path}: has no spec; export it again with `hpo export`")
    spec = spec_from_dict(config["spec"], source=str(config_path), pinned=True)
    dataset = load_dataset(spec.data, path_override=data_path, cache_dir=default_cache_dir(),
                           base_dir=spec.base_dir, task=spec.task)
    from hpo.quiet import import_keras_quietly

    import_keras_quietly()
    from hpo.training import fit

    # The seed the trial trained with, so the final model repeats the run that was measured.
    seed = (int(spec.sampler.get("seed") or 0) + int(config.get("trial") or 0)) % 2**31
    result = fit(spec, config["params"], dataset, epochs=n_epochs, seed=seed)
    final = {k: v[-1] for k, v in result.history.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.keras")
    try:
        # Saved uncompiled: hpo's losses and metrics stay behind, so plain Keras loads the file.
        import keras

        keras.Model(result.model.inputs, result.model.outputs, name=result.model.name).save(tmp)
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"--out: cannot write {out}: {e.strerror}") from e
    log(f"trained {n_epochs} epochs: {config['metric']}={final.get(config['metric'], float('nan')):.4g} "
        f"(study best {config.get('value')}); saved {out}")
    return final
