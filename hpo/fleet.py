"""Several worker processes from one command: one (or M) per GPU, or K on the CPU.

The parent imports no Keras. Each child is a plain ``hpo worker`` with its GPU chosen
through ``CUDA_VISIBLE_DEVICES`` before Keras loads, memory growth on (so several can
share a card), and its own ``--worker-id`` (so the samplers' seeds differ). The parent
prefixes the children's lines, forwards Ctrl-C/SIGTERM to them, says how each ended,
and fails if any child failed for a reason of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO

from hpo.errors import ConfigError, HpoError

GPU_ENV = "HPO_GPU"  # in a --gpus child: the GPU it was given


def gpu_warning() -> str | None:
    """In a --gpus child, once Keras is loaded: a warning if its backend sees no GPU (a wrong
    index, no driver, a CPU-only build), which would otherwise train on the CPU unannounced."""
    gpu = os.environ.get(GPU_ENV)
    if gpu is None:
        return None
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        seen = any(d.platform == "gpu" for d in jax.devices())
    elif backend == "torch":
        import torch

        seen = torch.cuda.is_available()
    else:
        import tensorflow as tf

        seen = bool(tf.config.list_physical_devices("GPU"))
    if seen:
        return None
    return (f"--gpus {gpu}: the {backend} backend sees no GPU (CUDA_VISIBLE_DEVICES={gpu}); this worker trains on "
            "the CPU (`nvidia-smi -L` lists the GPUs and their indices)")


@dataclass(frozen=True)
class Slot:
    worker_id: int
    gpu: str | None  # None: CPU only

    @property
    def name(self) -> str:
        return f"w{self.worker_id}" + (f"/gpu{self.gpu}" if self.gpu is not None else "/cpu")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.gpu is None:
            env["CUDA_VISIBLE_DEVICES"] = "-1"  # hide every GPU from TensorFlow, JAX and torch
            env["JAX_PLATFORMS"] = "cpu"
        else:
            env["CUDA_VISIBLE_DEVICES"] = self.gpu
            env[GPU_ENV] = self.gpu  # so the child can say so if its backend then sees no GPU
            # Grow GPU memory on demand instead of grabbing the whole card, so workers can share it.
            env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
            env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        return env


def parse_gpus(text: str) -> list[str]:
    gpus = [g.strip() for g in text.split(",")]
    if not all(g.isdigit() for g in gpus):  # an empty entry too (0,,1): a typo, not "no GPU"
        raise ConfigError(f"--gpus: expected GPU indices like 0,1,2,3, got {text!r}")
    if len(set(gpus)) != len(gpus):
        raise ConfigError(f"--gpus: {text!r} names a GPU twice; use --per-gpu to run several on one")
    return gpus


def plan(gpus: str | None, per_gpu: int, workers: int | None, first_id: int) -> list[Slot]:
    if gpus is not None and workers is not None:
        raise ConfigError("--gpus and --workers: pick one (GPU workers, or CPU workers)")
    if gpus is not None:
        ids = parse_gpus(gpus)
        return [Slot(first_id + i, g) for i, g in enumerate(g for g in ids for _ in range(per_gpu))]
    return [Slot(first_id + i, None) for i in range(workers or 1)]


class _Forwarder:
    """Passes SIGINT/SIGTERM on to every child, once each."""

    def __init__(self, children: list[subprocess.Popen[str]]) -> None:
        self.children = children
        self.signalled: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signalled = signum
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signum)


def _pump(stream: IO[str], prefix: str, out: IO[str], last: list[str]) -> None:
    for line in stream:
        out.write(f"[{prefix}] {line}")
        out.flush()
        if line.strip():
            last.append(line.strip())
            del last[:-3]


def run_fleet(
    slots: Sequence[Slot], child_args: Sequence[str], *, log: Callable[[str], None] | None = None
) -> int:
    """Start one ``hpo worker`` per slot and supervise them; returns the exit code."""
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    children: list[subprocess.Popen[str]] = []
    threads: list[threading.Thread] = []
    tails: list[list[str]] = []
    forward = _Forwarder(children)
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for slot in slots:
            argv = [sys.executable, "-P", "-m", "hpo.cli", "worker", *child_args,
                    "--worker-id", str(slot.worker_id)]
            # Own session: a terminal's Ctrl-C reaches the parent only, which forwards it once.
            child = subprocess.Popen(argv, env=slot.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)
            children.append(child)
            for stream, out in ((child.stdout, sys.stdout), (child.stderr, sys.stderr)):
                tail: list[str] = []
                tails.append(tail)
                assert stream is not None
                t = threading.Thread(target=_pump, args=(stream, slot.name, out, tail), daemon=True)
                t.start()
                threads.append(t)
            say(f"started worker {slot.name} (pid {child.pid})")
        for child in children:
            while True:
                try:
                    child.wait()
                    break
                except InterruptedError:
                    continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for t in threads:
        t.join(timeout=5)
    failed = []
    for i, (slot, child) in enumerate(zip(slots, children, strict=True)):
        code = child.returncode
        last = (tails[2 * i + 1] or tails[2 * i] or [""])[-1]
        how = "finished" if code == 0 else "interrupted" if code in (130, -signal.SIGINT, -signal.SIGTERM) \
            else f"failed (exit {code})"
        say(f"worker {slot.name}: {how}" + (f": {last}" if code != 0 and last else ""))
        stopped_by_us = forward.signalled is not None and how == "interrupted"
        if code != 0 and not stopped_by_us:
            failed.append(slot.name)
    if failed:
        raise HpoError(f"{len(failed)} of {len(slots)} workers failed: {', '.join(failed)}")
    return 130 if forward.signalled is not None else 0
