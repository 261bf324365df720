"""Many worker processes on one study, cheap objectives: the storage layer under contention."""

from __future__ import annotations

import multiprocessing
import time

import optuna

from hpo.space import spec_from_dict, suggest
from hpo.storage import count_states, open_storage
from hpo.study import create_study
from hpo.worker import run_worker

SPEC = {
    "name": "race",
    "task": "classification",
    "data": {"format": "digits"},
    "objective": {"metric": "val_accuracy", "direction": "maximize"},
    "budget": {"trials": 200, "max_epochs": 3},
    "sampler": {"type": "random", "seed": 0},
    "pruner": {"type": "none"},
    "params": {"dropout": {"type": "float", "low": 0.0, "high": 0.5},
               "filters": {"type": "int", "low": 8, "high": 64}},
}


def _work(url: str, worker_id: int) -> None:
    spec = spec_from_dict(SPEC)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, spec)
        time.sleep(0.01)
        return float(params["dropout"])

    run_worker(url, "race", worker_id=worker_id, objective_factory=lambda s, d, c: objective, log=lambda _: None)


def test_workers_never_share_a_trial_nor_trip_on_locks(storage_url: str) -> None:
    workers = 8  # x 200 short trials
    storage = open_storage(storage_url)
    study, _ = create_study(storage, spec_from_dict(SPEC))
    # Twenty queued configurations: every worker races to claim them at once.
    queued = [{"dropout": round(0.01 * i, 2), "filters": 8 + i} for i in range(20)]
    for params in queued:
        study.enqueue_trial(params)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_work, args=(storage_url, i)) for i in range(workers)]
    for p in procs:
        p.start()
    try:
        deadline = time.monotonic() + 240
        for p in procs:
            p.join(max(deadline - time.monotonic(), 0))
        # No deadlock (all joined in time), no "database is locked", no trial claimed twice.
        assert [p.exitcode for p in procs] == [0] * workers
    finally:
        for p in procs:  # a failed run must not leave 8 workers loading the machine for later tests
            if p.is_alive():
                p.kill()
                p.join(10)
    counts = count_states(storage, study._study_id)
    assert counts["COMPLETE"] == 200 and counts["RUNNING"] == 0 and counts["WAITING"] == 0
    trials = study.get_trials(deepcopy=False)
    ran = [t.params for t in trials if t.state.name == "COMPLETE"]
    for params in queued:
        assert ran.count(params) == 1
    assert len({t.number for t in trials}) == len(trials)
