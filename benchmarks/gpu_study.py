"""The measurements benchmarks/gpu.sh runs (see there). Each part is a real hpo run:

1. per-epoch time of the keypoints baseline (hpo.training.fit, 2000 synthetic rows) on the GPU
   and, in a child process with CUDA_VISIBLE_DEVICES="", on the CPU; nvidia-smi sampled every
   0.2 s during the GPU fit (target >= 70 % busy);
2. the same fit under Keras's mixed_float16 policy (target >= 1.5x);
3. `hpo worker --gpus 0 --per-gpu M` for M = 1, 2, 4 on a small study: finished trials per minute.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from common import record  # noqa: E402

PARAMS = {"conv_blocks": 3, "filters": 32, "kernel_size": 3, "batch_norm": True, "hidden_units": 128,
          "dropout": 0.1, "optimizer": "adam", "learning_rate": 0.001, "batch_size": 64}


def epoch_seconds(data: Path, epochs: int, mixed: bool) -> list[float]:
    """Seconds per epoch of the keypoints baseline, after a warm-up epoch (compilation)."""
    import keras

    from hpo.data.datasets import load_dataset
    from hpo.space import spec_from_dict
    from hpo.training import fit

    if mixed:
        keras.mixed_precision.set_global_policy("mixed_float16")
    spec = spec_from_dict({"name": "gpu", "task": "keypoints", "data": {"path": str(data)},
                           "objective": {"metric": "val_rmse"}, "budget": {"max_epochs": epochs + 1},
                           "params": PARAMS})
    dataset = load_dataset(spec.data, task="keypoints")
    stamps: list[float] = []
    clock = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: stamps.append(time.perf_counter()))
    fit(spec, {**spec.defaults("cnn"), **PARAMS}, dataset, epochs=epochs + 1, callbacks=[clock])
    keras.mixed_precision.set_global_policy("float32")
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def sample_utilisation(stop: threading.Event, into: list[int]) -> None:
    while not stop.is_set():
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            into.append(int(out.stdout.split()[0]))
        time.sleep(0.2)


def per_gpu_throughput(tmp: Path, data: Path, per_gpu: int) -> float:
    space = tmp / f"pg{per_gpu}.yaml"
    space.write_text(json.dumps({
        "name": f"pg{per_gpu}", "task": "keypoints", "data": {"path": str(data)},
        "objective": {"metric": "val_rmse"}, "budget": {"trials": 4 * per_gpu, "max_epochs": 3},
        "sampler": {"type": "random", "seed": 0}, "pruner": {"type": "none"},
        "params": {**PARAMS, "filters": {"type": "categorical", "choices": [16, 32]}},
    }))
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("hpo")), "worker", "--study", f"pg{per_gpu}", "--space",
                    str(space), "--storage", f"sqlite:///{tmp / 'pg.db'}", "--gpus", "0", "--per-gpu",
                    str(per_gpu), "--quiet"], check=True, cwd=tmp)
    return 4 * per_gpu / ((time.perf_counter() - started) / 60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--cpu-only", action="store_true", help="no GPU here: run the CPU part only")
    parser.add_argument("--child-cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_cpu:  # the CPU measurement, in a process that cannot see the GPU
        print(json.dumps(epoch_seconds(Path(args.child_cpu), args.epochs, mixed=False)))
        return
    gpu = shutil.which("nvidia-smi") is not None and not args.cpu_only
    if not gpu and not args.cpu_only:
        raise SystemExit("gpu.sh: no nvidia-smi here; run it on a GPU machine, or pass --cpu-only")
    from hpo.data.synth import write_keypoints_csv

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        data = tmp / "training.csv"
        write_keypoints_csv(data, args.rows, seed=0)
        child = subprocess.run([sys.executable, __file__, "--child-cpu", str(data), "--epochs", str(args.epochs)],
                               env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True,
                               check=True)
        cpu = json.loads(child.stdout.strip().splitlines()[-1])
        results: dict[str, object] = {"rows": args.rows, "epochs": args.epochs, "params": PARAMS,
                                      "backend": os.environ.get("KERAS_BACKEND"),
                                      "cpu_epoch_s": statistics.median(cpu)}
        if gpu:
            busy: list[int] = []
            stop = threading.Event()
            sampler = threading.Thread(target=sample_utilisation, args=(stop, busy), daemon=True)
            sampler.start()
            fp32 = epoch_seconds(data, args.epochs, mixed=False)
            stop.set()
            sampler.join()
            fp16 = epoch_seconds(data, args.epochs, mixed=True)
            results.update({
                "gpu_epoch_s": statistics.median(fp32), "gpu_speedup_over_cpu": statistics.median(cpu) /
                statistics.median(fp32), "gpu_utilisation_pct_median": statistics.median(busy) if busy else None,
                "mixed_precision_epoch_s": statistics.median(fp16),
                "mixed_precision_speedup": statistics.median(fp32) / statistics.median(fp16),
                "trials_per_minute": {str(m): per_gpu_throughput(tmp, data, m) for m in (1, 2, 4)},
                "nvidia_smi": subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip(),
            })
    for key, value in results.items():
        print(f"{key:<30} {value}")
    path = record("gpu-keypoints" if gpu else "gpu-keypoints-cpu-only", results)
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
