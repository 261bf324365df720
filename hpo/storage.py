"""Where studies live: resolve the storage URL and open Optuna's RDB storage on it.

``--storage`` beats ``$HPO_STORAGE`` beats ``sqlite:///storage/hpo.db``. A URL's
password never leaves this module unredacted.
"""

from __future__ import annotations

import os
import sqlite3
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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
    url = _encode_userinfo(url)
    try:
        make_url(url)
    except Exception as e:
        # Not the parser's message: it quotes the whole URL, password included.
        raise ConfigError(
            f"--storage: cannot parse {redact(url)} as DIALECT://USER[:PASSWORD]@HOST[:PORT]/DB"
        ) from e
    if url.startswith("sqlite") and not url.startswith("sqlite:///"):
        raise ConfigError("--storage: SQLite URLs look like sqlite:///relative/path.db or sqlite:////abs/path.db")
    if url.startswith("sqlite") and make_url(url).database in (None, "", ":memory:"):
        # Each process would get its own empty database, gone when it exits: nothing a study could live in.
        raise ConfigError(f"--storage: {url} is no file; studies must outlive the process, so give one, "
                          f"e.g. {DEFAULT_STORAGE}")
    return url


def grpc_address(url: str) -> tuple[str, int]:
    """``grpc://HOST:PORT`` (an ``hpo proxy``) -> (host, port)."""
    rest = url[len("grpc://"):] if url.startswith("grpc://") else ""
    host, _, port = rest.rstrip("/").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--storage: expected grpc://HOST:PORT, got {url!r}")
    return host, int(port)


def _split_userinfo(url: str) -> tuple[str, str | None, str]:
    """``SCHEME://USERINFO@REST`` -> (``SCHEME://``, USERINFO or None, REST).

    The user part ends at the LAST '@': a password may hold unencoded '@', ':', '/', '#'
    (SQLAlchemy and libpq end it at the first '@' and take the rest of the password for the
    host). An '@' in a database name or query must then be written %40. SQLite URLs and
    URLs with one '@' or none are parsed the usual way.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "", None, url
    if scheme.startswith("sqlite") or "@" not in rest:
        return scheme + sep, None, rest
    userinfo, _, after = rest.rpartition("@")
    return scheme + sep, userinfo, after


def _encode_userinfo(url: str) -> str:
    """Percent-encode user and password when the user part holds an '@' of its own
    (``user:p@ss@host``), so that the driver connects to the right host and its errors
    (which name the host) carry no piece of the password."""
    from urllib.parse import unquote

    head, userinfo, after = _split_userinfo(url)
    if userinfo is None or "@" not in userinfo:
        return url
    user, colon, password = userinfo.partition(":")
    # unquote first: SQLAlchemy unquotes both, so an already-encoded %40 keeps its meaning.
    encoded = quote(unquote(user), safe="") + (":" + quote(unquote(password), safe="") if colon else "")
    return f"{head}{encoded}@{after}"


def redact(url: str) -> str:
    """The URL with any password replaced by ***: the only form of a URL hpo prints or logs.

    Works on the text, not on a parse: whatever sits between the user name and the last '@'
    is hidden, so a password with unencoded '@', ':', '/' or '#' never shows, even in a URL
    no parser accepts.
    """
    import re

    head, userinfo, after = _split_userinfo(url)
    if not head:  # no SCHEME:// at all: show only the scheme
        return url.split(":", 1)[0] + "://…"
    if head.startswith("sqlite"):
        return url  # a file path: no credentials
    shown = ""
    if userinfo is not None:
        user, colon, _ = userinfo.partition(":")
        shown = f"{user}:***@" if colon else f"{userinfo}@"
    after = re.sub(r"([?&]password=)[^&]*", r"\1***", after)  # libpq also takes ?password=
    authority, rest = re.match(r"([^/?]*)(.*)", after, re.S).groups()  # type: ignore[union-attr]
    host, colon, port = authority.rpartition(":")
    if colon and not port.isdigit() and not authority.endswith("]"):
        return f"{head}{shown}{host}:***"  # no number after the ':': perhaps a password whose '@' is missing
    return f"{head}{shown}{authority}{rest}"


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

    ``must_exist`` is for commands that only read (status, export, report, dashboard): the
    database must already hold optuna's tables, and nothing is written to it, not even the
    tables optuna would create in a foreign or empty database;
    ``heartbeat`` is for workers: stale trials are failed and retried elsewhere.
    """
    import optuna
    import sqlalchemy.exc

    if url.startswith("grpc://"):
        return _open_proxy(url)
    path = sqlite_path(url)
    if must_exist:
        if path is not None and not path.exists():
            raise StorageError(
                f"no study database at {path}; create a study first with `hpo create` or "
                "`hpo worker`, or pass --storage"
            )
        _require_study_database(url, path)
    if path is not None:
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
                storage = _storage_class()(url, engine_kwargs=engine_kwargs, **kwargs)
            if path is not None:
                if not must_exist:  # switching the journal mode rewrites the file's header: not for readers
                    _use_wal(storage)
                _serialize_sqlite_transactions(storage)
            if heartbeat:
                _add_trial_indexes(storage)
            return storage
        except (ValueError, TypeError) as e:  # the driver refused a URL query parameter (?timeout=abc)
            raise ConfigError(f"--storage: {redact(url)}: {_first_line(e)}; check the URL's query parameters") from e
        except (sqlalchemy.exc.SQLAlchemyError, OSError, RuntimeError) as e:
            # Workers starting together on a fresh database race to create optuna's tables;
            # the loser sees "already exists" and simply opens what the winner made.
            if attempt < SCHEMA_RACE_RETRIES and _is_schema_race(e):
                time.sleep(0.2 * (attempt + 1))
                continue
            # RuntimeError: optuna refuses a schema written by another optuna version.
            raise _cannot_open(url, e) from e
    raise AssertionError("unreachable")


