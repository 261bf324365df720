"""Where studies live: resolve the storage URL and open Optuna's RDB storage on it.

``--storage`` beats ``$HPO_STORAGE`` beats ``sqlite:///storage/hpo.db``. A URL's
password never leaves this module unredacted.
"""

from __future__ import annotations

import os
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError, StorageError

if TYPE_CHECKING:
    import optuna

DEFAULT_STORAGE = "sqlite:///storage/hpo.db"
# Heartbeats let a crashed worker's RUNNING trial be failed (and retried) by the others.
HEARTBEAT_INTERVAL_S = 20
GRACE_PERIOD_S = 60
MAX_RETRIES = 2
SCHEMA_RACE_RETRIES = 5


def resolve_url(flag: str | None) -> str:
    from sqlalchemy.engine import make_url

    url = flag or os.environ.get("HPO_STORAGE") or DEFAULT_STORAGE
    scheme = url.split(":", 1)[0]
    if scheme == "grpc":
        grpc_address(url)  # validates
        return url
    if scheme in ("postgresql", "postgres"):
        # psycopg 3 is the driver hpo ships with; SQLAlchemy would otherwise look for psycopg2.
        url = "postgresql+psycopg" + url[len(scheme):]
    elif scheme not in ("sqlite", "postgresql+psycopg"):
        raise ConfigError(
            f"--storage: unsupported URL scheme {scheme!r}; use sqlite:///PATH, "
            "postgresql+psycopg://USER@HOST:PORT/DB or grpc://HOST:PORT (an `hpo proxy`)"
        )
    try:
        make_url(url)
    except Exception as e:
        # Not the parser's message: it quotes the whole URL, password included.
        raise ConfigError(
            f"--storage: cannot parse {redact(url)} as DIALECT://USER[:PASSWORD]@HOST[:PORT]/DB"
        ) from e
    if url.startswith("sqlite") and not url.startswith("sqlite:///"):
        raise ConfigError("--storage: SQLite URLs look like sqlite:///relative/path.db or sqlite:////abs/path.db")
    return url


def grpc_address(url: str) -> tuple[str, int]:
    """``grpc://HOST:PORT`` (an ``hpo proxy``) -> (host, port)."""
    rest = url[len("grpc://"):] if url.startswith("grpc://") else ""
    host, _, port = rest.rstrip("/").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--storage: expected grpc://HOST:PORT, got {url!r}")
    return host, int(port)


def redact(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        if "password" in parsed.query:  # libpq also takes ?password=
            parsed = parsed.update_query_dict({"password": "***"})
        return parsed.render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: show only its scheme
        return url.split(":", 1)[0] + "://…"


def sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def open_storage(
    url: str, *, must_exist: bool = False, heartbeat: bool = False
) -> optuna.storages.RDBStorage:
    """Open the storage, turning driver errors into one-line ``StorageError``s.

    ``must_exist`` refuses to create a new SQLite file (for read-only commands);
    ``heartbeat`` is for workers: stale trials are failed and retried elsewhere.
    """
    import optuna
    import sqlalchemy.exc

    if url.startswith("grpc://"):
        return _open_proxy(url)
    path = sqlite_path(url)
    if path is not None:
        if must_exist and not path.exists():
            raise StorageError(
                f"no study database at {path}; create a study first with `hpo create` or "
                "`hpo worker`, or pass --storage"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"cannot create {path.parent} for the SQLite database: {e.strerror}") from e
    engine_kwargs: dict[str, Any]
    if url.startswith("sqlite"):
        # Wait for the writer lock instead of failing with "database is locked".
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    kwargs: dict[str, Any] = {}
    if heartbeat:
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        interval = _env_int("HPO_HEARTBEAT_INTERVAL", HEARTBEAT_INTERVAL_S)
        kwargs = {
            "heartbeat_interval": interval,
            "grace_period": max(_env_int("HPO_GRACE_PERIOD", GRACE_PERIOD_S), interval + 1),
            "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                # The retry resumes from the dead run's last checkpoint, so its curve goes on.
                max_retry=_env_int("HPO_STALE_RETRIES", MAX_RETRIES, minimum=0), inherit_intermediate_values=True
            ),
        }
    for attempt in range(SCHEMA_RACE_RETRIES + 1):
        try:
            with warnings.catch_warnings():
                # Heartbeats are "experimental" in optuna's vocabulary since 2.8; hpo relies on them.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
            if path is not None:
                _use_wal(storage)
                _serialize_sqlite_transactions(storage)
            return storage
        except (sqlalchemy.exc.SQLAlchemyError, OSError, RuntimeError) as e:
            # Workers starting together on a fresh database race to create optuna's tables;
            # the loser sees "already exists" and simply opens what the winner made.
            if attempt < SCHEMA_RACE_RETRIES and _is_schema_race(e):
                time.sleep(0.2 * (attempt + 1))
                continue
            # RuntimeError: optuna refuses a schema written by another optuna version.
            raise StorageError(f"cannot open storage {redact(url)}: {_first_line(e)}") from e
    raise AssertionError("unreachable")


