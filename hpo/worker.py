"""The pull loop: open (or create) the study, then run trials until the budget is spent.

The study's budget counts finished (COMPLETE + PRUNED) trials across every
worker. Two workers can ask for a trial at the same moment when one slot is
left; the later one (by trial id) sees the earlier one and gives its trial
back as FAIL with ``hpo:surplus``, so the study never finishes more trials than
its budget. Ctrl-C / SIGTERM fail the running trial, re-enqueue its params so
no work is lost, and leave nothing RUNNING.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo import signals
from hpo.errors import (
    ConfigError,
    HpoError,
    Interrupted,
    SpecDriftError,
    StorageError,
    StudyNotFoundError,
    TrialError,
)
from hpo.record import (
    BASELINE_ATTR,
    CHECKPOINT_ATTR,
    FINISHED,
    LIVE,
    REQUEUED_ATTR,
    RESTARTED_ATTR,
    SPEC_ATTR,
    SURPLUS_ATTR,
    fail_reason,
)
from hpo.space import StudySpec, load_spec
from hpo.storage import (
    StudyTally,
    _first_line,
    caused_by_storage,
    count_states,
    describe_failure,
    open_artifact_store,
    open_storage,
    read_only,
    refuse_foreign_file,
    sqlite_path,
)
from hpo.study import check_same_spec, create_study, open_study, pin_data, pinned_spec, reconcile

if TYPE_CHECKING:
    import optuna

    from hpo.progress import Progress


@dataclass(frozen=True)
class WorkerContext:
    """What an objective may need to know about the worker running it."""

    storage_url: str
    worker_id: int = 0
    mixed_precision: bool = False
    # (trial number, epoch, max epochs, metric, value): for the live progress panel
    on_epoch: Callable[[int, int, int, str, float | None], None] | None = None


# (spec, --data path, worker context) -> objective
# A trial's value, or its values in a multi-objective study.
ObjectiveValue = float | list[float]
ObjectiveFactory = Callable[[StudySpec, "str | None", WorkerContext], Callable[["optuna.Trial"], ObjectiveValue]]


# Trials failing one after another mean broken data or code, not bad luck: stop after this many.
MAX_FAILURES_IN_A_ROW = 5


class BudgetReached(Exception):
    """This trial would exceed the study's budget: another worker took the last slot."""



def find_space_file(name: str) -> Path:
    """``search_spaces/NAME.yaml`` in the working directory, else the one shipped with hpo."""
    local = Path("search_spaces") / f"{name}.yaml"
    if local.exists():
        return local
    shipped = Path(__file__).resolve().parent.parent / "search_spaces" / f"{name}.yaml"
    return shipped if shipped.exists() else local


@dataclass
class WorkerReport:
    study: str
    ran: int = 0
    states: dict[str, int] = field(default_factory=dict)
    budget_reached: bool = False
    recycle: bool = False  # stopped early to shed memory: start a fresh process and go on


class Budget:
    """Counts the study's trials in the database, so all workers share one budget.

    Every check reads the database afresh (another worker may have just finished or claimed
    a trial), through a ``StudyTally`` so a check costs the same at 5000 trials as at 100."""

    def __init__(self, study: optuna.Study, trials: int, *, maximize: bool | None = None) -> None:
        self.study, self.trials = study, trials
        self.tally = StudyTally(study, maximize=maximize)

    def counts(self, before_trial_id: int | None = None) -> dict[str, int]:
        self.tally.refresh()
        return self.tally.counts(before_trial_id)

    def best(self) -> tuple[float, int] | None:
        """(value, trial number) of the best COMPLETE trial as of the last check."""
        return self.tally.best()

    def refresh(self) -> None:
        """Take up a budget grown meanwhile (``hpo create`` with more trials) by any process."""
        pinned = self.study._storage.get_study_user_attrs(self.study._study_id).get(SPEC_ATTR, {})
        self.trials = int(pinned.get("budget", {}).get("trials", self.trials))

    def finished(self) -> bool:
        c = self.counts()
        return sum(c[s] for s in FINISHED) >= self.trials

    def exhausted(self) -> bool:
        """No new trial needed: the budget is finished, or the rest is already running."""
        c = self.counts()
        finished = sum(c[s] for s in FINISHED)
        return finished >= self.trials or (
            c["WAITING"] == 0 and finished + c["RUNNING"] >= self.trials
        )

    def claim(self, trial: optuna.Trial) -> None:
        """Raise ``BudgetReached`` if trials created before this one already fill the budget."""
        earlier = self.counts(before_trial_id=trial._trial_id)
        if sum(earlier[s] for s in LIVE) >= self.trials:
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise BudgetReached(f"budget of {self.trials} trials already taken by other workers")


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux; 0 where /proc is absent)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0



