"""Shared fixtures: a storage URL over SQLite and a real PostgreSQL, and the real `hpo` command."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HPO = str(Path(sys.executable).parent / "hpo")
PG_ADMIN = os.environ.get("HPO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
# Tests kill and interrupt trials a few epochs in, and check they resume from their last
# checkpoint: a checkpoint after every epoch (not every 30 s) makes that point exact. Tests of
# the interval itself set it (tests/test_checkpoints.py, tests/faults/test_runaway.py).
os.environ.setdefault("HPO_CHECKPOINT_INTERVAL", "0")


def _pg_admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)


def _postgres_or_skip() -> None:
    try:
        _pg_admin_connect().close()
    except Exception as e:  # no server answering
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires PostgreSQL at {PG_ADMIN}: {e}")
        pytest.skip(f"no PostgreSQL answering at {PG_ADMIN} (set HPO_TEST_POSTGRES): {e}")


@pytest.fixture(autouse=True, scope="session")
def _cache_outside_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """In-process loads cache parsed data under the session's temp folder, not ~/.cache/hpo."""
    previous = os.environ.get("HPO_CACHE_DIR")
    os.environ["HPO_CACHE_DIR"] = str(tmp_path_factory.mktemp("hpo-cache"))
    yield
    if previous is None:
        os.environ.pop("HPO_CACHE_DIR", None)
    else:
        os.environ["HPO_CACHE_DIR"] = previous


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    _postgres_or_skip()
    name = f"hpo_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with _pg_admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return str(request.getfixturevalue("postgres_url"))


def free_port() -> int:
    """A TCP port nothing listens on now (for servers the tests start)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_hpo(*args: str, cwd: Path, timeout: float = 240, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """Run the real `hpo` console script."""
    full_env = {k: v for k, v in os.environ.items() if k != "HPO_STORAGE"}
    full_env.update({"HPO_CACHE_DIR": str(cwd / "cache"), **(env or {})})
    return subprocess.run([HPO, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def study_trials(url: str, name: str = "tiny") -> list:  # type: ignore[type-arg]
    """Every trial of a study, read straight from the database."""
    import optuna

    from hpo.storage import open_storage

    storage = open_storage(url)
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    finally:
        if hasattr(storage, "engine"):
            storage.engine.dispose()


def db_snapshot(url: str) -> dict[str, object]:
    """Row counts of every table plus study names: equal snapshots = database untouched."""
    import sqlalchemy

    path = url.removeprefix("sqlite:///")
    if url.startswith("sqlite") and not Path(path).exists():
        return {"exists": False}
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sqlalchemy.inspect(conn).get_table_names()
            snap: dict[str, object] = {t: conn.execute(sqlalchemy.text(f'SELECT COUNT(*) FROM "{t}"')).scalar()
                                       for t in tables}
            if "studies" in tables:
                snap["names"] = sorted(r[0] for r in conn.execute(sqlalchemy.text("SELECT study_name FROM studies")))
            if "trial_user_attributes" in tables:
                query = sqlalchemy.text("SELECT trial_id, key FROM trial_user_attributes")
                snap["attrs"] = sorted((r[0], r[1]) for r in conn.execute(query))
        return snap
    finally:
        engine.dispose()


TINY_DIGITS = """\
name: {name}
task: classification
data: {{format: digits, validation_fraction: 0.25, limit: 400}}
objective: {{metric: val_accuracy, direction: maximize}}
budget: {{trials: {trials}, max_epochs: {epochs}}}
sampler: {{type: {sampler}, seed: 0}}
pruner: {{type: {pruner}}}
params:
  conv_blocks: {{type: int, low: 1, high: 2}}
  filters: {{type: categorical, choices: [4, 8]}}
  hidden_units: {{type: int, low: 8, high: 32, log: true}}
  dropout: {{type: float, low: 0.0, high: 0.5}}
  optimizer: {{type: categorical, choices: [adam, sgd]}}
  momentum: {{type: float, low: 0.0, high: 0.9, when: {{optimizer: sgd}}}}
  learning_rate: {{type: float, low: 1.0e-3, high: 1.0e-2, log: true}}
  batch_size: 64
baselines:
  - {{conv_blocks: 1, filters: 8, hidden_units: 16, dropout: 0.1, optimizer: adam, learning_rate: 0.005}}
"""


def tiny_space(directory: Path, name: str = "tiny", *, trials: int = 4, epochs: int = 2,
               sampler: str = "tpe", pruner: str = "median") -> Path:
    """A study file for a tiny digits CNN: trials take about a second on a CPU."""
    path = directory / f"{name}.yaml"
    path.write_text(TINY_DIGITS.format(name=name, trials=trials, epochs=epochs, sampler=sampler,
                                       pruner=pruner))
    return path
