"""Replay pruner and early-stopping settings on the learning curves of a study that pruned nothing.

``search_efficiency.py`` runs each candidate default as a live study, and every rung decision it
makes changes what TPE samples next: one seed is one draw of a chaotic path, and five seeds could
not tell the candidates apart (README, "Benchmarks"). This holds the configurations fixed instead,
as the tabular benchmarks of the Hyperband literature do: it takes a kept TPE-without-pruning study
(``search_efficiency.py --keep DIR``; every trial trained to ``max_epochs``, its whole validation
curve stored) and feeds its trials, in the order TPE proposed them, through hpo's own pruner
(``hpo.study.make_pruner``, rungs in epochs trained) and early stopping
(``hpo.objective.early_stopping_callbacks``) in a fresh in-memory study, epoch by epoch, exactly as
a trial's fit calls them. A pruned or stopped trial costs the epochs it trained; its value is its
best epoch's, as in a real trial.

What it answers: on the configurations TPE actually found, how many epochs each setting needs to
reach TPE's final best (within one validation sample for accuracy, as search_efficiency), and how
often it prunes the trial that would have reached it. What it leaves out: a live pruned study
spends the epochs it saves on further configurations, and TPE reacts to pruned trials; a setting
that prunes the winner scores "never" here where a live run might find another. So read the ratio
as what the pruner's decisions cost or save on a fixed stream, not as a live study's result.

    python benchmarks/pruning_replay.py /tmp/keep/digits-tpe-*/ [--out pruning_replay_digits]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import record  # noqa: E402
from search_efficiency import EXTRA, read_run, tolerance, within  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
JUDGED_AT = (1, 2, 3, 6)  # epochs at which the oracle and the rank correlation look


def settings_grid(study_file: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Candidate (pruner, early_stopping) pairs: the study file's own first, then a grid."""
    grid: dict[str, dict[str, Any]] = {
        "file's own": {"pruner": study_file.get("pruner", {"type": "median"}),
                       "early_stopping": study_file.get("early_stopping")},
    }
    patience: dict[str, dict[str, int] | None] = {"": None, "+es2": {"patience": 2}, "+es3": {"patience": 3},
                                                  "+es5": {"patience": 5}}
    for es_name, es in patience.items():
        grid[f"none{es_name}"] = {"pruner": {"type": "none"}, "early_stopping": es}
        for min_resource in (1, 2, 3):
            for eta in (2, 3, 4):
                grid[f"sh-min{min_resource}-rf{eta}{es_name}"] = {
                    "pruner": {"type": "successive_halving", "min_resource": min_resource, "reduction_factor": eta},
                    "early_stopping": es}
            grid[f"hyperband-min{min_resource}{es_name}"] = {
                "pruner": {"type": "hyperband", "min_resource": min_resource, "reduction_factor": 3},
                "early_stopping": es}
        grid[f"median-w2{es_name}"] = {"pruner": EXTRA["median-w2"]["pruner"], "early_stopping": es}
    return grid


def source_trials(db: Path) -> tuple[str, list[list[float]]]:
    """The study's name and its finished trials' validation curves, in the order they were proposed."""
    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    curves = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if t.state.name == "COMPLETE" and t.intermediate_values:
            curves.append([t.intermediate_values[s] for s in sorted(t.intermediate_values)])
    return summary.study_name, curves


def replay(name: str, study_file: dict[str, Any], setting: dict[str, Any], curves: list[list[float]]
           ) -> list[tuple[int, float | None, bool]]:
    """Each trial's (epochs trained, value or None when pruned, pruned) under ``setting``."""
    import optuna

    from hpo.objective import ResumingPruningCallback, early_stopping_callbacks
    from hpo.space import spec_from_dict
    from hpo.study import make_pruner

    raw = yaml.safe_load(yaml.safe_dump(study_file))
    raw["pruner"] = dict(setting["pruner"])
    raw.pop("early_stopping", None)
    if setting["early_stopping"]:
        raw["early_stopping"] = dict(setting["early_stopping"])
    spec = spec_from_dict(raw, source="replay", base_dir=ROOT / "search_spaces")
    # The source study's name: Hyperband assigns brackets by hashing it with the trial number.
    direction = optuna.study.StudyDirection.MAXIMIZE if spec.direction == "maximize" else (
        optuna.study.StudyDirection.MINIMIZE)
    study = optuna.create_study(study_name=name, direction=direction, pruner=make_pruner(spec))
    sign = 1.0 if spec.direction == "maximize" else -1.0
    out = []
    for curve in curves:
        trial = study.ask()
        callbacks = [ResumingPruningCallback(trial, spec.metric, set()), *early_stopping_callbacks(spec, ())]
        model = SimpleNamespace(stop_training=False)  # what the callbacks touch of a Keras model
        for cb in callbacks:
            cb.set_model(model)
            cb.on_train_begin()
        best, trained, pruned = None, 0, False
        for epoch, value in enumerate(curve):  # as Keras calls them at each epoch's end
            trained += 1
            best = value if best is None or sign * value > sign * best else best
            try:
                for cb in callbacks:
                    cb.on_epoch_end(epoch, {spec.metric: value})
            except optuna.TrialPruned:
                pruned = True
                break
            if model.stop_training:
                break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, best)
        out.append((trained, None if pruned else best, pruned))
    return out