def _finished_already(
    storage_url: str, study_name: str, given: StudySpec | None, data_path: str | None
) -> tuple[int, dict[str, int]] | None:
    """(budget, trials by state) if the study exists and its budget is already finished, found
    by reading only, before the data and Keras load: a worker with nothing to do exits in a
    second, not the ~7 s that start-up costs. A study file that drifted from the pinned spec is
    refused here too (SpecDriftError), for the same reason. None wherever the full start-up must
    decide: no study or database yet, a grown budget or new settings, other data, any error.
    """
    path = sqlite_path(storage_url)
    if path is not None and not path.exists():
        return None
    storage = None
    try:
        storage = open_storage(storage_url, must_exist=True)
        pinned = pinned_spec(storage, study_name, wait_s=0)
        if given is not None and check_same_spec(pinned, given):  # raises SpecDriftError on drift
            return None  # a grown budget or new settings: the full start-up takes them in
        if data_path is not None:
            return None  # other data must be checked against the pinned data (refused if it differs)
        counts = count_states(storage, storage.get_study_id_from_name(study_name))
    except SpecDriftError:
        raise  # certain, and found by reading only: the full start-up would refuse it the same way
    except Exception:  # noqa: BLE001 - whatever went wrong, the full start-up reports it properly
        return None
    finally:
        # The full start-up opens its own storage (with heartbeats): close this reader's connections.
        engine = getattr(storage, "engine", None)
        if engine is not None:
            engine.dispose()
    if sum(counts[s] for s in FINISHED) < pinned.trials:
        return None
    return pinned.trials, dict(counts)


def run_worker(*args: Any, **kwargs: Any) -> WorkerReport:
    """``_run_worker`` with Ctrl-C and SIGTERM recorded (hpo.signals) rather than raised anywhere."""
    restore = signals.install()
    try:
        return _run_worker(*args, **kwargs)
    finally:
        restore()


