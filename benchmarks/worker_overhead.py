"""Per-trial overhead of `hpo worker` vs plain `study.optimize`, same SQLite storage, no training.

Both sides sample the same search space (search_spaces/keypoints.yaml) with the same
sampler and return a cheap function of the params, so what differs is hpo's loop:
heartbeats, the shared-budget checks, the per-trial log line. Reported as a ratio
of median seconds per trial (target <= 1.1).

    python benchmarks/worker_overhead.py [--trials 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record  # noqa: E402

from hpo.space import load_spec, suggest  # noqa: E402
from hpo.storage import open_storage  # noqa: E402
from hpo.study import make_pruner, make_sampler  # noqa: E402
from hpo.worker import run_worker  # noqa: E402

SPACE = Path(__file__).resolve().parent.parent / "search_spaces" / "keypoints.yaml"


def cheap(params: dict) -> float:
    return float(params["dropout"]) + float(params["learning_rate"]) * 10


def plain_optuna(url: str, trials: int) -> float:
    spec = load_spec(SPACE)
    started = time.perf_counter()
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    study = optuna.create_study(study_name="keypoints", storage=storage, direction="minimize",
                                sampler=make_sampler(spec), pruner=make_pruner(spec))
    study.optimize(lambda t: cheap(suggest(t, spec)), n_trials=trials)
    return (time.perf_counter() - started) / trials


def hpo_worker(url: str, trials: int) -> float:
    raw = yaml.safe_load(SPACE.read_text())
    raw["budget"]["trials"] = trials  # the study budget must not stop the run early
    space = Path(url.removeprefix("sqlite:///")).with_suffix(".yaml")
    space.write_text(yaml.safe_dump(raw))
    started = time.perf_counter()
    report = run_worker(url, "keypoints", trials=trials, space_path=str(space),
                        objective_factory=lambda spec, _d, _u: lambda t: cheap(suggest(t, spec)),
                        log=lambda line: None)
    assert report.ran == trials, report
    return (time.perf_counter() - started) / trials


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runs: dict[str, list[float]] = {"optuna": [], "hpo": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):  # alternate, so drift on the machine hits both alike
            for name, fn in (("optuna", plain_optuna), ("hpo", hpo_worker)):
                url = f"sqlite:///{tmp}/{name}-{i}.db"
                open_storage(url).engine.dispose()  # schema creation is not per-trial cost
                runs[name].append(fn(url, args.trials))
    medians = {k: statistics.median(v) for k, v in runs.items()}
    ratio = medians["hpo"] / medians["optuna"]
    print(f"{'runner':<8} {'ms/trial (median)':>18}  runs")
    for name, values in runs.items():
        print(f"{name:<8} {medians[name] * 1000:>18.2f}  {', '.join(f'{v * 1000:.2f}' for v in values)}")
    print(f"ratio hpo/optuna: {ratio:.3f} (target <= 1.1)")
    path = record("worker_overhead", {
        "trials_per_run": args.trials, "repeats": args.repeats, "storage": "sqlite (file)",
        "seconds_per_trial": runs, "median_seconds_per_trial": medians, "ratio_hpo_over_optuna": ratio,
        "target": "<= 1.1",
    })
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
