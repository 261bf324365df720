"""Real `hpo worker` processes against real databases; counts come from the database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest

from hpo.record import SURPLUS_ATTR
from tests.conftest import HPO, db_snapshot, run_hpo, study_trials, tiny_space

_trials = study_trials


def _finished(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]


def test_worker_runs_the_budget_then_stops(tmp_path: Path, storage_url: str) -> None:
    space = tiny_space(tmp_path, trials=2, epochs=2)
    proc = run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", storage_url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = _trials(storage_url, "tiny")
    assert len(_finished(trials)) == 2 and len(trials) == 2
    assert trials[0].user_attrs.get("hpo:baseline") == 0  # the baseline ran first
    assert trials[0].params["filters"] == 8 and trials[0].params["learning_rate"] == 0.005
    for t in _finished(trials):
        assert {"epochs", "wall_seconds", "keras"} <= set(t.user_attrs)
        assert 1 <= t.user_attrs["epochs"] <= 2 and t.user_attrs["wall_seconds"] > 0
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert done and all(t.user_attrs["param_count"] > 0 and "best_epoch" in t.user_attrs for t in done)
    assert all(len(t.intermediate_values) == t.user_attrs["epochs"] for t in _finished(trials))

    # A worker with nothing left to do finds that out by reading alone, before the data and Keras
    # load (a backend that cannot load proves Keras was never imported), and writes nothing.
    before = db_snapshot(storage_url)
    again = run_hpo("worker", "--study", "tiny", "--storage", storage_url, cwd=tmp_path,
                    env={"KERAS_BACKEND": "no-such-backend"})
    assert again.returncode == 0, again.stderr
    assert "budget of 2 trials already reached" in again.stderr
    assert db_snapshot(storage_url) == before
    assert len(_trials(storage_url, "tiny")) == 2

    status = run_hpo("status", "--study", "tiny", "--storage", storage_url, "--json", cwd=tmp_path)
    summary = json.loads(status.stdout)[0]
    assert summary["finished"] == 2 and summary["trials"]["running"] == 0
    exported = run_hpo("export", "--study", "tiny", "--storage", storage_url, cwd=tmp_path)
    config = json.loads(exported.stdout)
    best = max(done, key=lambda t: t.value or 0)
    assert config["value"] == best.value and config["trial"] == best.number
    assert config["params"]["batch_size"] == 64  # fixed params are part of the config
    for key in ("study", "task", "metric", "direction", "value", "params", "trial", "epochs", "data",
                "spec_sha256", "versions", "created_at"):
        assert key in config
    assert set(config["versions"]) == {"hpo", "optuna", "keras", "backend"}


def test_a_backend_keras_cannot_load_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=2, epochs=1)
    proc = run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", url, cwd=tmp_path,
                   env={"KERAS_BACKEND": "no-such-backend"})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("hpo: error: KERAS_BACKEND='no-such-backend': Keras cannot load it")
    assert "tensorflow" in lines[0]  # what to set it to instead
    assert not (tmp_path / "studies.db").exists()


@pytest.mark.postgres
def test_two_workers_share_one_budget_exactly(tmp_path: Path, postgres_url: str) -> None:
    budget = 8
    space = tiny_space(tmp_path, trials=budget, epochs=1, sampler="random", pruner="none")
    create = run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", postgres_url, cwd=tmp_path)
    assert create.returncode == 0, create.stderr
    env = {**os.environ, "HPO_CACHE_DIR": str(tmp_path / "cache")}
    workers = [
        # --trials 5 each (10 > the budget of 8): whichever starts first cannot take the whole
        # budget before the other's TensorFlow import is done, so each runs at least 3.
        subprocess.Popen([HPO, "worker", "--study", "tiny", "--storage", postgres_url, "--worker-id", str(i),
                          "--trials", "5"],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trials = _trials(postgres_url, "tiny")
    assert len(_finished(trials)) == budget
    assert len({t.number for t in trials}) == len(trials)
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    # Anything beyond the budget was a race loser, handed back as a marked FAIL, never run.
    extra = [t for t in trials if t.state.name == "FAIL"]
    assert all(t.user_attrs.get(SURPLUS_ATTR) for t in extra)
    ran_by = [sum(1 for line in err.splitlines() if line.startswith("trial ")) for _, err in outputs]
    assert sum(ran_by) == budget and min(ran_by) >= 3, ran_by


def _wait_for(predicate, worker: subprocess.Popen, timeout: float = 180.0) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if worker.poll() is not None:
            out, err = worker.communicate()
            raise AssertionError(f"worker exited with {worker.returncode} before the condition: {err}")
        time.sleep(0.3)
    worker.kill()
    out, err = worker.communicate()
    raise AssertionError(f"condition not reached in {timeout:.0f} s; worker said: {err}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_worker_leaves_nothing_running_and_requeues(tmp_path: Path, signum: int) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=5, epochs=500, pruner="none")
    # Started the way `hpo worker ... &` in a script starts it: SIGINT ignored on entry.
    worker = subprocess.Popen([HPO, "worker", "--study", "tiny", "--space", str(space), "--storage", url],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))

    def training() -> bool:
        if not (tmp_path / "studies.db").exists():
            return False
        try:
            running = [t for t in _trials(url, "tiny") if t.state.name == "RUNNING"]
        except Exception:  # the study is still being created
            return False
        return bool(running and "hpo:checkpoint" in running[0].user_attrs)

    _wait_for(training, worker)
    worker.send_signal(signum)
    try:
        _, err = worker.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise AssertionError(f"worker did not stop: {worker.communicate()[1]}") from None
    assert worker.returncode == 130, err
    assert "re-enqueued" in err.splitlines()[-1]
    trials = _trials(url, "tiny")
    states = [t.state.name for t in trials]
    assert "RUNNING" not in states, (states, err)
    assert states.count("FAIL") == 1 and states.count("WAITING") == 1, (states, err)
    interrupted = next(t for t in trials if t.state.name == "FAIL")
    requeued = next(t for t in trials if t.state.name == "WAITING")
    assert requeued.user_attrs["hpo:requeued_from"] == interrupted.number
    assert requeued.system_attrs["fixed_params"] == interrupted.params
    # The requeued trial points at the interrupted one's last checkpoint: it will resume there.
    assert requeued.user_attrs["hpo:checkpoint"] == interrupted.user_attrs["hpo:checkpoint"]


KEYPOINTS = """\
name: kp
task: keypoints
data: {{path: {path}, validation_fraction: 0.25, missing_keypoints: mask}}
objective: {{metric: val_rmse, direction: minimize}}
budget: {{trials: 3, max_epochs: 2}}
sampler: {{type: random, seed: 0}}
pruner: {{type: median, n_startup_trials: 1}}
params:
  conv_blocks: 1
  filters: {{type: categorical, choices: [4, 8]}}
  hidden_units: 16
  learning_rate: {{type: float, low: 1.0e-3, high: 1.0e-2, log: true}}
  batch_size: 16