def _run_worker(
    storage_url: str,
    study_name: str,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    data_path: str | None = None,
    space_path: str | None = None,
    worker_id: int = 0,
    recycle_mb: float = 0,
    mixed_precision: bool = False,
    db_wait: float = 300.0,
    max_retries: int = 1,
    objective_factory: ObjectiveFactory | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    progress: Progress | None = None,
) -> WorkerReport:
    import optuna

    if trials is not None and trials < 1:
        raise ConfigError(f"--trials: must be >= 1, got {trials}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout: must be > 0 seconds, got {timeout:g}")
    if worker_id < 0:
        raise ConfigError(f"--worker-id: must be >= 0, got {worker_id}")
    # hpo prints its own line per trial; optuna would add a traceback for every failed one.
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    # Settle the spec and the data before touching the study, so a bad file or data
    # set leaves the database exactly as it was (not even a new empty SQLite file).
    make_objective = objective_factory or _training_objective
    given = load_spec(space_path, expected_name=study_name) if space_path else None
    refuse_foreign_file(storage_url)  # before the data, the model and the artifact folder beside it
    db_file = sqlite_path(storage_url)
    if given is None and db_file is not None and not db_file.exists():
        given = load_spec(find_space_file(study_name), expected_name=study_name)
    if progress is not None:
        log = progress.line
    done = _finished_already(storage_url, study_name, given, data_path)
    if done is not None:
        trials_done, counts = done
        log(f"study {study_name!r}: budget of {trials_done} trials already reached")
        return WorkerReport(study_name, states=counts, budget_reached=True)
    live = progress is not None and progress.live_updates
    context = WorkerContext(storage_url, worker_id, mixed_precision,
                            on_epoch=progress.epoch if progress is not None and live else None)
    objective = make_objective(given, data_path, context) if given is not None else None
    signals.check("during start-up; the study is unchanged")
    storage = open_storage(storage_url, heartbeat=True)
    try:
        spec = pinned_spec(storage, study_name)
        if given is not None:
            for change in reconcile(storage, spec, given):
                log(f"study {study_name!r} changed: {change}")
        exists = True
    except StudyNotFoundError:
        spec = given or load_spec(find_space_file(study_name), expected_name=study_name)
        exists = False
    if objective is None:
        # Relative paths in a pinned spec (builders, loaders) are read beside this machine's study files.
        spec = dataclasses.replace(spec, base_dir=find_space_file(study_name).parent)
        objective = make_objective(spec, data_path, context)
        signals.check("during start-up; the study is unchanged")
    if not exists:
        created_study, created = create_study(storage, spec)
        if created:
            log(f"created study {study_name!r} ({len(spec.baselines)} baselines enqueued)")
    study, spec = open_study(storage, study_name, worker_id=worker_id)
    describe = getattr(objective, "describe_data", None)
    if describe is not None:
        log(describe())  # how the data was split, once the study is known to be usable
    data_record = getattr(objective, "data_record", None)
    if data_record is not None:
        for line in pin_data(study, data_record(), objective.trivial_baseline()):  # type: ignore[attr-defined]
            log(line)

    report = WorkerReport(study_name)
    budget = Budget(study, spec.trials, maximize=None if spec.multi_objective else spec.direction == "maximize")
    fail_stale_trials(study)  # a dead worker's RUNNING trial must not hold the budget
    if budget.exhausted():
        report.budget_reached = True
        report.states = dict(budget.counts())
        log(f"study {study_name!r}: budget of {spec.trials} trials already reached or running")
        return report

    def show_budget() -> None:
        """The live panel's study line: finished against the budget, and the best so far."""
        if not live:
            return
        assert progress is not None
        counts = budget.counts()
        top = budget.best()
        progress.study(sum(counts[s] for s in FINISHED), spec.trials, top[0] if top else None, spec.metric)

    show_budget()  # from the first frame, before any trial has finished
    current: dict[str, Any] = {}
    outage: dict[str, float] = {}
    failures: list[str] = []  # reasons of the trials that failed in a row

    def guarded(trial: optuna.Trial) -> ObjectiveValue:
        current["trial"] = trial
        budget.claim(trial)
        start_clean(training=objective_factory is None)  # a given objective has no Keras session to clear
        return objective(trial)

    def after_trial(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        current.pop("trial", None)
        if frozen.user_attrs.get(SURPLUS_ATTR):
            study.stop()
            return
        report.ran += 1
        outage.clear()  # the storage works: a later error starts a new outage window
        log(_trial_line(budget, frozen, spec))
        if signals.requested():
            study.stop()  # a signal arrived as this trial finished: stop before the next one
        if frozen.state.name == "FAIL":
            failures.append(fail_reason(frozen))
            if len(failures) >= MAX_FAILURES_IN_A_ROW:
                study.stop()
        else:
            failures.clear()
        show_budget()
        if frozen.state.name == "FAIL":
            _retry_failed(study, frozen, max_retries, log)
        exhausted = budget.exhausted()
        if exhausted:  # before stopping, take up a budget grown meanwhile (`hpo create`, more trials)
            budget.refresh()
            exhausted = budget.exhausted()
        if exhausted and not budget.finished():
            # Only RUNNING trials stand between the study and its budget; if one belongs
            # to a dead worker, failing it (and queueing its retry) keeps this worker busy.
            fail_stale_trials(study)
            exhausted = budget.exhausted()
        if exhausted:
            report.budget_reached = True
            study.stop()
            return
        # TensorFlow leaks a few MB per model.fit even after clear_session (tensorflow#61791);
        # past a limit the worker hands over to a fresh process instead of growing forever.
        rss = rss_mb()
        baseline = current.setdefault("rss_after_first_trial", rss)
        if recycle_mb and rss - baseline > recycle_mb:
            log(f"recycling worker process: RSS grew {rss - baseline:.0f} MB over {report.ran} trials")
            report.recycle = True
            study.stop()

    _quiet_storage_errors_in_threads()
    started = time.monotonic()
    try:
        while True:
            left = None if timeout is None else timeout - (time.monotonic() - started)
            todo = None if trials is None else trials - report.ran
            if (left is not None and left <= 0) or todo == 0:
                break
            try:
                study.optimize(
                    guarded, n_trials=todo, timeout=left, callbacks=[after_trial],
                    catch=(TrialError, BudgetReached), gc_after_trial=False,
                )
                break
            except Exception as e:
                if failed_as_stale(e):
                    # Another worker judged this one's trial stale (a long stall: SIGSTOP, a frozen
                    # VM) and failed it; its retry is already queued, so this worker goes on.
                    current.pop("trial", None)
                    log(f"a trial of this worker was failed as stale by another worker ({_first_line(e)}); "
                        "its retry is queued; carrying on")
                    if budget.exhausted():
                        break
                    continue
                if not caused_by_storage(e):
                    raise
                if read_only(e):
                    raise StorageError(f"the storage is read-only ({_first_line(e)}); a worker must write its "
                                       "trials: give it a writable database") from e
                # The database went away (a restart, a failover, the network). Wait for it with
                # bounded backoff; then fail this worker's interrupted trial and queue its params
                # again, so it is neither lost nor run twice, and go on. An outage is one window
                # from its first error to the next finished trial: a database that answers reads
                # but fails every write cannot keep the worker flapping "unreachable"/"back".
                trial = current.pop("trial", None)
                outage.setdefault("since", time.monotonic())
                outage["flaps"] = outage.get("flaps", 0) + 1
                left = db_wait - (time.monotonic() - outage["since"])
                if left <= 0:
                    raise StorageError(f"storage failing for {db_wait:g} s (limit --db-wait) without a trial "
                                       f"finishing: {_first_line(e)}") from e
                if outage["flaps"] == 1:
                    log(f"storage unreachable ({_first_line(e)}); retrying for up to {db_wait:g} s")
                else:  # back, and failing again: wait longer each time, within the same window
                    pause = min(2.0 ** outage["flaps"], 30.0, left)
                    for _ in range(int(pause * 10)):
                        signals.check("while waiting for the database")
                        time.sleep(0.1)
                wait_for_storage(storage, db_wait, log, quiet=outage["flaps"] > 1, since=outage["since"])
                if trial is not None:
                    _fail_and_requeue(study, trial)
                if budget.exhausted():
                    break
        signals.check("between trials")
        if len(failures) >= MAX_FAILURES_IN_A_ROW:
            # Data or code that fails every trial: stop instead of burning retries forever.
            raise HpoError(f"{len(failures)} trials in a row failed, the last with: {failures[-1][:200]}; "
                           "the worker stops: fix the cause (see `hpo status`) and start it again")
    except (Interrupted, KeyboardInterrupt) as e:
        trial = current.get("trial")
        _requeue(study, trial)
        what = "its running trial was re-enqueued" if trial is not None else "no trial was running"
        raise Interrupted(f"worker stopped ({signals.received_name() or 'Ctrl-C'}); {what}") from e
    finally:
        import gc

        gc.unfreeze()  # an in-process caller (a notebook, a test) gets its whole heap collected again
    report.states = dict(budget.counts())
    report.budget_reached = report.budget_reached or budget.exhausted()
    return report


def start_clean(*, training: bool = True) -> None:
    """Before each trial: free the last trial's model (Keras's clear_session and one full
    collection), then freeze what survives out of the garbage collector, as the import's
    objects are (``hpo.quiet``). What survives is the worker's own state and what TensorFlow
    leaks per fit (its traced graphs, ~7,000 objects a model, that only ``--recycle-mb`` gets
    back); left tracked, every trial's collection walks all of them again, so it grew with
    every trial (``benchmarks/gc_growth.py``). Here, not inside the trial: a frozen object is
    never collected, and a trial's own objects freeze into exception cycles (a pruned or
    failed trial's traceback) that would keep its model for good (tests/test_worker.py).
    Optuna's cache of finished trials is frozen too, so a long study's collections stay flat
    (``benchmarks/storage_cost.py``). ``training=False``: a given objective, no Keras to clear."""
    import gc

    if training:
        from hpo.models.factory import reset_keras

        reset_keras()  # its clear_session runs the full collection
    else:
        gc.collect()
    gc.freeze()


def failed_as_stale(e: BaseException) -> bool:
    """Optuna's word for "your trial was finished by someone else": an update refused, or (at the
    end of the trial) ``ValueError('Cannot tell a FAIL trial.')``."""
    import optuna

    return isinstance(e, optuna.exceptions.UpdateFinishedTrialError) or (
        isinstance(e, ValueError) and str(e).startswith("Cannot tell a "))


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail (and, via the storage's callback, retry) trials whose worker stopped beating."""
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _quiet_storage_errors_in_threads() -> None:
    """Optuna's heartbeat thread dies on a lost connection; say so in one line, not a traceback."""
    import threading

    default = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None and caused_by_storage(args.exc_value):
            print(f"heartbeat stopped: {describe_failure(args.exc_value)}", file=sys.stderr, flush=True)
            return
        default(args)

    threading.excepthook = hook


def wait_for_storage(storage: Any, limit_s: float, log: Callable[[str], None], quiet: bool = False,
                     since: float | None = None) -> None:
    """Poll the database with exponential backoff (0.5 s doubling to 15 s) until it answers.

    Raise a one-line ``StorageError`` once it has been unreachable for ``limit_s`` (``--db-wait``)
    counted from ``since`` (the outage's first error, ``time.monotonic()``; default: now)."""
    import sqlalchemy

    started = time.monotonic() if since is None else since
    delay = 0.5
    while True:
        try:
            if hasattr(storage, "engine"):
                with storage.engine.connect() as conn:
                    conn.execute(sqlalchemy.text("SELECT 1"))
            else:  # through the gRPC proxy
                storage.get_all_studies()
            if not quiet:
                log(f"storage is back after {time.monotonic() - started:.0f} s")
            return
        except Exception as e:
            if not caused_by_storage(e):
                raise
            waited = time.monotonic() - started
            if waited >= limit_s:
                raise StorageError(
                    f"storage unreachable for {waited:.0f} s (limit --db-wait {limit_s:g}): {_first_line(e)}"
                ) from e
            signals.check("while waiting for the database")
            time.sleep(min(delay, max(limit_s - waited, 0.05)))
            delay = min(delay * 2, 15.0)


def _retry_failed(
    study: optuna.Study, frozen: optuna.trial.FrozenTrial, max_retries: int, log: Callable[[str], None]
) -> None:
    """Queue a trial that failed on its own (NaN, out of memory, a bug) again, at most
    ``max_retries`` times per configuration. It starts afresh (a new trial number is a new
    seed): resuming the run that just diverged would mostly diverge again."""
    import optuna

    history = list(frozen.system_attrs.get("retry_history", []))
    if len(history) >= max_retries or not frozen.params or frozen.user_attrs.get(RESTARTED_ATTR):
        return  # (a restarted trial's params are queued already)
    keep = {k: v for k, v in frozen.user_attrs.items() if k in (BASELINE_ATTR, REQUEUED_ATTR)}
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.WAITING, params=frozen.params, distributions=frozen.distributions,
        user_attrs=keep,
        system_attrs={"failed_trial": frozen.system_attrs.get("failed_trial", frozen.number),
                      "retry_history": [*history, frozen.number]},
    ))
    log(f"trial {frozen.number} queued again (retry {len(history) + 1} of {max_retries})")


