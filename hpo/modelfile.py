"""The .keras files hpo writes (checkpoints, ``hpo train``): self-contained and plain-loadable.

A saved model takes raw pixels (0-255, shape ``input_shape``) and returns what the task
means (class probabilities, keypoints in pixels): the preprocessing and decoding are
layers of the model (see ``hpo.models.factory.self_contained``). Two more things make
``keras.saving.load_model(path)`` work in a process that never imported hpo:

- the compile config (hpo's registered losses and metrics) is left out of Keras's
  ``config.json``; it goes into hpo's own entry so a resumed trial recompiles exactly;
- hpo's metadata (task, class or keypoint names, study, trial, data, splits, versions)
  is one more archive member, ``hpo.json``, which Keras ignores.

The optimizer state is still in ``model.weights.h5``: ``load_for_resume`` restores it.
Reading the metadata needs no Keras.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.errors import DataError
from hpo.files import atomic_path
from hpo.jsontypes import Types, type_problems

if TYPE_CHECKING:
    import keras

METADATA_MEMBER = "hpo.json"
FORMAT_VERSION = 1


def save_model(model: keras.Model, path: Path, metadata: dict[str, Any]) -> None:
    """Save ``model`` to ``path`` atomically (temporary name, then rename), compile config
    moved into ``hpo.json`` beside ``metadata``."""
    meta = {"hpo_model_format": FORMAT_VERSION, **metadata}
    compile_config = model.get_compile_config() if getattr(model, "compiled", False) else None
    if compile_config:
        meta["compile_config"] = compile_config
    text = json.dumps(meta, indent=1, default=_jsonable)
    # An instance attribute shadows the method for this one save: Keras writes no compile config
    # (an ensemble's members are compiled models too).
    models = _models_in(model)
    for m in models:
        object.__setattr__(m, "get_compile_config", lambda: None)
    try:
        with atomic_path(path) as tmp:  # keeps the .keras suffix Keras insists on
            model.save(tmp)
            with zipfile.ZipFile(tmp, "a") as archive:
                archive.writestr(METADATA_MEMBER, text)
    finally:
        for m in models:
            object.__delattr__(m, "get_compile_config")


def _models_in(model: Any) -> list[Any]:
    """``model`` and every model nested in it."""
    found = [model]
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "get_compile_config") and hasattr(layer, "layers"):
            found += [m for m in _models_in(layer) if all(m is not f for f in found)]
    return found


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def read_metadata(path: Path, flag: str = "--model") -> dict[str, Any]:
    """``hpo.json`` of a model hpo saved; a one-line ``DataError`` for anything else."""
    if not path.exists():
        raise DataError(f"{flag}: {path}: no such file")
    if path.is_dir():
        raise DataError(f"{flag}: {path} is a directory; give a .keras file from `hpo train`")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise DataError(f"{flag}: {path} is a zip file but not a Keras model (.keras)")
            if METADATA_MEMBER not in names:
                raise DataError(f"{flag}: {path} is a Keras model hpo did not save (no {METADATA_MEMBER}); "
                                "train one with `hpo train`")
            meta = json.loads(archive.read(METADATA_MEMBER))
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{flag}: {path} is not a Keras model file (.keras from `hpo train`)") from e
    if not isinstance(meta, dict):
        raise DataError(f"{flag}: {path}: {METADATA_MEMBER} is not an object")
    return meta


def read_model_metadata(path: Path, flag: str = "--model") -> dict[str, Any]:
    """``hpo.json`` of a model `hpo train` saved, with every key predict and evaluate read checked."""
    meta = read_metadata(path, flag)
    problems = type_problems(meta, _METADATA_TYPES, "", hint="save the model again with `hpo train`")
    if not problems and not _image_shape(meta["input"].get("shape")):
        problems.append(f"input.shape: must be [height, width, channels] of positive integers, got "
                        f"{json.dumps(meta['input'].get('shape'))[:40]}")
    if problems:
        raise DataError(f"{flag}: {path}: {METADATA_MEMBER}: {problems[0]}")
    return meta


# What predict and evaluate read from hpo.json (an edit of it must be one line, not a traceback).
_METADATA_TYPES: Types = {
    "task": (str,), "labels": (list,), "input": (dict,), "spec": (dict, None), "data": (dict, None),
    "splits": (dict, None), "members": (list, None), "tta": (str, None), "trial": (int, None),
    "study_value": (int, float, None),
}


def _image_shape(shape: Any) -> bool:
    return (isinstance(shape, list) and len(shape) == 3
            and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape))


def load_model(path: Path, flag: str = "--model", meta: dict[str, Any] | None = None
               ) -> tuple[keras.Model, dict[str, Any]]:
    """The model (uncompiled, as plain Keras loads it) and hpo's metadata (``meta``: already read
    with ``read_model_metadata``, so the archive is not opened and checked twice)."""
    meta = meta if meta is not None else read_model_metadata(path, flag)
    from hpo.quiet import import_keras_quietly

    import_keras_quietly()
    import keras

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:
        text = " ".join(str(e).split())[:200]
        raise DataError(f"{flag}: {path}: Keras cannot load it: {type(e).__name__}: {text}") from e
    takes = list(model.input_shape[1:])
    if takes != meta["input"]["shape"]:
        raise DataError(f"{flag}: {path}: {METADATA_MEMBER} says the input is {meta['input']['shape']} but the model "
                        f"takes {takes}; save the model again with `hpo train`")
    return model, meta


def load_for_resume(path: Path) -> keras.Model:
    """A checkpoint as it was when saved: compiled the same way, optimizer state restored."""
    import keras

    meta = read_metadata(path, "checkpoint")
    model = keras.saving.load_model(path, compile=False)
    if meta.get("compile_config"):
        model.compile_from_config(meta["compile_config"])  # also builds the optimizer's variables
        model.load_weights(path)  # now with the optimizer's slots (Adam moments, iterations)
    return model


OUTPUTS = {
    "classification": "class probabilities, one per label in order",
    "keypoints": "keypoint coordinates in pixels (origin top-left), one per label in order",
    "regression": "values, one per label in order",
}


def describe_model(spec: Any, dataset: Any, /, **extra: Any) -> dict[str, Any]:
    """The metadata every saved model carries: how to feed it, what it returns, where it came from."""
    from importlib import metadata

    import keras

    from hpo import __version__

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "task": spec.task,
        "labels": list(dataset.labels),
        "input": {"shape": list(dataset.image_shape), "pixels": "0-255 (the model rescales them itself)"},
        "output": OUTPUTS.get(spec.task, "values"),
        "metric": spec.metric,
        "direction": spec.direction,
        "spec_sha256": spec.sha256,
        "versions": {"hpo": __version__, "keras": keras.__version__, "backend": keras.backend.backend(),
                     "optuna": version("optuna")},
        **extra,
    }
