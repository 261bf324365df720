"""Issue 9 §1, lost or runaway: faults that must be impossible. Real `hpo` processes, killed
and signalled for real; what is left is counted in the database afterwards.

Each test names the class it guards; add a case here for every new fault of the class.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import HPO, db_snapshot, run_hpo, study_trials, tiny_space


def _handler_installed(pid: int, signum: int) -> bool:
    """Whether process ``pid`` catches ``signum`` (Linux: the SigCgt mask in /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except OSError:
        pass
    return False


def _wait(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def,type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before the condition: {proc.communicate()[1]}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"condition not reached: {proc.communicate()[1]}")


# -- lost signals -------------------------------------------------------------------------------

def test_the_signal_handler_only_records(tmp_path: Path) -> None:
    """The first signal is recorded, not raised (a raise inside a GC callback is swallowed);
    a second raises at once."""
    code = """
import os, signal, gc
from hpo import signals
from hpo.errors import Interrupted
signals.install()
gc.callbacks.append(lambda phase, info: None)
os.kill(os.getpid(), signal.SIGTERM)
gc.collect()
assert signals.requested() and signals.received_name() == "SIGTERM"
try:
    signals.check("at a safe point")
except Interrupted as e:
    assert e.exit_code == 130 and str(e) == "SIGTERM at a safe point", e
else:
    raise AssertionError("check did not raise")
try:
    os.kill(os.getpid(), signal.SIGINT)
    raise AssertionError("a second signal did not raise")
except KeyboardInterrupt:
    print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_start_up_exits_130_with_a_line_and_leaves_no_study(tmp_path: Path, signum: int) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=2, epochs=1, pruner="none")
    worker = subprocess.Popen([HPO, "worker", "--study", "tiny", "--space", str(space), "--storage", url],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "HPO_CACHE_DIR": str(tmp_path / "cache")})
    # As soon as hpo records signals: it is then still importing (Keras alone takes seconds).
    _wait(lambda: _handler_installed(worker.pid, signal.SIGTERM), worker)
    worker.send_signal(signum)
    _, err = worker.communicate(timeout=120)
    assert worker.returncode == 130, err
    assert err.strip().splitlines()[-1] == f"hpo: {signal.Signals(signum).name} during start-up; the study is unchanged"
    assert not (tmp_path / "studies.db").exists()


# -- zombie trials ------------------------------------------------------------------------------

def test_a_trial_whose_worker_died_before_its_first_heartbeat_is_failed_and_retried(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=1, epochs=1, pruner="none")  # the zombie's retry is the budget
    assert run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", url, cwd=tmp_path).returncode == 0
    # What a worker killed between `ask` and its heartbeat thread's first beat leaves: a RUNNING
    # trial (here the baseline) with no heartbeat row.
    study = optuna.load_study(study_name="tiny", storage=url)
    zombie = study.ask()
    assert study_trials(url)[0].state.name == "RUNNING"
    fast = {"HPO_HEARTBEAT_INTERVAL": "1", "HPO_GRACE_PERIOD": "2"}
    time.sleep(3)  # older than the grace period
    proc = run_hpo("worker", "--study", "tiny", "--storage", url, cwd=tmp_path, env=fast)
    assert proc.returncode == 0, proc.stderr
    trials = {t.number: t for t in study_trials(url)}
    assert trials[zombie.number].state.name == "FAIL"
    retry = next(t for t in trials.values() if t.system_attrs.get("failed_trial") == zombie.number)
    # The zombie died before sampling; its retry runs the baseline it was holding.
    assert retry.state.name == "COMPLETE" and retry.params == trials[zombie.number].system_attrs["fixed_params"]
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials.values()) == 1
    assert not [t for t in trials.values() if t.state.name in ("RUNNING", "WAITING")]


# -- half-made studies --------------------------------------------------------------------------

def test_a_create_killed_midway_is_listed_and_made_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=1501, epochs=1, pruner="none")
    # Many baselines: creating takes seconds, so the kill lands while they are being queued.
    extra = "".join(f"  - {{conv_blocks: 1, filters: 8, hidden_units: 16, dropout: 0.{i % 5}, optimizer: adam, "
                    f"learning_rate: 0.00{1 + i % 9}}}\n" for i in range(1500))
    space.write_text(space.read_text() + extra)
    create = subprocess.Popen([HPO, "create", "--study", "tiny", "--space", str(space), "--storage", url],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def queuing() -> bool:
        try:
            return len(study_trials(url)) >= 20
        except Exception:
            return False

    _wait(queuing, create)
    create.kill()
    create.wait()
    trials = study_trials(url)
    assert 20 <= len(trials) < 1501  # killed part-way: a study with some baselines and no spec
    assert "hpo:spec" not in optuna.load_study(study_name="tiny", storage=url).user_attrs
    for bad, why in (("abc", "must be a number, got 'abc'"), ("-5", "must be a finite number >= 0, got -5")):
        proc = run_hpo("status", "--storage", url, cwd=tmp_path, env={"HPO_HALF_MADE_AFTER": bad})
        assert proc.returncode == 2 and proc.stderr == f"hpo: error: $HPO_HALF_MADE_AFTER: {why}\n", proc.stderr
    now = {"HPO_HALF_MADE_AFTER": "0"}  # its creator is silent: no need to wait 30 s here
    status = run_hpo("status", "--storage", url, cwd=tmp_path, env=now)
    assert status.returncode == 0, status.stderr
    assert "study 'tiny': its creation was interrupted (no spec pinned); `hpo create --study tiny`" in status.stdout
    again = run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", url, cwd=tmp_path, env=now)
    assert again.returncode == 0, again.stderr
    trials = study_trials(url)
    assert len(trials) == 1501 and {t.state.name for t in trials} == {"WAITING"}
    assert sorted(t.user_attrs["hpo:baseline"] for t in trials) == list(range(1501))


# -- endless loops ------------------------------------------------------------------------------

def test_a_read_only_database_stops_the_worker_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=2, epochs=1, pruner="none")
    assert run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", url, cwd=tmp_path).returncode == 0
    before = db_snapshot(url)
    read_only = f"sqlite:///file:{tmp_path / 'studies.db'}?mode=ro&uri=true"
    proc = run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", read_only, "--db-wait", "600",
                   cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "storage" in line]
    assert lines[-1].startswith("hpo: error: the storage is read-only"), proc.stderr
    assert proc.stderr.count("unreachable") + proc.stderr.count("is back") <= 1
    assert db_snapshot(url) == before


def test_a_worker_whose_every_trial_fails_stops_after_five(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    # A model that builds and evaluates (the pre-flight passes) but breaks whenever it trains.
    (tmp_path / "models.py").write_text(
        "import keras\n\n\n"
        "class Boom(keras.layers.Layer):\n"
        "    def call(self, x, training=None):\n"
        "        if training:\n"
        "            raise RuntimeError('boom in training')\n"
        "        return x\n\n\n"
        "def build(params, input_shape, n_outputs):\n"
        "    inputs = keras.Input(input_shape)\n"
        "    x = keras.layers.Flatten()(Boom()(inputs))\n"
        "    return keras.Model(inputs, keras.layers.Dense(n_outputs, activation='softmax')(x))\n")
    space = tmp_path / "boom.yaml"
    space.write_text("name: boom\ntask: classification\ndata: {format: digits, limit: 200}\n"
                     "objective: {metric: val_accuracy}\nbudget: {trials: 20, max_epochs: 2}\n"
                     "model: {builder: 'models.py:build'}\n"
                     "params: {width: {type: int, low: 1, high: 8}, batch_size: 32}\n")
    proc = run_hpo("worker", "--study", "boom", "--space", str(space), "--storage", url, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("hpo: error: 5 trials in a row failed, the last with: ") and "Boom.call()" in last
    states = [t.state.name for t in study_trials(url, "boom")]
    assert states.count("FAIL") == 5 and "COMPLETE" not in states and "RUNNING" not in states, states


# -- fake results -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["no_labels", "infinite_label"])
def test_targets_that_cannot_be_learnt_are_refused_before_the_study(tmp_path: Path, case: str) -> None:
    import pandas as pd

    from hpo.data.keypoints import KEYPOINT_COLUMNS
    from hpo.data.synth import write_keypoints_csv

    data = tmp_path / "training.csv"
    write_keypoints_csv(data, 40, seed=0)
    frame = pd.read_csv(data)
    if case == "no_labels":
        frame[list(KEYPOINT_COLUMNS)] = float("nan")
    else:
        frame.loc[3, "nose_tip_x"] = float("inf")
    frame.to_csv(data, index=False)
    space = tmp_path / "kp.yaml"
    space.write_text("name: kp\ntask: keypoints\ndata: {path: training.csv}\nobjective: {metric: val_rmse}\n"
                     "budget: {trials: 2, max_epochs: 1}\nparams: {filters: 4, conv_blocks: 1}\n")
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    proc = run_hpo("worker", "--study", "kp", "--space", str(space), "--storage", url, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    expect = ("split has no labelled targets" if case == "no_labels"
              else "row(s) of the train split have infinite target values")
    assert line.startswith("hpo: error: training.csv: ") and expect in line, line
    assert not (tmp_path / "studies.db").exists()


# -- a stalled worker, a dead proxy -------------------------------------------------------------

def _wait_until_stopped(pid: int) -> None:
    """Until every thread of ``pid`` is in the stopped state: only then can it take no lock."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
            except (OSError, IndexError):
                pass  # a thread that just exited
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop within 30 s of SIGSTOP")


def _stop_outside_a_transaction(worker: subprocess.Popen, db: Path) -> None:  # type: ignore[type-arg]
    """SIGSTOP the worker at a moment it holds no SQLite write lock (it writes an epoch report or a
    heartbeat several times a second; stopped mid-transaction it would lock everyone else out)."""
    import sqlite3

    for _ in range(200):
        worker.send_signal(signal.SIGSTOP)
        _wait_until_stopped(worker.pid)  # a signal is delivered a moment after kill() returns
        probe = sqlite3.connect(db, timeout=0.2)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:  # locked: let it finish that transaction, then try again
            worker.send_signal(signal.SIGCONT)
            time.sleep(0.05)
        finally:
            probe.close()
    raise AssertionError("the worker never let go of the database's write lock")


def test_a_worker_resumed_after_its_trial_was_failed_as_stale_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGSTOP past the grace period: another process fails its trial (and queues the retry); on
    SIGCONT the worker must not die with "Cannot tell a FAIL trial"."""
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    # One trial: carrying on, the worker must go on to run its failed trial's retry.
    space = tiny_space(tmp_path, trials=1, epochs=15, pruner="none")
    fast = {"HPO_HEARTBEAT_INTERVAL": "1", "HPO_GRACE_PERIOD": "2"}
    worker = subprocess.Popen([HPO, "worker", "--study", "tiny", "--space", str(space), "--storage", url],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, **fast, "HPO_CACHE_DIR": str(tmp_path / "cache")})

    def training() -> bool:
        try:
            return any(t.state.name == "RUNNING" and "hpo:checkpoint" in t.user_attrs for t in study_trials(url))
        except Exception:
            return False

    _wait(training, worker)
    _stop_outside_a_transaction(worker, tmp_path / "studies.db")
    try:
        time.sleep(4)  # past the grace period: its heartbeat is stale
        for key, value in fast.items():
            monkeypatch.setenv(key, value)
        from hpo.storage import open_storage
        from hpo.worker import fail_stale_trials

        fail_stale_trials(optuna.load_study(study_name="tiny", storage=open_storage(url, heartbeat=True)))
        assert [t.state.name for t in study_trials(url)] == ["FAIL", "WAITING"]
    finally:
        worker.send_signal(signal.SIGCONT)
    _, err = worker.communicate(timeout=300)
    assert worker.returncode == 0, err
    assert "failed as stale by another worker" in err and "Traceback" not in err
    states = [t.state.name for t in study_trials(url)]
    assert states.count("COMPLETE") == 1 and "RUNNING" not in states and "WAITING" not in states, states


def test_a_proxy_that_dies_mid_trial_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    db = f"sqlite:///{tmp_path / 'studies.db'}"
    proxy = subprocess.Popen([HPO, "proxy", "--storage", db, "--port", str(port)], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    grpc_url = f"grpc://127.0.0.1:{port}"
    space = tiny_space(tmp_path, trials=2, epochs=200, pruner="none")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the proxy answers
            if run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", grpc_url,
                       cwd=tmp_path).returncode == 0:
                break
            time.sleep(0.5)
        worker = subprocess.Popen([HPO, "worker", "--study", "tiny", "--storage", grpc_url, "--db-wait", "3"],
                                  cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "HPO_CACHE_DIR": str(tmp_path / "cache")})
        _wait(lambda: any(t.state.name == "RUNNING" and t.intermediate_values for t in study_trials(db)), worker)
    finally:
        proxy.kill()
        proxy.communicate()
    _, err = worker.communicate(timeout=180)
    assert worker.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("hpo: error: storage ") and "gRPC UNAVAILABLE" in last, last
    assert "_InactiveRpcError" not in err and "Traceback" not in err


# -- lost checkpoints ---------------------------------------------------------------------------

@pytest.mark.parametrize("lost", ["deleted", "never saved"])
def test_a_retry_whose_checkpoint_is_gone_starts_over_with_a_clean_curve(tmp_path: Path, lost: str) -> None:
    """The dead run reported epochs, and its checkpoint is gone (deleted), or it died before the
    checkpoint interval first came round (never saved): the retry cannot resume, and must not
    report those epochs again under the same trial."""
    import shutil

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    epochs = 12
    space = tiny_space(tmp_path, trials=1, epochs=epochs, pruner="none")  # the killed trial is the budget
    fast = {"HPO_HEARTBEAT_INTERVAL": "1", "HPO_GRACE_PERIOD": "2", "HPO_ARTIFACTS": str(tmp_path / "artifacts"),
            "HPO_CHECKPOINT_INTERVAL": "0" if lost == "deleted" else "1e9"}
    first = subprocess.Popen([HPO, "worker", "--study", "tiny", "--space", str(space), "--storage", url],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, **fast, "HPO_CACHE_DIR": str(tmp_path / "cache")})

    def far_enough() -> bool:
        try:
            return any(t.state.name == "RUNNING" and len(t.intermediate_values) >= 3 and (
                lost == "never saved" or t.user_attrs.get("hpo:checkpoint", {}).get("epoch", -1) >= 2)
                for t in study_trials(url))
        except Exception:
            return False

    _wait(far_enough, first)
    first.kill()  # SIGKILL: the trial stays RUNNING, its curve and checkpoint pointer in the database
    first.wait()
    if lost == "deleted":
        shutil.rmtree(tmp_path / "artifacts")
    time.sleep(3)  # past the grace period
    second = run_hpo("worker", "--study", "tiny", "--storage", url, cwd=tmp_path, env=fast)
    assert second.returncode == 0, second.stderr
    assert "already reported" not in second.stderr
    trials = {t.number: t for t in study_trials(url)}
    killed = next(t for t in trials.values() if t.state.name == "FAIL" and len(t.intermediate_values) >= 3
                  and not t.system_attrs.get("failed_trial"))
    assert ("hpo:checkpoint" in killed.user_attrs) == (lost == "deleted")
    retry = next(t for t in trials.values() if t.system_attrs.get("failed_trial") == killed.number)
    reason = "checkpoint of epoch" if lost == "deleted" else "before its first checkpoint"
    assert retry.state.name == "FAIL" and reason in retry.user_attrs["fail_reason"], retry.user_attrs
    fresh = next(t for t in trials.values() if t.user_attrs.get("hpo:requeued_from") == retry.number)
    assert fresh.state.name == "COMPLETE" and fresh.params == killed.params
    assert "resumed_from_epoch" not in fresh.user_attrs
    assert sorted(fresh.intermediate_values) == list(range(epochs))  # its own curve, from epoch 0
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials.values()) == 1
    assert not [t for t in trials.values() if t.state.name in ("RUNNING", "WAITING")]


# -- servers: one line, not a traceback (issue 9 §2) --------------------------------------------

@pytest.mark.parametrize("command", ["dashboard", "proxy"])
def test_a_server_on_a_busy_port_or_a_bad_host_is_one_line(tmp_path: Path, command: str) -> None:
    import socket

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=2, epochs=1)
    assert run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", url, cwd=tmp_path).returncode == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = [
            (["--port", str(port)], f"hpo: error: --port: 127.0.0.1:{port} is in use; pick another port"),
            (["--port", "70000"], "hpo: error: --port: 70000 is not a TCP port (1-65535)"),
            (["--host", "256.1.1.1"], "hpo: error: --host: cannot listen on '256.1.1.1'"),
            (["--host", "192.0.2.77"], "hpo: error: --host: 192.0.2.77 is not an address of this machine"),
        ]
        for flags, expect in cases:
            proc = run_hpo(command, "--storage", url, *flags, cwd=tmp_path, timeout=60)
            assert proc.returncode == 2, (flags, proc.stderr)
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(expect), (flags, lines)


# -- secrets in a fleet's argv ------------------------------------------------------------------

def test_a_fleets_children_get_the_storage_url_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ps` shows argv: a worker's children must not carry the password there."""
    from hpo.cli import _worker_flags, build_parser

    url = "postgresql+psycopg://hpo:s3cret@db.example:5432/studies"
    monkeypatch.delenv("HPO_STORAGE", raising=False)
    args = build_parser().parse_args(["worker", "--study", "s", "--workers", "2", "--storage", url])
    flags = _worker_flags(args, None, None)
    assert not any("s3cret" in flag for flag in flags) and "--storage" not in flags
    assert os.environ["HPO_STORAGE"] == url  # what the children inherit


# -- a flag that would be ignored (issue 9 §3) --------------------------------------------------

def test_data_for_a_format_that_reads_no_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=2, epochs=1)
    (tmp_path / "mine.csv").write_text("x\n")
    proc = run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", url, "--data", "mine.csv",
                   cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "hpo: error: --data: format digits reads no data file, so mine.csv would be ignored; leave --data out, "
        "or use a study whose data.format reads files"]
    assert not (tmp_path / "studies.db").exists()


# -- duplicated work ----------------------------------------------------------------------------

def test_a_worker_restarted_with_the_same_id_does_not_replay_its_samples(tmp_path: Path) -> None:
    """Found by the docker-compose proof: a restarted container keeps its hostname, so its worker
    id, and re-ran its first life's random start-up samples."""
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = tiny_space(tmp_path, trials=2, epochs=1, sampler="random", pruner="none")
    space.write_text(space.read_text().split("baselines:")[0])
    for _ in range(2):  # one trial a life: a replay would repeat the first life's first sample
        proc = run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", url, "--worker-id", "7",
                       "--trials", "1", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    params = [tuple(sorted(t.params.items())) for t in study_trials(url)]
    assert len(params) == 2 and len(set(params)) == 2, params
