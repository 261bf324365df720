"""Search efficiency (issue 10 item 1): how many epochs hpo's default study settings need to reach
the best value that TPE without pruning finds, on digits, faces and synthetic keypoints.

Conditions, each a real hpo study (hpo.worker.run_worker on its own SQLite file, the study file
written from search_spaces/TASK.yaml with only sampler/pruner/budget changed):

    random       random sampler, no pruning
    tpe          the study's TPE sampler, no pruning
    default      the study's TPE sampler and the study's pruner (what `hpo worker` does)
    hyperband    the study's TPE sampler, Hyperband (min_resource as the study's pruner, else 1;
                 reduction_factor 3; max_resource = max_epochs)
    coordinate   by hand: the notebooks' one-parameter-at-a-time search from the best baseline,
                 each parameter over a small grid (categorical: its choices; int/float: 4 values
                 spread over the range, log-spaced when log), trained to max_epochs unpruned,
                 keeping the best, one pass

Every condition gets the same budget in epochs (trials x max_epochs of the study file, the
equal-budget comparison of the Hyperband/ASHA literature): a pruned study runs more, shorter
trials until it has trained that many epochs. The anytime curve is the best COMPLETE value so far
against the epochs trained (all finished trials, pruned ones included) and against wall seconds
since the first trial started, in trial-finish order. A trial that would cross the budget is
not counted.

Headline, per task and seed: target = tpe's final best; e(tpe) = epochs at which tpe first got
within the tolerance of it; e(default) = epochs at which default first did; ratio = e(tpe) /
e(default) (a default that never gets there scores e(tpe) / budget, reported as an upper bound
"<"). Tolerance: accuracy-type metrics, one validation sample (1 / validation rows); other
metrics, 0.5% of the gap between the trivial baseline and the target. Median over seeds. Target:
ratio >= 3 on every task. `ratio_vs_budget` (budget / e(default)) is recorded beside it.

    python benchmarks/search_efficiency.py [--tasks digits,faces,keypoints] [--seeds 5] [--first-seed 0]
        [--trials N] [--max-epochs N] [--keypoint-rows 2000] [--keypoints-space full|small]
        [--conditions random,tpe,default,hyperband,coordinate] [--extra NAME,...]
        [--parallel-workers 4] [--parallel-task digits] [--parallel-seeds N] [--out NAME]
        [--stop-at-target]

Defaults are the issue's full settings; every reduction used for a recorded run is a flag and is
written into the JSON under "settings" and "reductions".
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import RESULTS, record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("digits", "faces", "keypoints")
CONDITIONS = ("random", "tpe", "default", "hyperband", "coordinate")
# Settings tried as candidates for new defaults (not part of the five conditions).
EXTRA: dict[str, dict[str, Any]] = {
    "sh-min1-rf3": {"pruner": {"type": "successive_halving", "min_resource": 1, "reduction_factor": 3}},
    "sh-min1-rf4": {"pruner": {"type": "successive_halving", "min_resource": 1, "reduction_factor": 4}},
    "hyperband-min1": {"pruner": {"type": "hyperband", "min_resource": 1, "reduction_factor": 3}},
    "median-w2": {"pruner": {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 2}},
    "mv-default": {"sampler": {"multivariate": True}},
    # TPE's model from the 5th trial instead of the file's 9th (the baseline and 3 random ones first).
    "default-startup4": {"sampler": {"n_startup_trials": 4}},
    "mv-sh-min1-rf3": {"sampler": {"multivariate": True},
                       "pruner": {"type": "successive_halving", "min_resource": 1, "reduction_factor": 3}},
    # Early stopping: dropped from (where the study file has it), or added to, the default, and
    # alone without a pruner.
    "default-no-es": {"early_stopping": None},
    "tpe-es2": {"pruner": {"type": "none"}, "early_stopping": {"patience": 2}},
    "default-es2": {"early_stopping": {"patience": 2}},
    "default-es3": {"early_stopping": {"patience": 3}},
    "default-es5": {"early_stopping": {"patience": 5}},
    # The default with Optuna's own rung count (a trial judged at epoch index >= rung, i.e. one
    # epoch later than the study file says): the A/B of hpo/pruners.py on the same seeds.
    "default-optuna-rungs": {"rungs_in_epochs": False},
    # The default where a tie at a rung's cut-off is pruned, not promoted (Optuna promotes every
    # trial equal to the k-th best; quantised metrics such as 1/324 accuracy steps tie often).
    "default-ties-pruned": {"ties_promoted": False},
}
ACCURACY_METRICS = ("val_accuracy", "val_acc", "val_binary_accuracy", "val_categorical_accuracy")
FINISHED = ("COMPLETE", "PRUNED")


# ------------------------------------------------------------------ study files


def study_raw(task: str, args: argparse.Namespace) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((ROOT / "search_spaces" / f"{task}.yaml").read_text())
    if args.trials:
        raw["budget"]["trials"] = args.trials
    if args.max_epochs:
        raw["budget"]["max_epochs"] = args.max_epochs
    if task == "keypoints" and args.keypoints_space == "small":
        # 96x96 inputs with up to 5 blocks of 64 -> 1024 filters take minutes per epoch on 2 CPU
        # cores: the small space caps the model size (and keeps the first notebook baseline, cut down).
        p = raw["params"]
        p["conv_blocks"] = {"type": "int", "low": 2, "high": 3}
        p["filters"] = {"type": "categorical", "choices": [8, 16]}
        p["hidden_units"] = {"type": "int", "low": 32, "high": 128, "log": True}
        p["batch_size"] = {"type": "categorical", "choices": [32, 64]}
        raw["baselines"] = [{"conv_blocks": 3, "filters": 16, "kernel_size": 3, "activation": "relu",
                             "batch_norm": True, "hidden_units": 128, "dropout": 0.5, "optimizer": "adam",
                             "learning_rate": 0.005, "batch_size": 32}]
    return raw


def condition_raw(raw: dict[str, Any], condition: str, seed: int) -> dict[str, Any]:
    """The study file of one condition: the task's file with sampler, pruner and early stopping
    replaced. Random, tpe and coordinate train every trial to max_epochs (no pruning of any kind,
    as a notebook's fit does); default and hyperband keep the study's early stopping."""
    out = yaml.safe_load(yaml.safe_dump(raw))
    if condition in ("random", "tpe", "coordinate"):
        out.pop("early_stopping", None)
    study_sampler = {k: v for k, v in raw["sampler"].items() if k != "seed"}
    tpe = {**study_sampler, "type": "tpe", "seed": seed}
    max_epochs = int(raw["budget"]["max_epochs"])
    if condition == "random":
        out["sampler"], out["pruner"] = {"type": "random", "seed": seed}, {"type": "none"}
    elif condition == "tpe":
        out["sampler"], out["pruner"] = tpe, {"type": "none"}
    elif condition == "default":
        out["sampler"] = tpe
    elif condition == "hyperband":
        min_resource = int(raw["pruner"].get("min_resource", 1))
        out["sampler"] = tpe
        out["pruner"] = {"type": "hyperband", "min_resource": min(min_resource, max_epochs - 1),
                         "reduction_factor": 3}
    elif condition == "coordinate":
        out["sampler"], out["pruner"] = {"type": "random", "seed": seed}, {"type": "none"}
    elif condition.startswith("parallel-"):
        return condition_raw(raw, condition.removeprefix("parallel-"), seed)
    else:
        extra = EXTRA[condition]
        out["sampler"] = {**tpe, **extra.get("sampler", {})}
        if "pruner" in extra:
            out["pruner"] = dict(extra["pruner"])
        if "early_stopping" in extra:
            out.pop("early_stopping", None)
            if extra["early_stopping"] is not None:
                out["early_stopping"] = dict(extra["early_stopping"])
    # A pruner rung must fall inside the (possibly reduced) epoch budget.
    pruner = out.get("pruner", {})
    if pruner.get("type") in ("hyperband", "successive_halving") and pruner.get("min_resource", 1) >= max_epochs:
        pruner["min_resource"] = 1
    # Every trial counts against an epoch budget, not a trial budget: room for enough trials.
    out["budget"]["trials"] = int(raw["budget"]["trials"]) * max_epochs
    return out


# ------------------------------------------------------------------ the coordinate search


def grid_values(p: Any, points: int = 4) -> list[Any]:
    import numpy as np

    if p.type == "categorical":
        return list(p.choices)
    low, high = float(p.low), float(p.high)
    raw = np.geomspace(low, high, points) if p.log else np.linspace(low, high, points)
    values: list[Any] = []
    for v in raw:
        if p.step:
            v = low + round((v - low) / p.step) * p.step
        v = int(round(v)) if p.type == "int" else float(f"{v:.6g}")
        if v not in values:
            values.append(v)
    return values


class Coordinate:
    """One pass of one-parameter-at-a-time search from the best baseline, fed one trial at a time."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.sign = 1.0 if spec.direction == "maximize" else -1.0
        self.best: tuple[float, dict[str, Any]] | None = None
        self.plan = list(spec.searched)
        self.index = -1
        self.todo: list[dict[str, Any]] = []

    def observe(self, params: dict[str, Any], value: float | None) -> None:
        if value is not None and math.isfinite(value) and (
                self.best is None or self.sign * value > self.sign * self.best[0]):
            self.best = (value, dict(params))

    def next(self) -> dict[str, Any] | None:
        while not self.todo:
            self.index += 1
            if self.index >= len(self.plan) or self.best is None:
                return None
            p = self.plan[self.index]
            current = self.best[1]
            if p.when and not all(current.get(k) in vs for k, vs in p.when):
                continue  # e.g. momentum while the optimizer is not sgd
            self.todo = [{**current, p.name: v} for v in grid_values(p) if v != current.get(p.name)]
        config = self.todo.pop(0)
        momentum = self.spec.param("momentum")
        if momentum is not None and momentum.when and "momentum" not in config and all(
                config.get(k) in vs for k, vs in momentum.when):
            config["momentum"] = 0.9 if momentum.low <= 0.9 <= momentum.high else (momentum.low + momentum.high) / 2
        return config


# ------------------------------------------------------------------ one run


def study_epochs(study: Any) -> int:
    total = 0
    for t in study.get_trials(deepcopy=False):
        if t.state.name in FINISHED or t.state.name == "RUNNING":
            total += int(t.user_attrs.get("epochs", len(t.intermediate_values)))
    return total


def reached(study: Any, stop_at: tuple[float, bool] | None, value: float | None) -> bool:
    """Whether a COMPLETE trial of ``study``, or the one that just returned ``value``, has reached
    ``stop_at`` = (threshold, maximize)."""
    if stop_at is None:
        return False
    threshold, maximize = stop_at
    values = [t.value for t in study.get_trials(deepcopy=False, states=(_state("COMPLETE"),))] + [value]
    return any(v is not None and math.isfinite(v) and (v >= threshold if maximize else v <= threshold)
               for v in values)


def objective_factory(budget_epochs: int, coordinate: bool,
                      stop_at: tuple[float, bool] | None = None) -> Callable[..., Any]:
    """hpo's own objective, stopped once the study (all workers) has trained ``budget_epochs``, or
    (``stop_at``) once a complete trial has reached the reference's target: what comes after that
    cannot change the epochs the condition needed to reach it."""
    from hpo.worker import _training_objective

    def make(spec: Any, data_path: str | None, context: Any) -> Any:
        real = _training_objective(spec, data_path, context)
        search = Coordinate(spec) if coordinate else None

        class Budgeted:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def __call__(self, trial: Any) -> float:
                value: float | None = None
                try:
                    value = float(cast(float, real(trial)))
                    return value
                finally:
                    study = trial.study
                    stop = study_epochs(study) >= budget_epochs or reached(study, stop_at, value)
                    if search is not None:
                        search.observe(dict(trial.params), value)
                        waiting = study.get_trials(deepcopy=False, states=(_state("WAITING"),))
                        if not waiting and not stop:
                            config = search.next()
                            if config is None:
                                stop = True
                            else:
                                study.enqueue_trial(config)
                    if stop:
                        study.stop()

        return Budgeted()

    return make


def _state(name: str) -> Any:
    """optuna's TrialState by name (optuna is imported by the worker, not at this module's import)."""
    from optuna.trial import TrialState

    return TrialState[name]


def run_one(db: Path, space: Path, budget_epochs: int, data: str | None, coordinate: bool,
            worker_id: int = 0, stop_at: tuple[float, bool] | None = None) -> None:
    from hpo.worker import run_worker

    name = yaml.safe_load(space.read_text())["name"]
    log = db.with_suffix(f".w{worker_id}.log").open("a")
    try:
        run_worker(f"sqlite:///{db}", name, space_path=str(space), data_path=data, worker_id=worker_id,
                   objective_factory=objective_factory(budget_epochs, coordinate, stop_at),
                   log=lambda line: print(line, file=log, flush=True))
    finally:
        log.close()


def prepare_study(db: Path, space: Path, extra: dict[str, Any]) -> None:
    """A condition with Optuna's own rung count: the study made as before hpo:rungs_in_epochs."""
    if extra.get("rungs_in_epochs", True):
        return
    from hpo.record import RUNGS_IN_EPOCHS_ATTR
    from hpo.space import load_spec
    from hpo.storage import open_storage
    from hpo.study import create_study

    study, _ = create_study(open_storage(f"sqlite:///{db}"), load_spec(space))
    study.set_user_attr(RUNGS_IN_EPOCHS_ATTR, False)


def promotable_strictly(value: float, competing: list[float], reduction_factor: int, direction: Any) -> bool:
    """Optuna's ``_is_trial_promotable_to_next_rung`` without promoting ties: True when fewer than
    k = max(1, n // reduction_factor) *other* trials at the rung are at least as good."""
    from optuna.study import StudyDirection

    k = max(1, len(competing) // reduction_factor)
    others = list(competing)
    others.remove(value)  # competing holds this trial's own value too
    sense = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
    return sum(1 for v in others if sense * v >= sense * value) < k


@contextlib.contextmanager
def promotion_rule(extra: dict[str, Any]) -> Iterator[None]:
    """With ``ties_promoted: False``, successive halving (and Hyperband's brackets) promote a trial
    only when fewer than k others at the rung are at least as good (Optuna: strictly better), so
    a newcomer must beat, not equal, the trials already promoted. In-process conditions only."""
    if extra.get("ties_promoted", True):
        yield
        return
    from optuna.pruners import _successive_halving as sh

    plain = sh._is_trial_promotable_to_next_rung
    setattr(sh, "_is_trial_promotable_to_next_rung", promotable_strictly)  # noqa: B010 (a module's private)
    try:
        yield
    finally:
        setattr(sh, "_is_trial_promotable_to_next_rung", plain)  # noqa: B010


def run_parallel(db: Path, space: Path, budget_epochs: int, data: str | None, workers: int,
                 stop_at: tuple[float, bool] | None = None) -> None:
    """``workers`` real worker processes (this script's --worker mode: run_worker) on one SQLite file."""
    from hpo.space import load_spec
    from hpo.storage import open_storage
    from hpo.study import create_study

    create_study(open_storage(f"sqlite:///{db}"), load_spec(space))  # made once, before the race
    threshold = "" if stop_at is None else f"{stop_at[0]!r}:{'max' if stop_at[1] else 'min'}"
    cmd = [sys.executable, __file__, "--worker", str(db), str(space), str(budget_epochs), data or "", threshold]
    procs = [subprocess.Popen([*cmd, str(i)]) for i in range(workers)]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"worker exited with {p.returncode}")


# ------------------------------------------------------------------ curves and ratios


def read_run(db: Path, budget_epochs: int) -> dict[str, Any]:
    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    maximize = study.direction.name == "MAXIMIZE"
    trials = sorted((t for t in study.get_trials(deepcopy=False) if t.state.name in FINISHED),
                    key=lambda t: t.datetime_complete or datetime.max)
    t0 = min(t.datetime_start or datetime.max for t in trials)
    points: list[list[float | None]] = []
    epochs, best, counted, pruned = 0, None, 0, 0
    for t in trials:
        e = int(t.user_attrs.get("epochs", len(t.intermediate_values)))
        if epochs + e > budget_epochs:
            break  # the trial that crosses the budget is not counted
        epochs += e
        counted += 1
        pruned += t.state.name == "PRUNED"
        if t.state.name == "COMPLETE" and t.value is not None and math.isfinite(t.value) and (
                best is None or (t.value > best if maximize else t.value < best)):
            best = t.value
        done = t.datetime_complete or t0
        points.append([epochs, round((done - t0).total_seconds(), 2),
                       None if best is None else round(best, 6)])
    return {"curve": points, "final_best": best, "epochs": epochs, "trials": counted, "pruned": pruned,
            "trials_run": len(trials), "maximize": maximize,
            "trivial": study.user_attrs.get("hpo:trivial_baseline"),
            "val_rows": study.user_attrs.get("hpo:data", {}).get("splits", {}).get("validation", {}).get("rows")}


def within(value: float, target: float, tol: float, maximize: bool) -> bool:
    """Whether ``value`` is within ``tol`` of ``target`` or better."""
    # 1e-6: a value exactly one tolerance away (one validation sample) counts, despite float32.
    return value >= target - tol - 1e-6 if maximize else value <= target + tol + 1e-6


def first_reach(curve: list[list[Any]], target: float, tol: float, maximize: bool) -> tuple[int, float] | None:
    for epochs, wall, best in curve:
        if best is not None and within(best, target, tol, maximize):
            return int(epochs), float(wall)
    return None


def tolerance(metric: str, target: float, run: dict[str, Any]) -> tuple[float, str]:
    if metric in ACCURACY_METRICS and run.get("val_rows"):
        return 1.0 / run["val_rows"], f"one validation sample (1/{run['val_rows']})"
    trivial = (run.get("trivial") or {}).get("value")
    if trivial is None:
        return 0.0, "exact (no trivial baseline recorded)"
    return 0.005 * abs(trivial - target), f"0.5% of |trivial baseline {trivial:.4g} - target|"


def compare(runs: dict[str, dict[str, Any]], metric: str, budget: int, reference: str = "tpe") -> dict[str, Any]:
    """Epochs (and wall) each condition needs to reach the reference's final best."""
    ref = runs[reference]
    target = ref["final_best"]
    tol, how = tolerance(metric, target, ref)
    ref_hit = first_reach(ref["curve"], target, tol, ref["maximize"])
    assert ref_hit is not None
    out: dict[str, Any] = {"target": target, "tolerance": tol, "tolerance_rule": how,
                           "reference_epochs": ref_hit[0], "reference_wall_s": ref_hit[1], "conditions": {}}
    for name, run in runs.items():
        hit = first_reach(run["curve"], target, tol, run["maximize"])
        out["conditions"][name] = {
            "final_best": run["final_best"], "epochs_to_target": hit and hit[0], "wall_s_to_target": hit and hit[1],
            "reached": hit is not None,
            "ratio": ref_hit[0] / (hit[0] if hit else budget),  # an upper bound when not reached
            "ratio_vs_budget": budget / (hit[0] if hit else budget),
            "wall_ratio": (ref_hit[1] / hit[1]) if hit and hit[1] else None,
            "trials": run["trials"], "pruned": run["pruned"],
        }
    return out


# ------------------------------------------------------------------ plotting


def step_at(curve: list[list[Any]], x: float, axis: int) -> float | None:
    value = None
    for point in curve:
        if point[axis] > x:
            break
        value = point[2]
    return value


def median_curve(curves: list[list[list[Any]]], axis: int, grid: list[float]) -> list[float]:
    out = []
    for x in grid:
        values = [v for c in curves if (v := step_at(c, x, axis)) is not None]
        out.append(statistics.median(values) if len(values) == len(curves) else math.nan)
    return out


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(task, r) for task, r in results["tasks"].items()]
    if results.get("parallel"):
        panels.append((f"{results['parallel']['task']} ({results['parallel']['workers']} workers)",
                       results["parallel"]))
    fig, axes = plt.subplots(len(panels), 2, figsize=(12, 3.6 * len(panels)), squeeze=False)
    for row, (title, r) in enumerate(panels):
        for col, (axis, label) in enumerate(((0, "epochs trained"), (1, "wall seconds"))):
            ax = axes[row][col]
            for cond, seeds in r["runs"].items():
                curves = [run["curve"] for run in seeds.values() if run["curve"]]
                if not curves:
                    continue
                top = max(c[-1][axis] for c in curves)
                grid = [top * i / 200 for i in range(201)]
                ax.step(grid, median_curve(curves, axis, grid), where="post", label=cond)
            ax.set_xlabel(label)
            ax.set_ylabel(f"best {r['metric']} (median over seeds)")
            ax.set_title(title)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ------------------------------------------------------------------ main