def artifacts_dir(url: str) -> Path:
    """Where trial checkpoints go: $HPO_ARTIFACTS, else beside the SQLite file, else storage/.

    Workers on several machines need a directory they all see (a shared mount) to resume
    each other's trials; without one a retry starts at epoch 0.
    """
    configured = os.environ.get("HPO_ARTIFACTS")
    if configured:
        return Path(configured)
    db = sqlite_path(url)
    return (db.parent if db is not None else Path("storage")) / "artifacts"


def open_artifact_store(url: str) -> Any:
    from optuna.artifacts import FileSystemArtifactStore

    path = artifacts_dir(url)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"cannot create the artifact store {path}: {e.strerror}; set HPO_ARTIFACTS") from e
    return FileSystemArtifactStore(str(path))


def _use_wal(storage: optuna.storages.RDBStorage) -> None:
    """Write-ahead logging: readers (budget checks, status, the dashboard) stop blocking the
    writers, and the heartbeat thread stops queueing behind them. It is a property of the
    database file, so setting it once sticks for every later connection."""
    import sqlalchemy

    with storage.engine.connect() as conn:
        conn.execute(sqlalchemy.text("PRAGMA journal_mode=WAL"))


def _serialize_sqlite_transactions(storage: optuna.storages.RDBStorage) -> None:
    """Start every SQLite transaction with BEGIN IMMEDIATE.

    Optuna claims a WAITING trial (an enqueued baseline, a retry) by reading its state and
    then writing RUNNING, relying on SELECT ... FOR UPDATE, which SQLite ignores; and
    pysqlite runs that SELECT outside any transaction. Two workers could then both claim
    one trial ("Cannot tell a COMPLETE trial"). Taking the write lock at BEGIN makes the
    read-then-write atomic; the 60 s busy timeout makes the others wait their turn.
    (SQLAlchemy's documented recipe for pysqlite transactions.)
    """
    from sqlalchemy import event

    engine = storage.engine

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # pooled connections predate the listeners


def _is_schema_race(e: BaseException) -> bool:
    text = str(getattr(e, "orig", None) or e).lower()
    return any(s in text for s in ("already exists", "duplicate key", "unique constraint"))


def _open_proxy(url: str) -> Any:
    """A client of ``hpo proxy``: the proxy holds the database connections, workers hold one
    gRPC channel each. (Optuna's proxy has no heartbeats: dead workers are not detected.)"""
    import optuna

    host, port = grpc_address(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        proxy = optuna.storages.GrpcStorageProxy(host=host, port=port)
    try:
        proxy.get_all_studies()  # fail now, in one line, if nothing answers
    except Exception as e:
        detail = e.details() if hasattr(e, "details") else _first_line(e)  # grpc's own summary
        raise StorageError(f"cannot reach the hpo proxy at {host}:{port}: {detail}; is `hpo proxy` running?") from e
    return proxy


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError as e:
        raise ConfigError(f"${name}: must be a whole number, got {text!r}") from e
    if value < minimum:
        raise ConfigError(f"${name}: must be >= {minimum}, got {value}")
    return value


def _first_line(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def storage_errors() -> tuple[type[BaseException], ...]:
    """What a database that went away raises, through SQLAlchemy or through optuna's wrapper."""
    import optuna
    import sqlalchemy.exc

    errors: tuple[type[BaseException], ...] = (
        sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, optuna.exceptions.StorageInternalError)
    try:
        import grpc

        errors += (grpc.RpcError,)  # through `hpo proxy`
    except ImportError:
        pass
    return errors


def caused_by_storage(e: BaseException) -> bool:
    """Whether a storage failure is anywhere in an exception's chain (optuna sometimes hides
    a lost connection behind an error of its own raised while handling it)."""
    seen: set[int] = set()
    current: BaseException | None = e
    while current is not None and id(current) not in seen:
        if isinstance(current, storage_errors()):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def count_states(
    storage: optuna.storages.BaseStorage, study_id: int, *, before_trial_id: int | None = None
) -> Counter[str]:
    """Trials of a study by state name, optionally only those created before a trial.

    One aggregate query on RDB storages; loading every trial would make each
    budget check O(trials) in rows shipped.
    """
    from optuna.storages import RDBStorage

    storage = getattr(storage, "_backend", storage)  # a Study wraps its RDBStorage in a cache
    if isinstance(storage, RDBStorage):
        import sqlalchemy

        sql = "SELECT state, COUNT(*) FROM trials WHERE study_id = :sid"
        args: dict[str, int] = {"sid": study_id}
        if before_trial_id is not None:
            sql += " AND trial_id < :tid"
            args["tid"] = before_trial_id
        with storage.engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text(sql + " GROUP BY state"), args).all()
        return Counter({str(getattr(s, "name", s)): int(n) for s, n in rows})
    trials = storage.get_all_trials(study_id, deepcopy=False)
    return Counter(
        t.state.name for t in trials if before_trial_id is None or t._trial_id < before_trial_id
    )