def oracle_epochs(curves: list[list[float]], target: float, tol: float, maximize: bool, judged_at: int = 1) -> int:
    """The least any pruning or stopping rule that judges no earlier than epoch ``judged_at`` could
    spend on this stream before a trial reaches the target: every trial before the first winner
    cut after ``judged_at`` epochs, the winner stopped at its first epoch within tolerance."""
    for i, curve in enumerate(curves):
        for epoch, value in enumerate(curve):
            if within(value, target, tol, maximize):
                return judged_at * i + epoch + 1
    raise ValueError("no trial reaches the target")


def rank_correlation(curves: list[list[float]], epoch: int) -> float:
    """Spearman's rho between the trials' values after ``epoch`` epochs and their final best: how
    well a rung there can tell the trials that end best (1: perfectly; the literature's fidelity
    correlation)."""
    from scipy.stats import spearmanr

    early = [c[epoch - 1] for c in curves]
    final = [max(c) for c in curves]
    return float(spearmanr(early, final).statistic)


def epochs_to(results: Sequence[tuple[int, float | None, bool]], target: float, tol: float, maximize: bool
              ) -> int | None:
    epochs = 0
    for trained, value, _ in results:
        epochs += trained
        if value is not None and within(value, target, tol, maximize):
            return epochs
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kept", nargs="+", help="kept no-pruning study folders (study.db and TASK.yaml inside)")
    parser.add_argument("--out", default="", help="record benchmarks/results/OUT.json")
    parser.add_argument("--budget-trials", type=int, help="the comparison's budget in trials of max_epochs "
                        "(default: the task's study file; search_efficiency's --task-trials)")
    args = parser.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    seeds: list[dict[str, Any]] = []
    for folder in map(Path, args.kept):
        (space,) = [p for p in folder.glob("*.yaml")]
        study_file = yaml.safe_load(space.read_text())
        if study_file.get("pruner", {}).get("type") != "none" or study_file.get("early_stopping"):
            sys.exit(f"{folder}: its study pruned or stopped early; give a no-pruning (tpe) study")
        name, curves = source_trials(folder / "study.db")
        own = yaml.safe_load((ROOT / "search_spaces" / f"{name}.yaml").read_text())
        max_epochs = int(study_file["budget"]["max_epochs"])
        # search_efficiency's budget: the task's trials x max_epochs, epochs trained; parallel workers
        # overshoot it by a trial or three, which the live comparison does not count either.
        budget = int(own["budget"]["trials"]) * max_epochs if args.budget_trials is None else (
            args.budget_trials * max_epochs)
        curves = curves[:budget // max_epochs]
        run = read_run(folder / "study.db", budget_epochs=budget)
        target, maximize = run["final_best"], run["maximize"]
        tol, rule = tolerance(study_file["objective"]["metric"], target, run)

        source = [(len(c), max(c) if maximize else min(c), False) for c in curves]
        ref = epochs_to(source, target, tol, maximize)
        assert ref is not None
        # Trials that reach the target on their own: pruning one of them costs the replay its hit.
        winners = [i for i, (_, v, _) in enumerate(source) if v is not None and within(v, target, tol, maximize)]
        # The floor no pruning or stopping rule can go below on this stream: every trial before the
        # first winner stopped after one epoch, the winner at the first epoch within tolerance; and
        # the same floor for rules that judge no earlier than epoch r (where ranks mean something).
        oracle = oracle_epochs(curves, target, tol, maximize)
        oracle_at = {r: ref / oracle_epochs(curves, target, tol, maximize, judged_at=r)
                     for r in JUDGED_AT if r < max_epochs}
        row: dict[str, Any] = {"folder": str(folder), "trials": len(curves), "target": target, "tolerance": tol,
                               "tolerance_rule": rule, "reference_epochs": ref, "winners": winners,
                               "oracle_epochs": oracle, "oracle_ratio": ref / oracle,
                               "oracle_ratio_judged_at": oracle_at, "settings": {}}
        sign = 1.0 if maximize else -1.0
        row["rank_correlation"] = {e: rank_correlation([[sign * v for v in c] for c in curves], e)
                                   for e in JUDGED_AT if e < max_epochs}
        for label, setting in settings_grid(own).items():
            results = replay(name, study_file, setting, curves)
            hit = epochs_to(results, target, tol, maximize)
            row["settings"][label] = {
                "setting": setting, "epochs_to_target": hit, "ratio": ref / hit if hit else None,
                "epochs_all": sum(r[0] for r in results), "pruned": sum(1 for r in results if r[2]),
                "winners_kept": sum(1 for i in winners if (v := results[i][1]) is not None
                                    and within(v, target, tol, maximize)),
            }
        seeds.append(row)
        print(f"{folder}: {len(curves)} trials, target {target:.4f} ± {tol:.4f}, reached at epoch {ref}, "
              f"winning trials {winners}; oracle {oracle} epochs ({ref / oracle:.2f}x); rank correlation with "
              "the final best after epoch " + ", ".join(f"{e}: {r:.2f}" for e, r in row["rank_correlation"].items())
              + "; oracle ratio judging at epoch " + ", ".join(f"{e}: {r:.2f}x" for e, r in oracle_at.items()))

    labels = list(seeds[0]["settings"])
    oracle_ratios = [s["oracle_ratio"] for s in seeds]
    summary: dict[str, Any] = {"oracle": {"median_ratio": statistics.median(oracle_ratios), "per_seed": oracle_ratios}}
    print(f"\noracle (every trial before the first winner cut after 1 epoch): median "
          f"{statistics.median(oracle_ratios):.2f}x, per seed " + " ".join(f"{r:.2f}" for r in oracle_ratios))
    for r in seeds[0]["oracle_ratio_judged_at"]:
        at = [s["oracle_ratio_judged_at"][r] for s in seeds]
        rho = [s["rank_correlation"][r] for s in seeds]
        summary[f"oracle_judged_at_{r}"] = {"median_ratio": statistics.median(at), "per_seed": at}
        summary[f"rank_correlation_{r}"] = {"median": statistics.median(rho), "per_seed": rho}
        print(f"judged after epoch {r}: rank correlation with the final best, median {statistics.median(rho):.2f}; "
              f"oracle ratio median {statistics.median(at):.2f}x")
    print(f"\n{'setting':<24} {'median ratio':>12} {'reached':>8} {'per seed (tpe epochs / setting epochs)':>40}")
    for label in labels:
        ratios = [s["settings"][label]["ratio"] or 0.0 for s in seeds]  # never: 0, below every ratio
        reached = sum(1 for s in seeds if s["settings"][label]["epochs_to_target"])
        per = " ".join(f"{r:.2f}" if r else "never" for r in ratios)
        summary[label] = {"median_ratio": statistics.median(ratios), "reached": reached, "per_seed": ratios}
        print(f"{label:<24} {statistics.median(ratios):12.2f} {reached:>4}/{len(seeds):<3} {per:>40}")
    if args.out:
        path = record(args.out, {"seeds": seeds, "summary": summary, "definitions": {
            "source": "kept TPE-without-pruning studies; trials replayed in number order (the order TPE proposed them)",
            "ratio": "epochs the source needed to first reach its final best (within tolerance) / epochs the "
                     "setting needed on the same trials; never = 0 in the median",
            "oracle": "every trial before the first winner stopped after 1 epoch, the winner at its first epoch "
                      "within tolerance: the least any pruning or stopping rule could spend on the stream",
            "oracle_ratio_judged_at": "the oracle, but cutting trials after r epochs instead of 1",
            "rank_correlation": "Spearman's rho between the value after r epochs and the trial's final best",
            "winners_kept": "source trials that reach the target on their own and the setting neither pruned nor "
                            "stopped before they did",
        }})
        print(f"recorded {path}")


if __name__ == "__main__":
    main()