def _storage_class() -> type:
    """Optuna's RDBStorage, except that a RUNNING trial whose worker died before its first
    heartbeat also counts as stale once it started longer ago than the grace period: optuna
    skips trials without a heartbeat row, and such a trial would hold the budget forever."""
    from datetime import UTC, datetime

    import optuna
    import sqlalchemy
    from optuna.storages._rdb import models

    class RDBStorage(optuna.storages.RDBStorage):
        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            stale = list(super()._get_stale_trial_ids(study_id))
            grace = self.grace_period if self.grace_period is not None else 2 * (self.heartbeat_interval or 60)
            # Optuna 5 keeps datetime_start in UTC (naive); older versions the worker's local time.
            utc = hasattr(models.TrialModel, "_datetime_start_utc")
            started_column = models.TrialModel._datetime_start_utc if utc else models.TrialModel.datetime_start
            now = datetime.now(UTC).replace(tzinfo=None) if utc else datetime.now()
            session = self.scoped_session()
            try:
                never_beat = (
                    session.query(models.TrialModel.trial_id, started_column)  # type: ignore[arg-type]
                    .filter(models.TrialModel.study_id == study_id,
                            models.TrialModel.state == optuna.trial.TrialState.RUNNING,
                            ~sqlalchemy.exists().where(
                                models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id))
                    .all()
                )
            finally:
                session.close()
            for trial_id, started in never_beat:
                if started is not None and (now - started).total_seconds() > grace and trial_id not in stale:
                    stale.append(trial_id)
            return stale

    return RDBStorage


