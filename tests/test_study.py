"""Studies in real storage: pinning, drift, baselines, every sampler and pruner."""

from __future__ import annotations

import optuna
import pytest

from hpo.errors import SpecDriftError, StudyNotFoundError
from hpo.record import SHA_ATTR
from hpo.space import spec_from_dict, suggest
from hpo.storage import count_states, open_storage, redact, resolve_url
from hpo.study import create_study, open_study, pinned_spec
from hpo.worker import run_worker


def _raw(sampler: dict | None = None, pruner: dict | None = None) -> dict:
    return {
        "name": "s",
        "task": "classification",
        "data": {"format": "digits"},
        "objective": {"metric": "val_accuracy", "direction": "maximize"},
        "budget": {"trials": 6, "max_epochs": 4},
        "sampler": sampler or {"type": "tpe", "seed": 0},
        "pruner": pruner or {"type": "median"},
        "params": {
            "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
            "filters": {"type": "int", "low": 8, "high": 32, "step": 8},
            "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
            "momentum": {"type": "float", "low": 0.0, "high": 0.9, "step": 0.3, "when": {"optimizer": "sgd"}},
        },
        "baselines": [{"dropout": 0.2, "filters": 16, "optimizer": "sgd", "momentum": 0.9}],
    }


def test_create_pins_spec_and_enqueues_baselines(storage_url: str) -> None:
    spec = spec_from_dict(_raw())
    storage = open_storage(storage_url)
    study, created = create_study(storage, spec)
    assert created
    assert study.user_attrs[SHA_ATTR] == spec.sha256
    assert pinned_spec(storage, "s") == spec
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [dict(spec.baselines[0])]
    _, created_again = create_study(storage, spec)
    assert not created_again
    assert len(study.get_trials()) == 1

    drifted = _raw()
    drifted["params"]["dropout"]["high"] = 0.3
    drifted["budget"]["trials"] = 60
    with pytest.raises(SpecDriftError, match=r"at: params\.dropout\.high \(0\.5 -> 0\.3\); restore") as info:
        create_study(storage, spec_from_dict(drifted))
    assert "budget" not in str(info.value).split("; restore")[0]  # growth is not the problem
    assert pinned_spec(storage, "s") == spec  # nothing taken
    grown = _raw()
    grown["budget"]["trials"] = 60
    create_study(storage, spec_from_dict(grown))
    assert pinned_spec(storage, "s").trials == 60
    changes = optuna.load_study(study_name="s", storage=storage).user_attrs
    assert changes["hpo:changes"][0]["changes"] == ["budget.trials (6 -> 60)"]
    grown["early_stopping"] = {"patience": 2}  # costs less per trial; the values mean the same
    create_study(storage, spec_from_dict(grown))
    assert pinned_spec(storage, "s").early_stopping == {"patience": 2}
    changes = optuna.load_study(study_name="s", storage=storage).user_attrs
    assert changes["hpo:changes"][1]["changes"] == ["early_stopping (added)"]


def test_open_unknown_study(storage_url: str) -> None:
    with pytest.raises(StudyNotFoundError, match="no study named 'ghost'"):
        open_study(open_storage(storage_url), "ghost")


SAMPLERS = [{"type": "tpe", "seed": 1, "multivariate": True}, {"type": "random", "seed": 1},
            {"type": "gp", "seed": 1, "n_startup_trials": 2}, {"type": "cmaes", "seed": 1, "n_startup_trials": 2},
            {"type": "grid", "seed": 1}]
SAMPLER_CLASSES = {"tpe": "TPESampler", "random": "RandomSampler", "gp": "GPSampler",
                   "cmaes": "CmaEsSampler", "grid": "GridSampler"}
PRUNERS = [{"type": "median", "n_warmup_steps": 1}, {"type": "percentile", "percentile": 25.0},
           {"type": "successive_halving", "min_resource": 1}, {"type": "hyperband", "min_resource": 1},
           {"type": "none"}]


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: s["type"])
@pytest.mark.parametrize("pruner", PRUNERS, ids=lambda p: p["type"])
def test_every_sampler_and_pruner_runs_a_study(tmp_path, sampler: dict, pruner: dict) -> None:  # type: ignore[no-untyped-def]
    spec = spec_from_dict(_raw(sampler, pruner))
    url = f"sqlite:///{tmp_path / 's.db'}"
    create_study(open_storage(url), spec)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, spec)
        # A learning curve that rises with filters: pruners have something to compare.
        for epoch in range(spec.max_epochs):
            trial.report(params["filters"] / 32 * (epoch + 1) / spec.max_epochs, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(params["filters"]) / 32

    report = run_worker(url, "s", objective_factory=lambda s, d, u: objective, log=lambda line: None)
    storage = open_storage(url)
    counts = count_states(storage, storage.get_study_id_from_name("s"))
    assert report.budget_reached
    assert counts["COMPLETE"] + counts["PRUNED"] == spec.trials
    assert counts["COMPLETE"] >= 1
    study, _ = open_study(storage, "s")
    assert type(study.sampler).__name__ == SAMPLER_CLASSES[sampler["type"]]
    first = study.trials[0]
    assert first.params == dict(spec.baselines[0])  # the baseline ran first, whatever the sampler


def test_url_resolution_and_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HPO_STORAGE", raising=False)
    assert resolve_url(None) == "sqlite:///storage/hpo.db"
    monkeypatch.setenv("HPO_STORAGE", "postgresql://u:pw@h/db")
    assert resolve_url(None) == "postgresql+psycopg://u:pw@h/db"
    assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"
    assert redact("postgresql+psycopg://u:pw@h:5432/db") == "postgresql+psycopg://u:***@h:5432/db"


def _open_and_close(url: str) -> None:
    open_storage(url).engine.dispose()


def test_workers_starting_together_on_a_fresh_database_all_get_in(storage_url: str) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_open_and_close, args=(storage_url,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    create_study(open_storage(storage_url), spec_from_dict(_raw()))  # the schema they made works