def _fail_and_requeue(study: optuna.Study, trial: optuna.Trial) -> None:
    """This worker's trial died with the connection: mark it FAIL (if nobody did) and requeue it."""
    from optuna.trial import TrialState

    frozen = study._storage.get_trial(trial._trial_id)
    if frozen.state == TrialState.RUNNING:
        try:
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna_errors():  # failed as stale meanwhile, and already retried
            return
    elif frozen.state != TrialState.FAIL:
        return  # it did finish
    else:
        live = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
        for other in study.get_trials(deepcopy=False, states=live):
            if trial.number in (other.system_attrs.get("failed_trial"), other.user_attrs.get(REQUEUED_ATTR)):
                return  # the stale-trial sweep already queued its retry
    _requeue(study, trial)


def optuna_errors() -> tuple[type[BaseException], ...]:
    import optuna

    return (optuna.exceptions.UpdateFinishedTrialError,)


def _requeue(study: optuna.Study, trial: optuna.Trial | None) -> None:
    """Put an interrupted trial's params back in the queue; optuna has already failed it."""
    if trial is None:
        return
    frozen = study._storage.get_trial(trial._trial_id)
    if frozen.state.name != "FAIL":
        return  # it finished before the interrupt landed: nothing to redo
    # A trial interrupted before it sampled still carries its enqueued (baseline) params.
    params = {**frozen.system_attrs.get("fixed_params", {}), **frozen.params}
    if not params:
        return
    attrs: dict[str, Any] = {REQUEUED_ATTR: trial.number}
    checkpoint = frozen.user_attrs.get(CHECKPOINT_ATTR)
    if checkpoint is not None:
        attrs[CHECKPOINT_ATTR] = checkpoint  # the requeued trial resumes where this one stopped
    baseline = frozen.user_attrs.get(BASELINE_ATTR)
    if baseline is not None:
        attrs[BASELINE_ATTR] = baseline
    study.enqueue_trial(params, user_attrs=attrs)