def run_task(task: str, args: argparse.Namespace, tmp: Path, conditions: list[str], seeds: list[int],
             workers: int = 1) -> dict[str, Any]:
    raw = study_raw(task, args)
    budget = int(raw["budget"]["trials"]) * int(raw["budget"]["max_epochs"])
    data = None
    if task == "keypoints":
        from hpo.data.synth import write_keypoints_csv

        data_file = tmp / "keypoints.csv"
        if not data_file.exists():
            write_keypoints_csv(data_file, args.keypoint_rows, seed=0)
        data = str(data_file)
    runs: dict[str, dict[str, Any]] = {c: {} for c in conditions}
    # tpe first: its final best is every other condition's target.
    conditions = sorted(conditions, key=lambda c: c != "tpe")
    for seed in seeds:
        stop_at: tuple[float, bool] | None = None
        for cond in conditions:
            folder = tmp / f"{task}-{cond}-{seed}-w{workers}"
            folder.mkdir()
            space = folder / f"{task}.yaml"
            space.write_text(yaml.safe_dump(condition_raw(raw, cond, seed), sort_keys=False))
            db = folder / "study.db"
            started = time.perf_counter()
            kept = Path(args.reuse) / folder.name / "study.db" if args.reuse else None
            if kept is not None and kept.exists():  # a finished study of an interrupted run: read, not rerun
                import shutil

                for part in kept.parent.glob("study.db*"):  # with its -wal: the newest commits live there
                    shutil.copy(part, folder / part.name)
            elif workers > 1:
                run_parallel(db, space, budget, data, workers, stop_at)
            else:
                prepare_study(db, space, EXTRA.get(cond, {}))
                with promotion_rule(EXTRA.get(cond, {})):
                    run_one(db, space, budget, data, coordinate=cond == "coordinate", stop_at=stop_at)
            run = read_run(db, budget)
            if cond == "tpe" and args.stop_at_target:
                tol, _ = tolerance(raw["objective"]["metric"], run["final_best"], run)
                sense = 1.0 if run["maximize"] else -1.0
                # 1e-6 as in within(): a value exactly one tolerance away counts despite float32.
                stop_at = (run["final_best"] - sense * (tol + 1e-6), run["maximize"])
            run["stopped_at_target"] = stop_at is not None and cond != "tpe"
            run["wall_s_total"] = round(time.perf_counter() - started, 1)
            runs[cond][str(seed)] = run
            print(f"  {task:<9} seed {seed} {cond:<15} best {run['final_best']!s:<10.8} epochs {run['epochs']:>4} "
                  f"trials {run['trials']:>3} (pruned {run['pruned']:>3}) {run['wall_s_total']:7.1f} s", flush=True)
    per_seed = {str(s): compare({c: runs[c][str(s)] for c in conditions}, raw["objective"]["metric"], budget)
                for s in seeds}
    summary: dict[str, Any] = {}
    for cond in conditions:
        cs = [per_seed[str(s)]["conditions"][cond] for s in seeds]
        summary[cond] = {
            "median_ratio": statistics.median(c["ratio"] for c in cs),
            "median_ratio_vs_budget": statistics.median(c["ratio_vs_budget"] for c in cs),
            "reached": sum(c["reached"] for c in cs),
            "median_final_best": statistics.median(c["final_best"] for c in cs),
            "median_epochs_to_target": statistics.median(c["epochs_to_target"] or budget for c in cs),
        }
    return {"metric": raw["objective"]["metric"], "direction": raw["objective"]["direction"],
            "budget_epochs": budget, "trials": raw["budget"]["trials"], "max_epochs": raw["budget"]["max_epochs"],
            "study_sampler": raw["sampler"], "study_pruner": raw["pruner"], "seeds": seeds,
            "runs": runs, "per_seed": per_seed, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (issue: 5)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="start at this seed (FIRST..FIRST+N-1): a seed an earlier run did not reach")
    parser.add_argument("--task-seeds", default="", help="per-task seed counts, e.g. keypoints=1 (a reduction)")
    parser.add_argument("--trials", type=int, default=0, help="trials per study; 0: the study file's budget")
    parser.add_argument("--max-epochs", type=int, default=0, help="0: the study file's max_epochs")
    parser.add_argument("--task-trials", default="", help="per-task override, e.g. keypoints=10")
    parser.add_argument("--task-max-epochs", default="", help="per-task override, e.g. keypoints=8")
    parser.add_argument("--keypoint-rows", type=int, default=2000)
    parser.add_argument("--keypoints-space", choices=("full", "small"), default="full")
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--extra", default="", help=f"extra candidate defaults: {', '.join(EXTRA)}")
    parser.add_argument("--extra-tasks", default="digits", help="tasks the extra conditions run on")
    parser.add_argument("--parallel-workers", type=int, default=4, help="0: no parallel run")
    parser.add_argument("--parallel-task", default="digits")
    parser.add_argument("--parallel-seeds", type=int, default=5)
    parser.add_argument("--parallel-conditions", default="tpe,default")
    parser.add_argument("--reason", default="", help="why the settings were reduced (recorded)")
    parser.add_argument("--out", default="search_efficiency")
    parser.add_argument("--keep", metavar="DIR", help="a new folder for the run's studies, kept afterwards "
                        "(default: a temporary folder, deleted)")
    parser.add_argument("--reuse", metavar="DIR", help="a copy of an interrupted run's temp folder: its finished "
                        "studies (TASK-CONDITION-SEED-wN/study.db) are read instead of run again")
    parser.add_argument("--stop-at-target", action="store_true",
                        help="stop every condition but tpe once it has reached tpe's target for the seed: "
                        "the ratio is unchanged, its final best and the rest of its curve are not measured")
    parser.add_argument("--worker", nargs=6, metavar=("DB", "SPACE", "BUDGET", "DATA", "STOP", "ID"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        db, space, budget, data, stop, wid = args.worker
        threshold, _, sense = stop.partition(":")
        run_one(Path(db), Path(space), int(budget), data or None, coordinate=False, worker_id=int(wid),
                stop_at=(float(threshold), sense == "max") if stop else None)
        return

    def per_task(text: str) -> dict[str, int]:
        return {k: int(v) for k, v in (item.split("=") for item in text.split(",") if item)}

    task_seeds, task_trials, task_epochs = per_task(args.task_seeds), per_task(args.task_trials), per_task(
        args.task_max_epochs)
    started = time.perf_counter()
    results: dict[str, Any] = {"tasks": {}}
    def save() -> Path:
        print()
        print(f"{'task':<22} {'condition':<15} {'median best':>11} {'reached':>8} {'epochs->target':>14} "
              f"{'ratio tpe/x':>11} {'budget/x':>9}")
        sections = [(t, r) for t, r in results["tasks"].items()]
        if "parallel" in results:
            sections.append((f"{results['parallel']['task']} x{results['parallel']['workers']} workers",
                             results["parallel"]))
        verdict: dict[str, Any] = {}
        for title, r in sections:
            n = len(r["seeds"])
            for cond, s in r["summary"].items():
                print(f"{title:<22} {cond:<15} {s['median_final_best']:11.4f} {s['reached']:>4}/{n:<3} "
                      f"{s['median_epochs_to_target']:14.0f} {s['median_ratio']:11.2f} "
                      f"{s['median_ratio_vs_budget']:9.2f}")
            if "default" in r["summary"]:
                verdict[title] = {"median_ratio": r["summary"]["default"]["median_ratio"],
                                  "holds_3x": r["summary"]["default"]["median_ratio"] >= 3.0}
        print(f"default >= 3x fewer epochs than tpe (median over seeds): {verdict}")

        full = {"seeds": 5, "first_seed": 0, "task_seeds": {}, "tasks": list(TASKS), "trials": "study file",
                "max_epochs": "study file", "task_trials": {}, "task_max_epochs": {},
                "keypoint_rows": 2000, "keypoints_space": "full", "parallel_workers": 4, "parallel_seeds": 5}
        used = {"seeds": args.seeds, "first_seed": args.first_seed, "task_seeds": task_seeds,
                "tasks": [t for t in args.tasks.split(",") if t],
                "trials": base_trials or "study file", "max_epochs": base_epochs or "study file",
                "task_trials": task_trials, "task_max_epochs": task_epochs, "keypoint_rows": args.keypoint_rows,
                "keypoints_space": args.keypoints_space, "conditions": args.conditions.split(","),
                "extra": [e for e in args.extra.split(",") if e], "extra_tasks": args.extra_tasks.split(","),
                "parallel_workers": args.parallel_workers, "parallel_task": args.parallel_task,
                "parallel_seeds": args.parallel_seeds, "parallel_conditions": args.parallel_conditions.split(","),
                "stop_at_target": args.stop_at_target}
        reductions = {k: {"issue": full[k], "used": used[k]} for k in full if full[k] != used[k]}
        results.update({
            "definitions": {
                "budget": "every condition gets trials x max_epochs epochs; pruned studies run more, shorter trials",
                "curve": "[cumulative epochs, wall seconds since the first trial started, best COMPLETE value so far]"
                         " per finished trial in finish order; the trial crossing the budget is not counted",
                "target": "tpe (no pruning) final best for the same seed",
                "ratio": "epochs tpe first reached its final best (within tolerance) / epochs the condition did; "
                         "not reached: tpe's epochs / budget, an upper bound",
                "ratio_vs_budget": "budget / epochs the condition needed to reach the target",
                "tolerance": "accuracy: one validation sample; other metrics: 0.5% of |trivial baseline - target|",
                "stop_at_target": "with --stop-at-target, conditions other than tpe stop once a complete trial "
                                  "reaches tpe's target: their ratio is exact, their final best and curve end there",
            },
            "settings": used, "reductions": reductions, "reduction_reason": args.reason,
            "verdict": verdict, "wall_seconds": round(time.perf_counter() - started, 1),
        })
        path = record(args.out, results)
        plot(results, RESULTS / f"{args.out}.png")
        return path

    with contextlib.ExitStack() as stack:
        if args.keep:  # the studies stay for optuna-dashboard or a later --reuse
            tmp = Path(args.keep)
            tmp.mkdir(parents=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hpo-search-eff-")))
        os.environ.setdefault("HPO_CACHE_DIR", str(tmp / "cache"))
        base_trials, base_epochs = args.trials, args.max_epochs
        for task in filter(None, args.tasks.split(",")):  # --tasks "": the parallel run alone
            args.trials, args.max_epochs = task_trials.get(task, base_trials), task_epochs.get(task, base_epochs)
            conditions = args.conditions.split(",")
            if args.extra and task in args.extra_tasks.split(","):
                conditions += args.extra.split(",")
            seeds = list(range(args.first_seed, args.first_seed + task_seeds.get(task, args.seeds)))
            results["tasks"][task] = run_task(task, args, tmp, conditions, seeds)
            save()  # partial results survive an interrupted run
        if args.parallel_workers > 1:
            task = args.parallel_task
            args.trials, args.max_epochs = task_trials.get(task, base_trials), task_epochs.get(task, base_epochs)
            r = run_task(task, args, tmp, args.parallel_conditions.split(","), list(range(args.parallel_seeds)),
                         workers=args.parallel_workers)
            results["parallel"] = {**r, "task": task, "workers": args.parallel_workers}
        args.trials, args.max_epochs = base_trials, base_epochs
    path = save()

    print(f"recorded {path} and {RESULTS / (args.out + '.png')}")


if __name__ == "__main__":
    main()