"""


def test_a_nan_trial_fails_with_its_reason_and_the_worker_carries_on(tmp_path: Path) -> None:
    import numpy as np

    from hpo.data.datasets import load_dataset
    from hpo.data.synth import write_keypoints_csv
    from hpo.objective import Objective
    from hpo.space import load_spec
    from hpo.worker import run_worker

    write_keypoints_csv(tmp_path / "training.csv", 48, seed=1)
    space = tmp_path / "kp.yaml"
    space.write_text(KEYPOINTS.format(path=tmp_path / "training.csv"))
    spec = load_spec(space)
    good = load_dataset(spec.data)
    y_bad = good.y_train.copy()
    y_bad[0, 0] = np.inf  # one diverged label makes the loss non-finite at once
    poisoned = type(good)(good.x_train, y_bad, good.x_val, good.y_val, good.n_outputs, good.labels, good.source)

    def factory(spec, data_path, context):  # type: ignore[no-untyped-def]
        bad, fine = Objective(spec, poisoned), Objective(spec, good)
        # Trial 1, not 0: the median pruner has a completed trial to compare a NaN with,
        # and must not get to turn the failure into a PRUNED trial.
        return lambda trial: (bad if trial.number == 1 else fine)(trial)

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    lines: list[str] = []
    report = run_worker(url, "kp", space_path=str(space), objective_factory=factory, log=lines.append)
    trials = _trials(url, "kp")
    assert trials[1].state.name == "FAIL"
    assert "NaN" in trials[1].user_attrs["fail_reason"]
    assert any(line.startswith("trial 1 fail loss became NaN") for line in lines), lines
    assert len(_finished(trials)) == 3 and report.budget_reached
    # Failed on its own: queued again once (--max-retries 1) and, trained afresh, it finished.
    [retry] = [t for t in trials if t.system_attrs.get("failed_trial") == 1]
    assert retry.params == trials[1].params and retry.state.name == "COMPLETE"
    assert len(trials) == 4


def test_worker_recycles_its_process_when_memory_grows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=10, epochs=1, pruner="none")
    # A limit no process stays under: each process runs two trials (the first sets its memory
    # baseline), then re-execs itself; the fresh process carries on with the trials left.
    proc = run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", url, "--trials", "5",
                   "--recycle-mb", "0.001", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("recycling worker process") == 2
    assert "worker done: ran 5 trials" in proc.stdout
    trials = _trials(url, "tiny")
    assert len(_finished(trials)) == 5 and len(trials) == 5


def test_a_killed_workers_trial_is_retried_and_resumes_from_its_checkpoint(
    tmp_path: Path, storage_url: str
) -> None:
    url = storage_url
    epochs = 30
    # One trial: the killed one (the baseline) is the whole budget, so its retry must finish it.
    space = tiny_space(tmp_path, trials=1, epochs=epochs, pruner="none")
    fast = {"HPO_HEARTBEAT_INTERVAL": "1", "HPO_GRACE_PERIOD": "3", "HPO_ARTIFACTS": str(tmp_path / "artifacts")}
    env = {**os.environ, **fast, "HPO_CACHE_DIR": str(tmp_path / "cache")}
    first = subprocess.Popen([HPO, "worker", "--study", "tiny", "--space", str(space), "--storage", url],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def checkpointed() -> bool:
        try:
            return any(t.state.name == "RUNNING" and t.user_attrs.get("hpo:checkpoint", {}).get("epoch", -1) >= 2
                       for t in _trials(url, "tiny"))
        except Exception:
            return False

    _wait_for(checkpointed, first)
    first.kill()  # SIGKILL: no handler runs, the trial stays RUNNING in the database
    first.wait()
    killed = next(t for t in _trials(url, "tiny") if t.state.name == "RUNNING")
    last_epoch = killed.user_attrs["hpo:checkpoint"]["epoch"]
    assert (tmp_path / "artifacts").is_dir()
    time.sleep(4)  # past the grace period
    second = run_hpo("worker", "--study", "tiny", "--storage", url, cwd=tmp_path, env=fast)
    assert second.returncode == 0, second.stderr
    trials = {t.number: t for t in _trials(url, "tiny")}
    assert trials[killed.number].state.name == "FAIL"
    retry = next(t for t in trials.values() if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.state.name == "COMPLETE" and retry.params == killed.params
    assert retry.user_attrs["resumed_from_epoch"] == last_epoch  # not epoch 0
    # One curve: the dead run's epochs, then the resumed ones, no gap, no restart.
    assert sorted(retry.intermediate_values) == list(range(epochs))
    for step in range(last_epoch + 1):
        assert retry.intermediate_values[step] == killed.intermediate_values[step]
    assert retry.user_attrs["epochs"] == epochs
    assert len([t for t in trials.values() if t.state.name in ("COMPLETE", "PRUNED")]) == 1
    assert not [t for t in trials.values() if t.state.name == "RUNNING"]


def test_a_running_worker_takes_up_a_budget_grown_meanwhile(tmp_path: Path) -> None:
    """`hpo create` with more trials while a worker runs: the worker goes on to the new budget
    instead of stopping at the old one (it re-reads the pinned budget before it stops)."""
    import dataclasses

    from hpo.space import load_spec, suggest
    from hpo.storage import open_storage
    from hpo.study import pinned_spec, reconcile
    from hpo.worker import run_worker

    space = tiny_space(tmp_path, trials=2, pruner="none")
    url = f"sqlite:///{tmp_path / 'studies.db'}"

    def factory(spec, data_path, context):  # type: ignore[no-untyped-def]
        def objective(trial: optuna.Trial) -> float:
            if trial.number == 0:  # meanwhile, someone grows the study to 4 trials
                storage = open_storage(url)
                reconcile(storage, pinned_spec(storage, "tiny"), dataclasses.replace(spec, trials=4))
            return float(suggest(trial, spec)["dropout"])
        return objective

    report = run_worker(url, "tiny", space_path=str(space), objective_factory=factory, log=lambda line: None)
    assert report.ran == 4 and report.budget_reached
    assert [t.state.name for t in study_trials(url)] == ["COMPLETE"] * 4
    assert load_spec(space).trials == 2  # the file is the user's; only the study grew


MODELS_FREED = """
import gc, sys, weakref
import hpo.training
from hpo.cli import main
from hpo.models.factory import reset_keras