def _trial_line(budget: Budget, t: optuna.trial.FrozenTrial, spec: StudySpec) -> str:
    value = " ".join(f"{m}={v:.4g}" for m, v in zip(spec.metric_names, t.values or (), strict=False))
    if t.state.name == "PRUNED" and t.intermediate_values:
        step = max(t.intermediate_values)
        value = f"{spec.metric}={t.intermediate_values[step]:.4g} at epoch {step}"
    if t.state.name == "FAIL":
        value = fail_reason(t)
    budget.counts()  # reads the trials finished since the last check, this one included
    top = budget.best()
    best = f"best {top[0]:.4g} (#{top[1]})" if top else (
        "Pareto front: hpo status" if spec.multi_objective else "no best yet")
    return (
        f"trial {t.number} {t.state.name.lower()} {value} epochs={t.user_attrs.get('epochs', '?')} "
        f"{t.user_attrs.get('wall_seconds', 0):.1f}s | {best} | {time.strftime('%H:%M:%S')}"
    ).replace("  ", " ")


def _training_objective(
    spec: StudySpec, data_path: str | None, context: WorkerContext
) -> Callable[[optuna.Trial], ObjectiveValue]:
    """The real objective. Loads the data and builds the model once now, so that bad data or
    a broken model fails here with one line, before the study database is touched."""
    from hpo.data.cache import default_cache_dir
    from hpo.data.datasets import load_dataset

    dataset = load_dataset(spec.data, path_override=data_path, cache_dir=default_cache_dir(),
                           base_dir=spec.base_dir, task=spec.task)
    from hpo.quiet import import_keras_quietly

    import_keras_quietly()
    import keras

    from hpo.fleet import gpu_warning

    warning = gpu_warning()
    if warning:
        print(f"hpo: warning: {warning}", file=sys.stderr, flush=True)
    from hpo.models.factory import preflight
    from hpo.objective import Objective

    if context.mixed_precision:
        # float16 compute, float32 variables; the task heads already output float32.
        keras.mixed_precision.set_global_policy("mixed_float16")
    preflight(spec, dataset)
    artifacts = open_artifact_store(context.storage_url)
    label = f"{socket.gethostname()}/pid{os.getpid()}/w{context.worker_id}"
    from hpo.data.datasets import resolve_path

    return Objective(spec, dataset, artifacts, worker_label=label, on_epoch=context.on_epoch,
                     data_file=resolve_path(spec.data, data_path))
