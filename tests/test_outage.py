"""A PostgreSQL that goes away mid-study: a throwaway cluster of our own, stopped for real.

Never the machine's shared server: initdb/pg_ctl run as the `postgres` user on a free port.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import HPO, free_port, run_hpo, study_trials, tiny_space

pytestmark = pytest.mark.postgres


@dataclass
class Cluster:
    url: str
    data: Path
    port: int
    log: Path

    def _ctl(self, *args: str) -> None:
        bin_dir = Path(_pg_bin())
        subprocess.run(["runuser", "-u", "postgres", "--", str(bin_dir / "pg_ctl"), "-D", str(self.data),
                        "-l", str(self.log), *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        sock = str(self.data.parent)
        self._ctl("-o", f"-p {self.port} -k {sock} -c listen_addresses=127.0.0.1", "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return str(Path(found[-1]).parent) if found else ""



@pytest.fixture
def cluster() -> Iterator[Cluster]:
    missing = [what for what, ok in (("PostgreSQL server binaries (initdb)", _pg_bin()),
                                      ("runuser", shutil.which("runuser")), ("root", os.geteuid() == 0))
               if not ok]
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        missing.append("a postgres user")
    if missing:
        reason = f"a throwaway PostgreSQL cluster needs {', '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    home = Path(tempfile.mkdtemp(prefix="hpo-pg-"))
    os.chown(home, pw.pw_uid, pw.pw_gid)
    data = home / "data"
    subprocess.run(["runuser", "-u", "postgres", "--", f"{_pg_bin()}/initdb", "-D", str(data), "-A", "trust",
                    "-U", "postgres"], check=True, capture_output=True, timeout=120)
    port = free_port()
    c = Cluster(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", data, port, home / "log")
    c.start()
    try:
        yield c
    finally:
        try:
            c._ctl("-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(home, ignore_errors=True)


_trials = study_trials


def _start_worker(tmp_path: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HPO_CACHE_DIR": str(tmp_path / "cache"), "HPO_ARTIFACTS": str(tmp_path / "artifacts")}
    return subprocess.Popen([HPO, "worker", "--study", "tiny", "--storage", url, *extra], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_training(url: str, worker: subprocess.Popen[str], need_complete: int) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert worker.poll() is None, worker.communicate()[1]
        trials = _trials(url)
        done = sum(t.state.name == "COMPLETE" for t in trials)
        if done >= need_complete and any(t.state.name == "RUNNING" and "hpo:checkpoint" in t.user_attrs
                                         for t in trials):
            return
        time.sleep(0.3)
    worker.kill()
    raise AssertionError(worker.communicate()[1])


def test_database_restart_mid_study_loses_and_duplicates_nothing(tmp_path: Path, cluster: Cluster) -> None:
    budget = 3  # one trial done before the outage, one it interrupts, one started after it
    space = tiny_space(tmp_path, trials=budget, epochs=15, pruner="none")
    assert run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", cluster.url,
                   cwd=tmp_path).returncode == 0
    worker = _start_worker(tmp_path, cluster.url, "--db-wait", "120")
    _wait_training(cluster.url, worker, need_complete=1)
    lines: list[str] = []
    noticed = threading.Event()

    def read_stderr() -> None:
        assert worker.stderr is not None
        for line in worker.stderr:
            lines.append(line)
            if "storage unreachable" in line:
                noticed.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    cluster.stop()  # for real: the server process exits, every connection drops
    # Down until the worker has run into it (however slow this machine), then back.
    assert noticed.wait(120), "".join(lines)
    cluster.start()
    worker.wait(timeout=300)
    reader.join(timeout=30)
    err = "".join(lines)
    assert worker.returncode == 0, err
    assert "storage unreachable" in err and "storage is back" in err
    trials = _trials(cluster.url)
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") + states.count("PRUNED") == budget
    assert "RUNNING" not in states and "WAITING" not in states
    finished_params = [t.params for t in trials if t.state.name == "COMPLETE"]
    for failed in (t for t in trials if t.state.name == "FAIL"):
        # The trial the outage interrupted was queued again and finished: nothing lost.
        assert failed.params in finished_params
        again = next(t for t in trials if t.user_attrs.get("hpo:requeued_from") == failed.number)
        assert again.state.name == "COMPLETE"


def test_worker_gives_up_after_db_wait_with_one_line(tmp_path: Path, cluster: Cluster) -> None:
    space = tiny_space(tmp_path, trials=5, epochs=15, pruner="none")
    run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", cluster.url, cwd=tmp_path)
    worker = _start_worker(tmp_path, cluster.url, "--db-wait", "3")
    _wait_training(cluster.url, worker, need_complete=0)
    cluster.stop()
    try:
        _, err = worker.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        worker.send_signal(signal.SIGKILL)
        raise
    assert worker.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("hpo: error: storage unreachable for ") and "(limit --db-wait 3)" in last
