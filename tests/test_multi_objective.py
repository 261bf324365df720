"""Multi-objective studies: accuracy against model size and latency, a Pareto front in
`hpo status`, the report, the dashboard, and `hpo export --trial N` to pick one."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hpo.errors import ConfigError
from hpo.space import load_spec
from tests.conftest import HPO, db_snapshot, free_port, run_hpo, tiny_space

OBJECTIVES = ("objective: [{metric: val_accuracy, direction: maximize}, {metric: params, direction: minimize}, "
              "{metric: latency_ms}]")


def mo_space(tmp_path: Path, *, sampler: str = "nsga2", pruner: str | None = None, objective: str = OBJECTIVES,
             trials: int = 5) -> Path:
    path = tiny_space(tmp_path, "mo", trials=trials, epochs=2, sampler=sampler)
    lines = [line for line in path.read_text().splitlines()
             if not line.startswith("objective:") and not line.startswith("pruner:")]
    lines.insert(3, objective)
    if pruner is not None:
        lines.insert(4, f"pruner: {pruner}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_list_of_objectives_is_a_multi_objective_spec(tmp_path: Path) -> None:
    spec = load_spec(mo_space(tmp_path))
    assert spec.objectives == (("val_accuracy", "maximize"), ("params", "minimize"), ("latency_ms", "minimize"))
    assert spec.multi_objective and spec.metric == "val_accuracy"
    assert spec.pruner == {"type": "none"}  # no pruner given: none, not the median default
    assert spec.to_dict()["objective"][2] == {"metric": "latency_ms", "direction": "minimize"}
    single = load_spec(tiny_space(tmp_path))
    assert not single.multi_objective and single.to_dict()["objective"] == {
        "metric": "val_accuracy", "direction": "maximize"}  # pinned single-objective specs read as before


@pytest.mark.parametrize(("kwargs", "key", "says"), [
    ({"pruner": "{type: median}"}, "pruner", "cannot prune a multi-objective study"),
    ({"sampler": "cmaes"}, "sampler.type", "cmaes handles one objective only"),
    ({"objective": "objective: [{metric: params}, {metric: val_accuracy}]"}, "objective[0].metric",
     "params is a model metric"),
    ({"objective": "objective: [{metric: val_accuracy}, {metric: val_accuracy}]"}, "objective[1].metric",
     "already objective[0]"),
    ({"objective": "objective: [{metric: val_accuracy}, {metric: params, direction: maximize}]"},
     "objective[1].direction", "params should be minimized"),
    ({"objective": "objective: []"}, "objective", "empty list"),
])
def test_bad_multi_objective_files_are_refused_by_key(tmp_path: Path, kwargs: dict[str, Any], key: str,
                                                      says: str) -> None:
    path = mo_space(tmp_path, **kwargs)
    with pytest.raises(ConfigError) as e:
        load_spec(path)
    assert f"{path}: {key}: " in str(e.value) and says in str(e.value)


def test_a_pruner_on_a_multi_objective_study_is_one_line_and_touches_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    run_hpo("create", "--space", str(tiny_space(tmp_path)), "--storage", url, cwd=tmp_path)
    before = db_snapshot(url)
    proc = run_hpo("worker", "--study", "mo", "--space", str(mo_space(tmp_path, pruner="{type: hyperband}")),
                   "--storage", url, cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "pruner: Optuna cannot prune a multi-objective study" in proc.stderr
    assert db_snapshot(url) == before



def test_a_multi_objective_study_end_to_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    proc = run_hpo("worker", "--study", "mo", "--space", str(mo_space(tmp_path)), "--storage", url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("trial ")]
    assert len(lines) == 5 and all(" val_accuracy=" in line and " params=" in line and " latency_ms=" in line
                                   for line in lines), lines

    proc = run_hpo("status", "--study", "mo", "--storage", url, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [status] = json.loads(proc.stdout)
    front = status["pareto_front"]
    assert status["best"] is None and [o["metric"] for o in status["objectives"]] == [
        "val_accuracy", "params", "latency_ms"]
    assert front and all(set(t["values"]) == {"val_accuracy", "params", "latency_ms"} for t in front)
    # A front: no member is beaten on every objective by another.
    for a in front:
        for b in front:
            va, vb = a["values"], b["values"]
            assert not (vb["val_accuracy"] >= va["val_accuracy"] and vb["params"] <= va["params"]
                        and vb["latency_ms"] <= va["latency_ms"] and vb != va)
    assert all(t["values"]["params"] == int(t["values"]["params"]) > 100 for t in front)
    text = run_hpo("status", "--study", "mo", "--storage", url, cwd=tmp_path).stdout
    assert f"Pareto front: {len(front)} trials" in text and "hpo export --trial N" in text
    # Every member stands next to the trivial predictor, not only the best: its line says which side.
    trivial = status["trivial_baseline"]["value"]
    for t in front:
        [line] = [ln for ln in text.splitlines() if ln.strip().startswith(f"trial {t['trial']}: ")]
        beat = t["values"]["val_accuracy"] > trivial
        assert ("(beats trivial)" in line) == beat and (f"(does not beat trivial ({trivial:.4g}))" in line) != beat

    before = db_snapshot(url)
    proc = run_hpo("export", "--study", "mo", "--storage", url, cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "--trial: study 'mo' has 3 objectives and no single best" in proc.stderr
    assert str(front[0]["trial"]) in proc.stderr
    pick = front[-1]["trial"]
    out = tmp_path / "pick.json"
    proc = run_hpo("export", "--study", "mo", "--storage", url, "--trial", str(pick), "--out", str(out),
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = json.loads(out.read_text())
    assert config["trial"] == pick and config["values"] == front[-1]["values"]
    assert config["value"] == config["values"]["val_accuracy"] and pick in config["pareto_front"]
    proc = run_hpo("export", "--study", "mo", "--storage", url, "--trial", "99", cwd=tmp_path)
    assert proc.returncode == 2 and "--trial 99: study 'mo' has no trial 99" in proc.stderr
    assert db_snapshot(url) == before

    proc = run_hpo("report", "--study", "mo", "--storage", url, "--out", str(tmp_path / "rep"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "rep" / "index.html").read_text()
    assert (tmp_path / "rep" / "pareto.png").stat().st_size > 5_000
    assert 'id="pareto"' in page and f"Pareto front of {len(front)} trials" in page
    assert "<th>val_accuracy vs trivial</th>" in page
    assert page.count("<td>beats trivial</td>") + page.count("<td>does not beat trivial (") == len(front)

    # The dashboard names the objectives on its Pareto-front plot and marks the same front.
    port = free_port()
    server = subprocess.Popen([HPO, "dashboard", "--storage", url, "--port", str(port)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/1", timeout=2) as response:
                    detail = json.loads(response.read())
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "dashboard did not answer"
                time.sleep(0.3)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert detail["objective_names"] == ["val_accuracy", "params", "latency_ms"]
    assert len(detail["directions"]) == 3
    # The dashboard's Pareto front (its "best_trials") is the one hpo status lists.
    assert sorted(t["number"] for t in detail["best_trials"]) == sorted(t["trial"] for t in front)
