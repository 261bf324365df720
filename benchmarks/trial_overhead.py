"""What an hpo trial costs beyond the training itself: the study's baseline trained as an hpo
trial (hpo.objective.Objective on a SQLite study, checkpoints to the artifact store, pruning
callback, recorder) vs. a bare `model.fit` of the same model (built and compiled by the same
code, after freeing the last model with the same clear_session, all inside the timing) on the
same arrays for the same epochs. Each repeat runs the three once, in reverse order every other
repeat. Alternating repeats; the
ratio is the median of each repeat's hpo/bare (issue 10 target: <= 1.05). Two hpo runs: the default checkpoint interval
(HPO_CHECKPOINT_INTERVAL, 30 s) and a checkpoint after every epoch (interval 0, hpo 0.1's way).

    python benchmarks/trial_overhead.py [--study digits] [--epochs 15] [--repeats 3] [--rows N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--study", default="digits", choices=("digits", "keypoints"))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1000, help="keypoints: synthetic rows")
    args = parser.parse_args()

    import dataclasses

    from hpo.quiet import import_keras_quietly

    import_keras_quietly()  # as the worker does (it also freezes the import's objects out of the gc)
    import keras
    import optuna

    from hpo.data.datasets import load_dataset
    from hpo.models.factory import build_model, reset_keras
    from hpo.objective import Objective
    from hpo.space import augment_of, load_spec, suggest
    from hpo.storage import open_artifact_store, open_storage
    from hpo.study import create_study
    from hpo.tasks import FlipAugmented, get_task

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        spec = load_spec(ROOT / "search_spaces" / f"{args.study}.yaml")
        data_path = None
        if args.study == "keypoints":
            from hpo.data.synth import write_keypoints_csv

            data_path = tmp / "training.csv"
            write_keypoints_csv(data_path, args.rows, seed=0)
        spec = dataclasses.replace(spec, max_epochs=args.epochs, trials=10 * args.repeats + 10,
                                   pruner={"type": "none"})
        dataset = load_dataset(spec.data, path_override=data_path, task=spec.task)
        baseline = spec.baselines[0]
        url = f"sqlite:///{tmp / 'bench.db'}"
        storage = open_storage(url, heartbeat=True)
        create_study(storage, spec)
        # No pruner: every run trains all its epochs (optuna's default would be a median pruner).
        study = optuna.load_study(study_name=spec.name, storage=storage, pruner=optuna.pruners.NopPruner())
        import os

        os.environ.pop("HPO_CHECKPOINT_INTERVAL", None)
        objective = Objective(spec, dataset, open_artifact_store(url))
        os.environ["HPO_CHECKPOINT_INTERVAL"] = "0"
        every_epoch = Objective(spec, dataset, open_artifact_store(url))
        interval = objective.checkpoint_interval
        params = suggest(optuna.trial.FixedTrial(baseline), spec)

        def bare() -> float:
            # Inside the timing, as hpo.training.fit does it: whoever trains models one after another
            # in one process frees the last one first (clear_session), or runs out of memory.
            started = time.perf_counter()
            reset_keras()
            keras.utils.set_random_seed(0)
            model = build_model(spec, params, dataset.image_shape, dataset.n_outputs)
            # The same feed as hpo.training.fit: arrays, or flip-augmented batches for keypoints.
            task = get_task(spec.task, augment_of(params))
            width = dataset.image_shape[1]
            y_train, y_val = task.targets(dataset.y_train, width), task.targets(dataset.y_val, width)
            batch = int(params["batch_size"])
            if task.flips_targets:
                model.fit(FlipAugmented(dataset.x_train, y_train, batch, task, 0), epochs=args.epochs,
                          validation_data=(dataset.x_val, y_val), shuffle=True, verbose=0)
            else:
                model.fit(dataset.x_train, y_train, batch_size=batch, epochs=args.epochs,
                          validation_data=(dataset.x_val, y_val), shuffle=True, verbose=0)
            return time.perf_counter() - started

        def trial(run: Objective = objective) -> float:
            study.enqueue_trial(baseline)
            started = time.perf_counter()
            study.optimize(run, n_trials=1)
            return time.perf_counter() - started

        bare(), trial()  # warm-up: imports, tracing, thread pools
        runs: dict[str, list[float]] = {"bare model.fit": [], "hpo trial": [], "hpo, checkpoint every epoch": []}
        order = [("bare model.fit", bare), ("hpo trial", trial),
                 ("hpo, checkpoint every epoch", lambda: trial(every_epoch))]
        for repeat in range(args.repeats):
            # Every other repeat runs in reverse order: a run that always came second would carry
            # whatever the first left behind (memory, a slower core) and the drift within the repeat.
            for name, run in order if repeat % 2 == 0 else order[::-1]:
                runs[name].append(run())
    medians = {k: statistics.median(v) for k, v in runs.items()}
    # The machine's speed drifts between repeats (a shared VM: the same bare fit varied 20% in one
    # run), so the headline is the median of each repeat's own ratio: runs seconds apart, not minutes.
    pairs = {k: [h / b for h, b in zip(v, runs["bare model.fit"], strict=True)] for k, v in runs.items()}
    ratio = statistics.median(pairs["hpo trial"])
    ratio_every = statistics.median(pairs["hpo, checkpoint every epoch"])
    backend = keras.backend.backend()
    print(f"{'run':<28} {'median s':>9}  {'ratio':>6} {'min-max ratio':>14}  (study {args.study}, {args.epochs} "
          f"epochs, {args.repeats} repeats, {backend})")
    for k, v in medians.items():
        print(f"{k:<28} {v:9.3f}  {statistics.median(pairs[k]):6.3f} {min(pairs[k]):6.3f}-{max(pairs[k]):.3f}")
    of_medians = medians["hpo trial"] / medians["bare model.fit"]
    print(f"ratio hpo/bare (median of per-repeat ratios): {ratio:.3f} (checkpoint interval {interval:g} s); "
          f"every epoch: {ratio_every:.3f}; ratio of the medians: {of_medians:.3f}")
    path = record(f"trial_overhead_{args.study}" + ("" if backend == "tensorflow" else f"_{backend}"), {
        "study": args.study, "epochs": args.epochs, "repeats": args.repeats, "backend": backend,
        "runs_s": runs, "medians_s": medians, "per_repeat_ratios": pairs,
        "ratio": "median over repeats of (hpo run / the bare fit of the same repeat)",
        "ratio_hpo_over_bare": ratio, "ratio_every_epoch_checkpoint_over_bare": ratio_every,
        "ratio_of_medians_hpo_over_bare": of_medians, "order": "bare, hpo, every epoch; reversed on odd repeats",
        "checkpoint_interval_s": interval, "params": params,
        "rows": len(dataset.x_train) + len(dataset.x_val),
    })
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
