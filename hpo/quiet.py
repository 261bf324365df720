"""Import Keras without TensorFlow's C++ start-up chatter on stderr.

TensorFlow writes oneDNN/CUDA notices from C++ before absl logging is set up, so
TF_CPP_MIN_LOG_LEVEL cannot silence them; they would bury hpo's own one-line
messages. File descriptor 2 is pointed at /dev/null for the import only (Python
errors still surface: they are raised, not printed). HPO_TF_LOGS=1 keeps them.

Then the import's objects (about 450,000, TensorFlow's mostly) are frozen out of the
garbage collector: Keras's ``clear_session`` between trials runs ``gc.collect()``, which
took 0.75-0.9 s on 2 cores walking them, several times per trial start.
"""

from __future__ import annotations

import logging
import os
import sys

from hpo.errors import ConfigError


def import_keras_quietly() -> None:
    if "keras" not in sys.modules:
        _import_keras()
    import gc

    gc.freeze()  # what is alive now (modules, the import's objects) lives as long as the process


def _import_keras() -> None:
    try:
        _import_keras_unguarded()
    except (ImportError, ValueError) as e:
        # A misspelt or uninstalled backend: Keras raises from deep inside its import.
        raise ConfigError(_backend_problem(e)) from e


def _backend_problem(e: BaseException) -> str:
    import importlib.util

    installed = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b) is not None]
    chosen = os.environ.get("KERAS_BACKEND")
    where = f"KERAS_BACKEND={chosen!r}" if chosen else "the backend in ~/.keras/keras.json"
    why = " ".join(str(e).split()) or type(e).__name__
    return (f"{where}: Keras cannot load it ({why}); set KERAS_BACKEND to one installed here: "
            f"{', '.join(installed) or 'none (pip install tensorflow, jax or torch)'}")


def _import_keras_unguarded() -> None:
    if os.environ.get("HPO_TF_LOGS") == "1":
        import keras  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras

        # The first tensor initialises the devices, which is when a CPU-only TensorFlow
        # complains that it found no CUDA driver.
        keras.ops.convert_to_tensor(0.0)
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)
    # tf.function retracing notes: expected when every trial builds a new model.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
