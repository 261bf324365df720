"""`hpo worker --workers/--gpus`: a parent supervising real worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import HPO, free_port, run_hpo, study_trials, tiny_space

_trials = study_trials


def test_cpu_workers_share_the_budget(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    space = tiny_space(tmp_path, trials=4, epochs=1, sampler="random", pruner="none")
    assert run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", url, cwd=tmp_path).returncode == 0
    # --trials is each child's: 2 each makes both take part, however far apart they start.
    proc = run_hpo("worker", "--study", "tiny", "--storage", url, "--workers", "2", "--trials", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "worker w0/cpu: finished" in proc.stderr and "worker w1/cpu: finished" in proc.stderr
    trials = _trials(url)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4 and not [t for t in trials if t.state.name == "RUNNING"]
    runtimes = [t.user_attrs["runtime"] for t in finished]
    assert {r["worker"].rsplit("/", 1)[1] for r in runtimes} == {"w0", "w1"}
    assert {r["cuda_visible_devices"] for r in runtimes} == {"-1"}
    # Different worker ids seed different samplers: the first random proposals differ.
    by_worker: dict[str, list[dict]] = {}
    for t in finished:
        if "hpo:baseline" not in t.user_attrs:
            by_worker.setdefault(t.user_attrs["runtime"]["worker"], []).append(t.params)
    firsts = [params[0] for params in by_worker.values()]
    assert len(firsts) == 2 and firsts[0] != firsts[1]


def test_one_worker_per_gpu_sees_only_its_gpu(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    space = tiny_space(tmp_path, trials=2, epochs=1, pruner="none")
    run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", url, cwd=tmp_path)
    proc = run_hpo("worker", "--study", "tiny", "--storage", url, "--gpus", "0,1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    devices = {t.user_attrs["runtime"]["cuda_visible_devices"] for t in _trials(url)
               if t.state.name == "COMPLETE"}
    assert devices <= {"0", "1"} and devices  # on a machine without GPUs they train on the CPU
    import tensorflow as tf

    # ... and each says so: once, before its first trial.
    warned = [line for line in proc.stderr.splitlines() if "the tensorflow backend sees no GPU" in line]
    if tf.config.list_physical_devices("GPU"):
        assert not warned, warned
    else:
        assert sorted(line.split("] ")[0] for line in warned) == ["[w0/gpu0", "[w1/gpu1"], proc.stderr


def test_mixed_precision_policy_is_used_and_recorded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    space = tiny_space(tmp_path, trials=1, epochs=1, pruner="none")
    proc = run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", url, "--mixed-precision",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [trial] = _trials(url)
    assert trial.state.name == "COMPLETE"
    assert trial.user_attrs["runtime"]["precision"] == "mixed_float16"


def test_parent_forwards_sigterm_and_nothing_stays_running(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    space = tiny_space(tmp_path, trials=10, epochs=300, pruner="none")
    run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", url, cwd=tmp_path)
    parent = subprocess.Popen([HPO, "worker", "--study", "tiny", "--storage", url, "--workers", "2"],
                              cwd=tmp_path, env={**os.environ, "HPO_CACHE_DIR": str(tmp_path / "c")},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if len([t for t in _trials(url) if t.state.name == "RUNNING" and "hpo:checkpoint" in t.user_attrs]) == 2:
            break
        time.sleep(0.5)
    else:
        parent.kill()
        raise AssertionError(parent.communicate()[1])
    parent.send_signal(signal.SIGTERM)
    _, err = parent.communicate(timeout=120)
    assert parent.returncode == 130, err
    assert err.count(": interrupted") == 2
    states = [t.state.name for t in _trials(url)]
    assert "RUNNING" not in states and states.count("WAITING") >= 2  # both trials requeued


def test_a_failing_child_fails_the_parent(tmp_path: Path) -> None:
    space = tiny_space(tmp_path, trials=2)
    proc = run_hpo("worker", "--study", "tiny", "--space", str(space), "--workers", "1", "--timeout", "-5",
                   cwd=tmp_path)
    assert proc.returncode == 2  # the parent's own parser refuses it before any child starts
    space_bad = tmp_path / "bad.yaml"
    space_bad.write_text(space.read_text().replace("pruner: {type: median}", "pruner: {type: asha}"))
    proc = run_hpo("worker", "--study", "tiny", "--space", str(space_bad), "--workers", "2", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == "hpo: error: 2 of 2 workers failed: w0/cpu, w1/cpu"
    assert any("pruner.type: unknown value 'asha'" in line for line in lines)


@pytest.mark.parametrize("gpus", ["0,x", "0,,1", ",", "-1"])
def test_bad_gpu_list(tmp_path: Path, gpus: str) -> None:
    proc = run_hpo("worker", "--study", "tiny", "--gpus", gpus, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"hpo: error: --gpus: expected GPU indices like 0,1,2,3, got {gpus!r}"



def test_workers_through_the_grpc_proxy(tmp_path: Path, storage_url: str) -> None:
    port = free_port()
    proxy = subprocess.Popen([HPO, "proxy", "--storage", storage_url, "--port", str(port)], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        grpc_url = f"grpc://127.0.0.1:{port}"
        space = tiny_space(tmp_path, trials=2, epochs=1, sampler="random", pruner="none")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the proxy answers
            create = run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", grpc_url,
                             cwd=tmp_path)
            if create.returncode == 0:
                break
            time.sleep(0.5)
        assert create.returncode == 0, create.stderr
        proc = run_hpo("worker", "--study", "tiny", "--storage", grpc_url, "--workers", "2", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    finally:
        proxy.send_signal(signal.SIGINT)
        try:  # a hang guard: it exits in well under a second when idle, but a loaded machine starves it
            _, proxy_err = proxy.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proxy.kill()
            raise AssertionError("hpo proxy did not exit within 120 s of SIGINT") from None
    # Ctrl-C is how a proxy is stopped: the server is shut down, not unwound by KeyboardInterrupt.
    assert proxy.returncode == 0 and proxy_err.strip().endswith("hpo proxy: stopped"), proxy_err
    # Straight from the database behind the proxy: exactly the budget, nothing left running.
    trials = _trials(storage_url)
    assert sum(t.state.name == "COMPLETE" for t in trials) == 2
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]


def test_unreachable_proxy_is_one_line(tmp_path: Path) -> None:
    proc = run_hpo("status", "--storage", f"grpc://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("hpo: error: cannot reach the hpo proxy at 127.0.0.1:") and "hpo proxy" in line