built = []
real_build = hpo.training.build_model

def build_model(*args, **kwargs):
    model = real_build(*args, **kwargs)
    built.append(weakref.ref(model))
    return model

hpo.training.build_model = build_model

import optuna
import hpo.objective
real_end = hpo.objective.ResumingPruningCallback.on_epoch_end

def on_epoch_end(self, epoch, logs=None):  # some trials end in an exception, mid-fit, as a real prune would
    real_end(self, epoch, logs)
    if epoch == 1 and self._trial.number % 3 == 1:
        raise optuna.TrialPruned("pruned by the test")
    if epoch == 1 and self._trial.number % 3 == 2:
        raise RuntimeError("failed by the test")

hpo.objective.ResumingPruningCallback.on_epoch_end = on_epoch_end
code = main(["worker", "--study", "tiny", "--space", sys.argv[1], "--storage", sys.argv[2], "--max-retries", "0"])
assert code == 0, code
reset_keras()  # what the next trial's start does first: the last trial's model goes here
alive = sum(ref() is not None for ref in built)
gc.unfreeze()
print(len(built), alive, len(gc.get_objects()) > 10_000)
"""


def test_a_long_running_worker_frees_every_trials_model(tmp_path: Path) -> None:
    """Before each trial the worker freezes what survives a collection out of the gc (so the
    collection stays cheap as TensorFlow leaks graphs: hpo.worker.start_clean); no trial's model
    may end up frozen, completed, pruned or failed mid-fit alike, or a worker would keep every
    model it trained. Freezing from inside the fit kept the 4 models of the trials that ended in
    an exception (their tracebacks cycle through frozen frames)."""
    import sys

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=5, epochs=3, sampler="random", pruner="none")
    proc = subprocess.run([sys.executable, "-c", MODELS_FREED, str(space), url], cwd=tmp_path, capture_output=True,
                          text=True, timeout=240, env={**os.environ, "HPO_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    built, alive, frozen_many = proc.stdout.splitlines()[-1].split()
    states = [t.state.name for t in _trials(url, "tiny")]
    assert states == ["COMPLETE", "PRUNED", "FAIL"] * 2 + ["COMPLETE"] and int(built) == 7, (states, built)
    assert int(alive) == 0, f"{alive} of {built} models outlived their trial"
    assert frozen_many == "True"  # the freeze really happened: the import's and the trials' objects
