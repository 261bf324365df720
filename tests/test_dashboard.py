"""`hpo dashboard` on a real study, driven to the study page in headless Chromium."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path

import optuna

from hpo.space import spec_from_dict, suggest
from hpo.storage import count_states, open_storage
from hpo.study import create_study
from hpo.worker import run_worker
from tests.browser import chromium_dump_dom
from tests.conftest import HPO, REPO, free_port

ARTIFACTS = REPO / "test-artifacts"
SPEC = {
    "name": "curves",
    "task": "classification",
    "data": {"format": "digits"},
    "objective": {"metric": "val_accuracy", "direction": "maximize"},
    "budget": {"trials": 12, "max_epochs": 5},
    "sampler": {"type": "random", "seed": 3},
    "pruner": {"type": "median", "n_startup_trials": 2},
    "params": {"dropout": {"type": "float", "low": 0.0, "high": 0.5},
               "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
}


def _study(url: str) -> None:
    spec = spec_from_dict(SPEC)
    create_study(open_storage(url), spec)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, spec)
        score = 1.0 - abs(params["dropout"] - 0.2)  # learning curves the median pruner can rank
        for epoch in range(spec.max_epochs):
            trial.report(score * (epoch + 1) / spec.max_epochs, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return score

    run_worker(url, "curves", objective_factory=lambda s, d, c: objective, log=lambda _: None)



def test_dashboard_shows_history_and_importance_with_the_studys_parameters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    _study(url)
    counts = count_states(open_storage(url), 1)
    assert counts["COMPLETE"] >= 2 and counts["PRUNED"] >= 1
    port = free_port()
    server = subprocess.Popen([HPO, "dashboard", "--storage", url, "--port", str(port)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/studies", timeout=2) as response:
                    assert b'"study_name": "curves"' in response.read()
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "dashboard did not answer"
                time.sleep(0.3)
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "dashboard.png"
        dom = chromium_dump_dom(f"{base}/dashboard/studies/1", screenshot=shot, wait_ms=15_000)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert 'id="plot-history"' in dom and "js-plotly-plot" in dom
    importance = dom[dom.index('id="graph-hyperparameter-importances"'):]
    labels = set(re.findall(r"<text[^>]*>([a-z_]+)</text>", importance))
    assert {"dropout", "learning_rate"} <= labels  # the study's own parameter names, plotted
    assert shot.stat().st_size > 20_000
