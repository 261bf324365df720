"""Properties of a trained model that a multi-objective study trades against its task metric.

Each is ``measure(model, x_val) -> float`` and registered by name in ``catalog.MODEL_METRICS``;
a new one is a function here and a line there.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import keras
import numpy as np

LATENCY_BATCH = 32  # images per call: a serving-sized batch, not the training batch
LATENCY_REPEATS = 5  # timed calls after one warm-up; the median is kept


def param_count(model: keras.Model, x_val: Any) -> float:
    """Trainable parameters (what ``model.summary()`` calls trainable params)."""
    return float(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def weights_mb(model: keras.Model, x_val: Any) -> float:
    """MiB of every weight, trainable or not, in its stored dtype: what the .keras file holds,
    less its few KiB of config."""
    total = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    return round(total / 2**20, 6)


def latency_ms(model: keras.Model, x_val: Any) -> float:
    """Milliseconds per image of inference on the worker's device, batch ``LATENCY_BATCH``:
    one warm-up call (tracing, compilation), then the median of ``LATENCY_REPEATS`` timed ones.
    ``predict_on_batch`` returns numpy, so each timing includes the device finishing its work."""
    batch = np.asarray(x_val[:LATENCY_BATCH])
    if len(batch) < LATENCY_BATCH:  # a tiny validation split: repeat it to a full batch
        batch = np.resize(batch, (LATENCY_BATCH, *batch.shape[1:]))
    model.predict_on_batch(batch)
    times = []
    for _ in range(LATENCY_REPEATS):
        started = time.perf_counter()
        model.predict_on_batch(batch)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000 / LATENCY_BATCH, 6)