def worker_cache(storage: optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """Optuna's trial cache in front of an RDBStorage, as ``optuna.load_study`` would put there,
    except for one query. Before every trial ``study.ask`` looks for queued (WAITING) trials,
    and the cache answers by filtering every trial it holds in Python: O(trials) per trial,
    the worker-side cost that grew with the study (``benchmarks/storage_cost.py``). A queued or
    running trial is one the cache lists as unfinished (it re-reads those on every call), so
    asking for unfinished states scans that set instead. Other storages are returned as they are."""
    import copy

    import optuna
    from optuna.storages._cached_storage import _CachedStorage

    if not isinstance(storage, optuna.storages.RDBStorage):
        return storage

    class QueueAwareCache(_CachedStorage):
        def get_all_trials(self, study_id: int, deepcopy: bool = True, states: Any = None) -> list[Any]:
            if states is None or any(state.is_finished() for state in states):
                return super().get_all_trials(study_id, deepcopy=deepcopy, states=states)
            self._read_trials_from_remote_storage(study_id)
            with self._lock:
                info = self._studies[study_id]
                where = self._trial_id_to_study_id_and_number
                if any(trial_id not in where for trial_id in info.unfinished_trial_ids):
                    return super().get_all_trials(study_id, deepcopy=deepcopy, states=states)  # never, but safe
                found = (info.trials[where[trial_id][1]] for trial_id in info.unfinished_trial_ids)
                trials = sorted((t for t in found if t.state in states), key=lambda t: t.number)
                return copy.deepcopy(trials) if deepcopy else trials

    return QueueAwareCache(storage)


SQLITE_MAGIC = b"SQLite format 3\x00"


def refuse_foreign_file(url: str) -> None:
    """For writers (create, worker), before they change anything: Optuna adds its tables to
    whatever SQLite file it is given, so a file that is no SQLite database, or an application's
    own database, is refused (a new or empty file, or a study database, passes).

    Only at a command's start, before the process holds a connection to the file: reading its
    header through a plain file descriptor and closing it drops every POSIX lock the process
    holds on it, SQLite's included, and another process could then corrupt the database."""
    path = sqlite_path(url)
    if path is not None and path.is_file() and path.stat().st_size:
        _require_study_database(url, path, writer=True)


def _require_study_database(url: str, path: Path | None, *, writer: bool = False) -> None:
    """Refuse, before optuna sees it, a database that is not a complete optuna study database.

    Optuna's RDBStorage creates its tables (and stamps their version) in whatever database it
    is given: a reader pointed at a foreign database or an empty file would write to it. The
    check itself cannot write: SQLite is opened read-only (``mode=ro``), PostgreSQL only queried.
    ``writer`` (create, worker: optuna may add its tables): only a file that is no SQLite database,
    or one that holds tables and none of Optuna's, is refused.
    """
    import sqlalchemy
    import sqlalchemy.exc
    from optuna.storages._rdb import models
    from sqlalchemy.pool import NullPool

    def refuse(why: str, hint: str = f"give hpo a SQLite file of its own, e.g. {DEFAULT_STORAGE}" if writer else
               "point --storage at the database your workers use, or create a study there with `hpo create`"
               ) -> ConfigError:
        return ConfigError(f"{redact(url)}: not an hpo/Optuna study database ({why}); {hint}")

    if path is not None:
        if path.is_dir():
            raise refuse(f"{path} is a directory")
        try:
            with path.open("rb") as f:
                header = f.read(len(SQLITE_MAGIC))
        except OSError as e:
            raise StorageError(f"cannot open storage {redact(url)}: {e.strerror}") from e
        if header and header != SQLITE_MAGIC:
            raise refuse("not a SQLite file")
        uri = f"file:{quote(str(path.absolute()))}?mode=ro"
        engine = sqlalchemy.create_engine(
            "sqlite://", poolclass=NullPool, creator=lambda: sqlite3.connect(uri, uri=True, timeout=60))
    else:
        engine = sqlalchemy.create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            tables = set(sqlalchemy.inspect(conn).get_table_names())
            if writer:
                # Any of Optuna's own tables: a study database, maybe one another worker is creating
                # right now (SQLite commits each CREATE TABLE apart). None of them: someone else's.
                if tables and not tables & (set(models.BaseModel.metadata.tables) | {"alembic_version"}):
                    shown = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
                    raise refuse(f"it holds other tables: {shown}")
                return
            if not {"studies", "version_info"} <= tables:
                raise refuse("no Optuna tables")
            # alembic_version and both version rows: optuna would add them on open, too.
            missing = sorted(set(models.BaseModel.metadata.tables) - tables) + (
                [] if "alembic_version" in tables else ["alembic_version"])
            if not missing:
                missing = [t for t in ("version_info", "alembic_version")
                           if not conn.execute(sqlalchemy.text(f"SELECT COUNT(*) FROM {t}")).scalar()]
    except (sqlalchemy.exc.SQLAlchemyError, OSError) as e:
        if writer:
            # The header said SQLite; what the driver makes of the rest (a damaged page, a lock)
            # Optuna reports when it opens the file, as it did before this check existed.
            return
        if getattr(getattr(e, "orig", None), "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            raise refuse("not a SQLite file") from e
        raise _cannot_open(url, e) from e
    finally:
        engine.dispose()
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise refuse(f"missing {shown}", "if an older optuna made it, upgrade it with "
                     "`optuna storage upgrade --storage URL`")


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
    """The study's artifact store (trial checkpoints): optuna's FileSystemArtifactStore, except
    that every write is atomic (hpo.files) and recreates the directory if it was deleted
    meanwhile, before or during the write, so a removed artifacts folder costs only the
    checkpoints in it, not every later trial. Readers (``hpo dashboard``) and the objective use
    it through optuna's API unchanged."""
    from functools import partial
    from typing import BinaryIO

    from optuna.artifacts import FileSystemArtifactStore

    from hpo.files import write_atomic

    class ArtifactStore(FileSystemArtifactStore):
        def write(self, artifact_id: str, content_body: BinaryIO) -> None:
            # Optuna's own write opens the final name: a worker killed mid-upload would leave a
            # truncated checkpoint for the retry to resume from, and a missing folder fails it.
            path = self._get_filepath(artifact_id)
            start = content_body.tell() if content_body.seekable() else None
            chunks = partial(iter, partial(content_body.read, 1 << 20), b"")
            try:
                write_atomic(path, chunks())
            except FileNotFoundError:
                if start is None:
                    raise
                # The folder went while this file was being written: once more, into a new one.
                content_body.seek(start)
                write_atomic(path, chunks())

    path = artifacts_dir(url)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"cannot create the artifact store {path}: {e.strerror}; set HPO_ARTIFACTS") from e
    return ArtifactStore(str(path))


def _use_wal(storage: optuna.storages.RDBStorage) -> None:
    """Write-ahead logging: readers (budget checks, status, the dashboard) stop blocking the
    writers, and the heartbeat thread stops queueing behind them. It is a property of the
    database file, so setting it once sticks for every later connection."""
    import sqlalchemy

    with storage.engine.connect() as conn:
        conn.execute(sqlalchemy.text("PRAGMA journal_mode=WAL"))


# Indexes hpo adds to Optuna's schema (which has none that fit these look-ups).
TRIAL_INDEXES = {
    # The per-trial look-ups of RUNNING and WAITING trials (optuna's stale-trial sweep, hpo's
    # zombie check, optuna claiming a queued trial) read those few rows, not the whole study.
    "ix_hpo_trials_study_state": "trials (study_id, state)",
    # StudyTally's "trials after the watermark" reads only those; without it PostgreSQL answered
    # through the index above, reading every index entry of the study for each check (~5 x n
    # entries per trial in pg_stat_user_indexes, during benchmarks/storage_cost.py).
    "ix_hpo_trials_study_trial": "trials (study_id, trial_id)",
}


def _add_trial_indexes(storage: optuna.storages.RDBStorage) -> None:
    """Create TRIAL_INDEXES where missing. They only add to Optuna's schema; a database where
    they cannot be made (read-only, a race with another worker making them) works as before,
    only slower."""
    import sqlalchemy
    import sqlalchemy.exc

    for name, columns in TRIAL_INDEXES.items():
        try:
            with storage.engine.begin() as conn:
                conn.execute(sqlalchemy.text(f"CREATE INDEX IF NOT EXISTS {name} ON {columns}"))
        except sqlalchemy.exc.SQLAlchemyError:
            pass


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
        # In WAL mode, NORMAL syncs at checkpoints instead of every commit: a killed process
        # loses nothing, and the file is never corrupted; only a power cut or kernel crash may
        # undo the last commits (their trials then run again). SQLite's own advice for WAL;
        # each commit's fsync was a few ms of every trial's dozen writes.
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # pooled connections predate the listeners


def _is_schema_race(e: BaseException) -> bool:
    text = str(getattr(e, "orig", None) or e).lower()
    return any(s in text for s in ("already exists", "duplicate key", "unique constraint"))


def serve_grpc_proxy(storage: optuna.storages.BaseStorage, host: str, port: int) -> None:
    """Serve ``storage`` through optuna's gRPC proxy until Ctrl-C or SIGTERM, then stop the server.

    optuna's ``run_grpc_proxy_server`` blocks in ``wait_for_termination`` and leaves the server
    running when Ctrl-C unwinds it; a gRPC server still running at interpreter exit can hold the
    exit (the proxy outlived SIGINT by minutes under load). Here a signal only sets an event, and
    the server is stopped, in-flight calls given a short grace, before this returns.
    """
    import signal
    import threading

    from optuna.storages._grpc.server import make_server

    server = make_server(storage, host, port)  # RuntimeError if it cannot bind
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        while not stop.wait(0.5):
            pass
    finally:
        server.stop(grace=2).wait(10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
    return int(env_number(name, default, minimum=minimum, whole=True))


def env_number(name: str, default: float, *, minimum: float, whole: bool = False) -> float:
    """``$name`` as a number >= ``minimum`` (``default`` when unset); anything else is one line."""
    import math

    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError as e:
        raise ConfigError(f"${name}: must be a {'whole ' if whole else ''}number, got {text!r}") from e
    if not math.isfinite(value) or value < minimum:
        raise ConfigError(f"${name}: must be a finite number >= {minimum:g}, got {text}")
    return value


def _cannot_open(url: str, e: BaseException) -> StorageError:
    """The driver's first line, the password hidden; for a database server that did not answer,
    what to check (a SQLite file's own errors already say it)."""
    import sqlalchemy

    first = _first_line(e)
    hint = ""
    if isinstance(e, sqlalchemy.exc.OperationalError) and not url.startswith("sqlite"):
        hint = "; check that the server is up and the URL (--storage, or $HPO_STORAGE) is right"
    elif url.startswith("sqlite") and "readonly database" in first:
        # hpo keeps SQLite in WAL mode, whose readers too need the -shm file beside the database.
        hint = ("; SQLite needs to write its -wal and -shm files beside the database, even to read it: "
                "make its folder writable, or work on a copy")
    return StorageError(f"cannot open storage {redact(url)}: {first}{hint}")


def _first_line(e: BaseException) -> str:
    """The driver's own words, one line: SQLAlchemy's ``orig``, or a gRPC status and its details
    (a gRPC error's str() is a multi-line repr: ``<_InactiveRpcError of RPC that ...``)."""
    orig = getattr(e, "orig", None) or e
    code, details = getattr(orig, "code", None), getattr(orig, "details", None)
    if callable(code) and callable(details):
        try:
            return f"gRPC {code().name}: {' '.join(str(details() or '').split())[:200]}"
        except Exception:  # not a finished RPC after all
            pass
    text = str(orig).strip().splitlines()
    return text[0][:300] if text else type(orig).__name__


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


def describe_failure(e: BaseException) -> str:
    """The one line hpo says about a storage failure, wherever it is caught."""
    what = "the storage is read-only (give a writable database)" if read_only(e) else "storage failed"
    return f"{what}: {_first_line(_storage_cause(e) or e)}"


def _storage_cause(e: BaseException) -> BaseException | None:
    """The driver's error in ``e``'s chain (optuna may raise its own while handling it)."""
    seen: set[int] = set()
    current: BaseException | None = e
    while current is not None and id(current) not in seen:
        if isinstance(current, storage_errors()):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def caused_by_storage(e: BaseException) -> bool:
    """Whether a storage failure is anywhere in an exception's chain (optuna sometimes hides
    a lost connection behind an error of its own raised while handling it). The one test of
    "is this the database?" every caller uses; ``storage_errors()`` stays behind it."""
    return _storage_cause(e) is not None


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


TERMINAL = ("COMPLETE", "PRUNED", "FAIL")  # states a trial never leaves


class StudyTally:
    """A worker's running count of a study's trials by state, and its best value, at a cost
    per refresh that does not grow with the study.

    Trials in a terminal state never change, so everything up to the watermark (the highest
    trial id below which every trial is terminal) is counted once and kept; each refresh reads
    only the rows above it: the running and waiting trials and those created since. A plain
    ``COUNT(*) ... GROUP BY state`` and optuna's ``best_trial`` scan the whole study instead
    (0.1 ms at 100 trials, 2.5 ms at 3000 on SQLite; several times that on PostgreSQL).
    Storages other than RDB (the gRPC proxy) fall back to ``count_states`` and optuna.
    """

    def __init__(self, study: optuna.Study, *, maximize: bool | None) -> None:
        from optuna.storages import RDBStorage

        self.study, self.maximize = study, maximize  # maximize None: several objectives, no best
        backend = getattr(study._storage, "_backend", study._storage)
        self._engine = backend.engine if isinstance(backend, RDBStorage) else None
        self._settled: Counter[str] = Counter()  # terminal trials at or below the watermark
        self._settled_best: tuple[float, int] | None = None  # (value, number)
        self._watermark = -1
        self._tail: list[tuple[int, int, str, float | None]] = []  # (id, number, state, value) above it

    def refresh(self) -> None:
        if self._engine is None:
            return
        import sqlalchemy

        sql = sqlalchemy.text(
            "SELECT t.trial_id, t.number, t.state, v.value, v.value_type FROM trials t "
            "LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0 "
            "WHERE t.study_id = :sid AND t.trial_id > :wm ORDER BY t.trial_id")
        with self._engine.connect() as conn:
            rows = conn.execute(sql, {"sid": self.study._study_id, "wm": self._watermark}).all()
        tail = [(int(tid), int(num), str(getattr(st, "name", st)), _value(val, kind))
                for tid, num, st, val, kind in rows]
        settled = 0  # the leading run of terminal trials moves below the watermark
        while settled < len(tail) and tail[settled][2] in TERMINAL:
            trial_id, number, state, value = tail[settled]
            self._settled[state] += 1
            if state == "COMPLETE":
                self._settled_best = self._better(self._settled_best, value, number)
            self._watermark = trial_id
            settled += 1
        self._tail = tail[settled:]

    def counts(self, before_trial_id: int | None = None) -> Counter[str]:
        """Trials by state name (of those created before a trial, if given), as of the last refresh."""
        if self._engine is None:
            return count_states(self.study._storage, self.study._study_id, before_trial_id=before_trial_id)
        counts = Counter(self._settled)
        if before_trial_id is not None and before_trial_id <= self._watermark:
            return count_states(self.study._storage, self.study._study_id, before_trial_id=before_trial_id)
        counts.update(state for trial_id, _n, state, _v in self._tail
                      if before_trial_id is None or trial_id < before_trial_id)
        return counts

    def best(self) -> tuple[float, int] | None:
        """(best value, trial number) among COMPLETE trials, as of the last refresh; None if none or
        the study has several objectives."""
        if self.maximize is None:
            return None
        if self._engine is None:
            try:
                top = self.study.best_trial
            except ValueError:
                return None
            return (float(top.value), top.number) if top.value is not None else None
        best = self._settled_best
        for _id, number, state, value in self._tail:
            if state == "COMPLETE":
                best = self._better(best, value, number)
        return best

    def _better(self, best: tuple[float, int] | None, value: float | None, number: int) -> tuple[float, int] | None:
        if value is None or value != value:  # no value, or NaN: never the best
            return best
        if best is None or (value > best[0] if self.maximize else value < best[0]):
            return (value, number)
        return best


def _value(value: Any, kind: Any) -> float | None:
    """A trial_values row as a float: optuna stores infinities as a NULL value plus a type."""
    name = str(getattr(kind, "name", kind))
    if name == "INF_POS":
        return float("inf")
    if name == "INF_NEG":
        return float("-inf")
    return None if value is None else float(value)


def read_only(e: BaseException) -> bool:
    """A database that refuses writes (a read-only SQLite file, a PostgreSQL standby): waiting
    will not fix it."""
    seen: set[int] = set()
    current: BaseException | None = e
    while current is not None and id(current) not in seen:
        text = str(current).lower()
        if "readonly database" in text or "read-only" in text or "read only" in text:
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
