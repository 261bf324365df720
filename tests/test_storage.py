"""The worker's running tally of a study: equal, after every change, to a full count and to
optuna's own best trial, while reading only the rows above its watermark."""

from __future__ import annotations

import math

import optuna
import pytest

from hpo.storage import TRIAL_INDEXES, StudyTally, count_states, open_storage

DIST = optuna.distributions.FloatDistribution(0.0, 1.0)


def _add(study: optuna.Study, state: str, value: float | None = None) -> int:
    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState[state], params={"x": 0.5}, distributions={"x": DIST},
        value=value if state == "COMPLETE" else None)
    study.add_trial(trial)
    return study.get_trials(deepcopy=False)[-1]._trial_id


def _check(tally: StudyTally, study: optuna.Study, direction: str) -> None:
    tally.refresh()
    assert tally.counts() == count_states(study._storage, study._study_id)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        assert tally.best() is None
        return
    top = study.best_trial
    assert tally.best() == (top.value, top.number), direction


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_tally_matches_a_full_count_and_optunas_best_as_a_study_changes(storage_url: str, direction: str) -> None:
    storage = open_storage(storage_url, heartbeat=True)
    study = optuna.create_study(study_name="tally", storage=storage, direction=direction)  # type: ignore[arg-type]
    tally = StudyTally(study, maximize=direction == "maximize")
    _check(tally, study, direction)
    _add(study, "COMPLETE", 0.5)
    _add(study, "PRUNED")
    study.enqueue_trial({"x": 0.1})  # WAITING, below later terminal trials
    _add(study, "COMPLETE", 0.7)
    _check(tally, study, direction)
    running = study.ask()  # claims the WAITING trial: RUNNING below the COMPLETE 0.7
    _add(study, "FAIL")
    _add(study, "COMPLETE", 0.2)
    _check(tally, study, direction)
    study.tell(running, 0.9)  # a trial below the tally's newest rows finishes late: still counted
    _check(tally, study, direction)
    _add(study, "COMPLETE", -math.inf if direction == "minimize" else math.inf)
    _check(tally, study, direction)
    assert math.isinf(tally.best()[0])  # type: ignore[index]


def test_tally_reads_only_the_rows_above_its_watermark(tmp_path) -> None:  # type: ignore[no-untyped-def]
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat=True)
    study = optuna.create_study(study_name="tally", storage=storage)
    tally = StudyTally(study, maximize=False)
    for i in range(200):
        _add(study, "COMPLETE", float(i))
    tally.refresh()  # the first refresh reads the study once
    assert tally._tail == []  # every trial terminal: all of them below the watermark
    running = study.ask()
    _add(study, "COMPLETE", -1.0)
    tally.refresh()
    assert tally.counts() == {"COMPLETE": 201, "RUNNING": 1}
    assert tally.best() == (-1.0, 201)
    # Budget checks before a trial: what was created earlier, without the trial itself.
    assert tally.counts(before_trial_id=running._trial_id) == {"COMPLETE": 200}
    assert tally._watermark < running._trial_id  # the RUNNING trial holds the watermark
    assert len(tally._tail) == 2  # ... so only it and the one after it are read again


def test_workers_add_the_trial_indexes_once(storage_url: str) -> None:
    """Both indexes hpo adds to Optuna's schema exist after a worker opened the storage, and
    opening it again (another worker) neither fails nor doubles them."""
    import sqlalchemy

    for _ in range(2):
        storage = open_storage(storage_url, heartbeat=True)  # as a worker opens it
        storage.engine.dispose()  # type: ignore[attr-defined]
    engine = sqlalchemy.create_engine(storage_url)
    try:
        indexes = {i["name"]: i["column_names"] for i in sqlalchemy.inspect(engine).get_indexes("trials")}
    finally:
        engine.dispose()
    assert {name: indexes.get(name) for name in TRIAL_INDEXES} == {
        "ix_hpo_trials_study_state": ["study_id", "state"], "ix_hpo_trials_study_trial": ["study_id", "trial_id"]}


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_the_workers_cache_finds_queued_trials_as_optunas_does(storage_url: str) -> None:
    """Queued (WAITING) and RUNNING trials as the worker's cache lists them, without filtering every
    cached trial, equal Optuna's own answer after every change, another process's included; and
    ``study.ask`` claims the queued ones in their order."""
    from hpo.storage import worker_cache

    storage = open_storage(storage_url, heartbeat=True)
    optuna.create_study(study_name="queue", storage=storage)
    mine = optuna.load_study(study_name="queue", storage=worker_cache(storage))
    other = optuna.load_study(study_name="queue", storage=open_storage(storage_url, heartbeat=True))  # another worker
    assert type(mine._storage).__name__ == "QueueAwareCache"
    unfinished = (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING)

    def check() -> None:
        for states in [(optuna.trial.TrialState.WAITING,), (optuna.trial.TrialState.RUNNING,), unfinished]:
            expected = [(t.number, t.state) for t in other.get_trials(deepcopy=False, states=states)]
            assert [(t.number, t.state) for t in mine.get_trials(deepcopy=False, states=states)] == expected
            # Optuna's own cache in this process, trial by trial the same.
            assert [t.number for t in mine._storage.get_all_trials(mine._study_id, states=states)] == [
                n for n, _ in expected]

    check()
    for i in range(3):
        _add(mine, "COMPLETE", float(i))
    mine.enqueue_trial({"x": 0.1})
    other.enqueue_trial({"x": 0.2})  # queued by another process after this cache was filled
    check()
    first = mine.ask()
    assert first.number == 3 and first.suggest_float("x", 0.0, 1.0) == 0.1  # the first queued
    check()
    taken = other.ask()  # the other worker claims the second queued trial
    assert taken.number == 4 and taken.suggest_float("x", 0.0, 1.0) == 0.2
    check()
    _add(other, "COMPLETE", 5.0)
    mine.tell(first, 1.0)
    other.tell(taken, 2.0)
    check()
    assert not mine.get_trials(deepcopy=False, states=unfinished)
    fresh = mine.ask()  # nothing queued: a new trial
    assert fresh.number == 6 and "fixed_params" not in mine._storage.get_trial(fresh._trial_id).system_attrs
    check()
