"""Issue 9, "one home each": one mechanism per class of fault, tried with hostile inputs.

- atomic file writing (hpo.files): every writer, one file mode, nothing left by a failure;
- the parsed-data cache in the user's cache directory, not the working directory;
- readers never write: status, export and report refuse a database that is not a study
  database, and leave its bytes as they were;
- secrets: no piece of a storage URL's password in any output, however hostile the password;
- the artifact store recreates its directory: deleting it fails no later trial.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import HPO, db_snapshot, run_hpo, study_trials, tiny_space

UMASK = 0o027  # not the usual 0o022: a writer that sets its own mode (mkstemp's 0600, a chmod 0644) shows


@pytest.fixture
def umask() -> Iterator[int]:
    old = os.umask(UMASK)
    try:
        yield UMASK
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _plain_open_mode(directory: Path) -> int:
    """The mode a plain open(path, "w") gives under the current umask: what every writer must give."""
    ref = directory / "reference.txt"
    with open(ref, "w") as f:
        f.write("x")
    mode = _mode(ref)
    ref.unlink()
    return mode


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_error(proc: subprocess.CompletedProcess[str], fragment: str, code: int) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


# -- 1. Atomic file writing: one home (hpo.files), one mode ---------------------------------


def _tiny_model():  # type: ignore[no-untyped-def]
    from hpo.quiet import import_keras_quietly

    import_keras_quietly()
    import keras

    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def test_every_writer_gives_a_plain_files_mode(tmp_path: Path, umask: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hpo import evaluate, train
    from hpo.data.cache import cached_arrays
    from hpo.data.kaggle_submission import read_lookup, write_submission
    from hpo.data.synth import write_fer2013_csv, write_keypoints_csv, write_keypoints_test_csv, write_lookup_csv
    from hpo.export import write_atomic as export_write_atomic
    from hpo.files import atomic_path, write_atomic
    from hpo.modelfile import read_metadata, save_model
    from hpo.storage import open_artifact_store

    out = tmp_path / "out"
    expected = _plain_open_mode(tmp_path)
    assert expected == 0o666 & ~umask
    write_atomic(out / "text.json", "{}\n")
    write_atomic(out / "bytes.bin", b"\x00\x01")
    write_atomic(out / "chunks.csv", (f"{i}\n".encode() for i in range(3)))
    export_write_atomic(out / "export.json", "{}\n")
    with atomic_path(out / "named.npz") as tmp:
        np.savez(tmp, a=np.arange(3))
    write_keypoints_csv(out / "training.csv", rows=3)
    write_fer2013_csv(out / "fer2013.csv", rows=3)
    write_keypoints_test_csv(out / "test.csv", rows=3)
    write_lookup_csv(out / "IdLookupTable.csv", out / "test.csv")
    write_submission(read_lookup(out / "IdLookupTable.csv"), [1, 2, 3], np.zeros((3, 30)), out / "submission.csv")
    cached_arrays(out / "training.csv", "keypoints", lambda: {"a": np.arange(3)}, out / "cache")
    train._curve_png([{"rmse": [1.0, 0.5], "val_rmse": [1.2, 0.7]}], [0], "val_rmse", out / "curves.png")
    fig, _ = plt.subplots()
    evaluate._save(fig, out / "confusion.png")
    save_model(_tiny_model(), out / "model.keras", {"task": "test"})
    assert read_metadata(out / "model.keras")["task"] == "test"
    store = open_artifact_store(f"sqlite:///{tmp_path / 'db' / 'studies.db'}")
    (tmp_path / "upload.bin").write_bytes(b"checkpoint")
    with open(tmp_path / "upload.bin", "rb") as f:
        store.write("checkpoint-id", f)

    written = sorted(p for p in [*out.rglob("*"), *(tmp_path / "db" / "artifacts").rglob("*")] if p.is_file())
    assert len(written) == 15
    assert {p.name: oct(_mode(p)) for p in written} == {p.name: oct(expected) for p in written}
    assert not [p for p in written if p.name.startswith(".")]  # no temporary file left anywhere


class Boom(Exception):
    pass


def _raises_midway() -> Iterator[bytes]:
    yield b"first half, "
    raise Boom("the source died")


def _interrupted_midway() -> Iterator[bytes]:
    yield b"first half, "
    raise KeyboardInterrupt


def _block_raises(path: Path) -> None:
    from hpo.files import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise Boom("savefig failed")


def _block_writes_nothing(path: Path) -> None:
    from hpo.files import atomic_path

    with atomic_path(path):
        pass


def _model_save_fails(path: Path) -> None:
    from hpo.modelfile import save_model

    model = _tiny_model()

    def broken_save(target: object, *args: object, **kwargs: object) -> None:
        Path(str(target)).write_bytes(b"PK half a zip")
        raise Boom("disk full")

    object.__setattr__(model, "save", broken_save)
    save_model(model, path, {"task": "test"})


class _Unconvertible:
    def __array__(self, *args: object, **kwargs: object) -> np.ndarray:
        raise Boom("an array that cannot be read")


def _cache_fails(path: Path) -> None:
    from hpo.data import cache

    # The first array is written into the zip before the second one fails.
    cache._save(path, {"a": np.arange(1000), "b": _Unconvertible()})  # type: ignore[dict-item]


FAULTS = {
    "iterable raises": lambda p: __import__("hpo.files").files.write_atomic(p, _raises_midway()),
    "Ctrl-C mid-write": lambda p: __import__("hpo.files").files.write_atomic(p, _interrupted_midway()),
    "a chunk that is not bytes": lambda p: __import__("hpo.files").files.write_atomic(p, [b"ok", "text"]),
    "atomic_path block raises": _block_raises,
    "atomic_path writer writes nothing": _block_writes_nothing,
    "model.save fails half-way": _model_save_fails,
    "cache arrays fail half-way": _cache_fails,
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("existing", [False, True], ids=["new", "replacing"])
def test_a_failed_write_leaves_neither_target_nor_temporary(tmp_path: Path, fault: str, existing: bool) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / ("model.keras" if "model" in fault else "cache.npz" if "cache" in fault else "file.csv")
    if existing:
        target.write_bytes(b"the old, complete file")
    with pytest.raises((Boom, KeyboardInterrupt, TypeError, ValueError, FileNotFoundError)):
        FAULTS[fault](target)
    assert [p.name for p in folder.iterdir()] == ([target.name] if existing else [])
    if existing:
        assert target.read_bytes() == b"the old, complete file"


def test_a_target_that_is_a_directory_is_refused_and_nothing_left(tmp_path: Path) -> None:
    from hpo.files import write_atomic

    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        write_atomic(tmp_path / "taken", "text")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
    assert not any((tmp_path / "taken").iterdir())


def test_missing_parent_folders_are_created(tmp_path: Path) -> None:
    from hpo.files import write_atomic

    write_atomic(tmp_path / "a" / "b" / "c.txt", "ok")
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "ok"


# -- 2. The parsed-data cache lives in the user's cache directory ---------------------------


@pytest.mark.parametrize(("hpo_cache", "xdg", "expected"), [
    ("{tmp}/mine", "{tmp}/xdg", "{tmp}/mine"),          # HPO_CACHE_DIR overrides everything
    (None, "{tmp}/xdg", "{tmp}/xdg/hpo"),               # XDG_CACHE_HOME/hpo
    (None, None, "{tmp}/home/.cache/hpo"),              # ~/.cache/hpo
    ("", "", "{tmp}/home/.cache/hpo"),                  # empty variables count as unset
    (None, "relative/cache", "{tmp}/home/.cache/hpo"),  # the XDG spec: a relative path is ignored
], ids=["HPO_CACHE_DIR", "XDG_CACHE_HOME", "home", "empty", "relative-xdg"])
def test_cache_goes_to_the_users_cache_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hpo_cache: str | None, xdg: str | None, expected: str
) -> None:
    from hpo.data.cache import default_cache_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name, value in (("HPO_CACHE_DIR", hpo_cache), ("XDG_CACHE_HOME", xdg)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value.format(tmp=tmp_path))
    monkeypatch.chdir(tmp_path)
    assert default_cache_dir() == Path(expected.format(tmp=tmp_path))
    assert not default_cache_dir().is_relative_to(Path.cwd() / "storage")


# -- 3. Commands that only read never write ---------------------------------------------------


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _text(path: Path) -> None:
    path.write_text("name,value\nnot,a database\n")


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.close()


def _foreign_studies_table(path: Path) -> None:
    with sqlite3.connect(path) as conn:  # someone else's table that happens to be called `studies`
        conn.execute("CREATE TABLE studies (id INTEGER PRIMARY KEY, title TEXT)")
    conn.close()


def _half_optuna(path: Path) -> None:
    with sqlite3.connect(path) as conn:  # optuna's two marker tables, nothing else
        conn.execute("CREATE TABLE studies (study_id INTEGER PRIMARY KEY, study_name TEXT)")
        conn.execute("CREATE TABLE version_info (version_info_id INTEGER PRIMARY KEY, schema_version INTEGER)")
    conn.close()


def _corrupt(path: Path) -> None:
    _foreign(path)
    path.write_bytes(path.read_bytes()[:16] + b"\xff" * 4096)  # SQLite's header, garbage after it


BAD_FILES = {"empty file": _empty, "text file": _text, "foreign database": _foreign,
             "foreign studies table": _foreign_studies_table, "half an optuna schema": _half_optuna,
             "corrupt sqlite": _corrupt}
READERS = {"status": ("status",), "export": ("export", "--study", "tiny"),
           "report": ("report", "--study", "tiny", "--out", "report")}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("bad", list(BAD_FILES))
def test_readers_refuse_a_database_that_is_not_a_study_database_and_leave_it_as_it_was(
    tmp_path: Path, bad: str, reader: str
) -> None:
    db = tmp_path / "data.db"
    BAD_FILES[bad](db)
    before, files_before = _sha(db), sorted(p.name for p in tmp_path.iterdir())
    proc = run_hpo(*READERS[reader], "--storage", f"sqlite:///{db}", cwd=tmp_path)
    _one_line_error(proc, f"sqlite:///{db}: not an hpo/Optuna study database (", code=2)
    assert _sha(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before  # no -journal, -wal, report/


WRITERS = {"create": ("create", "--study", "tiny"), "worker": ("worker", "--study", "tiny")}


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("bad", ["text file", "foreign database"])  # (a corrupt one: Optuna's own error, exit 1)
def test_writers_refuse_a_file_that_is_someone_elses_and_leave_it_as_it_was(
    tmp_path: Path, bad: str, writer: str
) -> None:
    """create and worker add Optuna's tables to the database they are given: not to a text file,
    nor to a SQLite database that holds other tables (an application's own)."""
    db = tmp_path / "data.db"
    BAD_FILES[bad](db)
    before, files_before = _sha(db), sorted(p.name for p in tmp_path.iterdir())
    proc = run_hpo(*WRITERS[writer], "--space", str(tiny_space(tmp_path)), "--storage", f"sqlite:///{db}",
                   cwd=tmp_path)
    why = {"text file": "not a SQLite file", "foreign database": "it holds other tables: customers"}[bad]
    _one_line_error(proc, f"sqlite:///{db}: not an hpo/Optuna study database ({why}", code=2)
    assert "give hpo a SQLite file of its own" in proc.stderr
    assert _sha(db) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".yaml") == files_before


def test_readers_refuse_a_directory(tmp_path: Path) -> None:
    (tmp_path / "studies.db").mkdir()
    proc = run_hpo("status", "--storage", f"sqlite:///{tmp_path / 'studies.db'}", cwd=tmp_path)
    _one_line_error(proc, "is a directory", code=2)
    assert not any((tmp_path / "studies.db").iterdir())


@pytest.mark.postgres
@pytest.mark.parametrize("foreign_table", [False, True], ids=["empty", "foreign-table"])
def test_readers_create_no_tables_in_a_postgres_database(tmp_path: Path, postgres_url: str,
                                                         foreign_table: bool) -> None:
    import sqlalchemy

    if foreign_table:
        engine = sqlalchemy.create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE customers (id SERIAL PRIMARY KEY, name TEXT)"))
        engine.dispose()
    before = db_snapshot(postgres_url)
    for reader in READERS.values():
        proc = run_hpo(*reader, "--storage", postgres_url, cwd=tmp_path)
        _one_line_error(proc, "not an hpo/Optuna study database (no Optuna tables)", code=2)
        assert db_snapshot(postgres_url) == before
    assert not (tmp_path / "report").exists()


def test_readers_still_read_a_real_study_database(tmp_path: Path, storage_url: str) -> None:
    space = tiny_space(tmp_path)
    assert run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", storage_url,
                   cwd=tmp_path).returncode == 0
    before = db_snapshot(storage_url)
    proc = run_hpo("status", "--storage", storage_url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "tiny" in proc.stdout
    assert db_snapshot(storage_url) == before


# -- 4. Secrets: no piece of the password in any output --------------------------------------

# Each password is built from distinctive pieces around the characters that break URL parsing.
HOSTILE_PASSWORDS = {
    "at": "Qx7vTr@Wm4kPz",
    "two ats": "Qx7vTr@Wm4kPz@Hn8cLd",
    "colon": "Qx7vTr:Wm4kPz",
    "slash and at": "Qx7vTr/Wm4kPz@Hn8cLd",
    "encoded at": "Qx7vTr%40Wm4kPz",
    "hash": "Qx7vTr#Wm4kPz",
    "question mark and at": "Qx7vTr?Wm4kPz@Hn8cLd",
}
PIECES = ("Qx7vTr", "Wm4kPz", "Hn8cLd")


def _hostile_url(password: str) -> str:
    return f"postgresql+psycopg://hpo:{password}@127.0.0.1:1/studies"  # port 1: nothing answers


@pytest.mark.parametrize("command", ["status", "export", "report", "create", "worker"])
def test_no_piece_of_a_hostile_password_is_ever_printed(tmp_path: Path, command: str) -> None:
    space = str(tiny_space(tmp_path))
    args = {"status": ["status"], "export": ["export", "--study", "tiny"],
            "report": ["report", "--study", "tiny", "--out", "r"],
            "create": ["create", "--study", "tiny", "--space", space],
            "worker": ["worker", "--study", "tiny", "--space", space, "--trials", "1"]}[command]
    env = {k: v for k, v in os.environ.items() if k != "HPO_STORAGE"}
    env["HPO_CACHE_DIR"] = str(tmp_path / "cache")
    # All passwords at once; a worker (which imports Keras and loads its data before it opens
    # the storage, through the same open_storage) gets the hardest one: a '/' and an '@'.
    names = [n for n in HOSTILE_PASSWORDS if command != "worker" or n == "slash and at"]
    procs = {name: subprocess.Popen([HPO, *args, "--storage", _hostile_url(HOSTILE_PASSWORDS[name])], cwd=tmp_path,
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in names}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=240)
        assert proc.returncode in (1, 2), (name, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (name, err)
        assert "127.0.0.1" in err and "hpo:***@" in err, (name, err)  # the URL is named, redacted
        leaked = [piece for piece in PIECES if piece in out + err]
        assert not leaked, (name, err)


@pytest.mark.parametrize("name", list(HOSTILE_PASSWORDS))
def test_redact_and_resolve_keep_the_password_whole(name: str) -> None:
    from sqlalchemy.engine import make_url

    from hpo.storage import redact, resolve_url

    password = HOSTILE_PASSWORDS[name]
    url = _hostile_url(password)
    for text in (redact(url), redact(resolve_url(url)), redact(url.replace("+psycopg", ""))):
        assert not [piece for piece in PIECES if piece in text], text
        assert text.endswith("hpo:***@127.0.0.1:1/studies"), text
    parsed = make_url(resolve_url(url))  # what the driver gets: the whole password, the real host
    expected = password.replace("%40", "@")
    assert (parsed.password, parsed.host, parsed.port, parsed.database) == (expected, "127.0.0.1", 1, "studies")


@pytest.mark.parametrize("url", [
    "postgresql://hpo:Qx7vTr/studies",                        # '@' forgotten: the password looks like a port
    "postgresql://127.0.0.1/studies?password=Qx7vTr&x=1",     # libpq's ?password=
    "postgresql:hpo:Qx7vTr@127.0.0.1/studies",                # no '//' at all
])
def test_redact_hides_passwords_in_malformed_urls(url: str) -> None:
    from hpo.storage import redact

    assert "Qx7vTr" not in redact(url)


# -- 5. The artifact store recreates its directory ----------------------------------------------


KEYPOINTS = """\
name: tiny
task: keypoints
data: {path: kp.csv, validation_fraction: 0.25}
objective: {metric: val_rmse, direction: minimize}
budget: {trials: 5, max_epochs: 3}
sampler: {type: random, seed: 0}
pruner: {type: none}
params:
  conv_blocks: 1
  filters: {type: categorical, choices: [4, 8]}
  hidden_units: 16
  batch_size: 16
"""


def test_an_artifact_folder_removed_during_a_write_gets_the_whole_file(tmp_path: Path) -> None:
    """A folder renamed away while a checkpoint streams into it (the worker had opened its
    temporary file already): the write starts again in a new folder; no partial file anywhere."""
    import io

    from hpo.storage import open_artifact_store

    store = open_artifact_store(f"sqlite:///{tmp_path / 'studies.db'}")
    folder = tmp_path / "artifacts"
    body = b"x" * (1 << 20) + b"the rest"

    class Pulled(io.BytesIO):
        reads = 0

        def read(self, size: int | None = -1) -> bytes:
            self.reads += 1
            if self.reads == 2:  # the first MiB is in the temporary file: now the folder goes
                folder.rename(tmp_path / "gone")
            return super().read(size)

    stream = Pulled(body)
    store.write("checkpoint-id", stream)
    assert stream.reads > 3  # it really started over
    assert (folder / "checkpoint-id").read_bytes() == body
    assert [p.name for p in folder.iterdir()] == ["checkpoint-id"]


def test_a_deleted_artifact_directory_fails_no_later_trial(tmp_path: Path, umask: int) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    artifacts = tmp_path / "artifacts"  # beside the SQLite file
    from hpo.data.synth import write_keypoints_csv

    write_keypoints_csv(tmp_path / "kp.csv", 60)
    space = tmp_path / "tiny.yaml"
    space.write_text(KEYPOINTS)
    # The cache as users get it: no HPO_CACHE_DIR, so the parsed CSV must land in
    # $XDG_CACHE_HOME/hpo, not in the working directory.
    env = {"HPO_CACHE_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    first = run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", url, "--trials", "1",
                    cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert artifacts.is_dir()
    shutil.rmtree(artifacts)  # between two runs

    full_env = {**{k: v for k, v in os.environ.items() if k != "HPO_STORAGE"}, **env}
    second = subprocess.Popen([HPO, "worker", "--study", "tiny", "--space", str(space), "--storage", url,
                               "--trials", "2"], cwd=tmp_path, env=full_env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # And again while it runs: as soon as its first checkpoint lands, the folder goes (renamed
    # first, so the worker never sees a half-deleted folder).
    deadline, deleted = time.monotonic() + 120, False
    while time.monotonic() < deadline and second.poll() is None:
        # A finished upload (not its dot-named temporary file): the next write is an epoch away.
        if artifacts.is_dir() and any(not p.name.startswith(".") for p in artifacts.iterdir()):
            artifacts.rename(tmp_path / "gone")
            shutil.rmtree(tmp_path / "gone")
            deleted = True
            break
        time.sleep(0.01)
    out, err = second.communicate(timeout=240)
    assert deleted, "the worker finished before its first checkpoint was seen"
    assert second.returncode == 0, err
    assert [t.state.name for t in study_trials(url)] == ["COMPLETE"] * 3, err  # one trial after the one it hit

    # Every file these runs and the readers wrote has a plain file's mode (hpo.files).
    assert run_hpo("export", "--study", "tiny", "--storage", url, "--out", "best.json", cwd=tmp_path).returncode == 0
    report = run_hpo("report", "--study", "tiny", "--storage", url, "--out", "report", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    written = [tmp_path / "best.json", *(tmp_path / "report").iterdir(), *artifacts.rglob("*")]
    expected = _plain_open_mode(tmp_path)
    assert {p.name: oct(_mode(p)) for p in written if p.is_file()} == {
        p.name: oct(expected) for p in written if p.is_file()}

    cached = list((tmp_path / "xdg" / "hpo").glob("*.npz"))
    assert cached
    assert not (tmp_path / "storage").exists()
    assert all(_mode(p) == expected for p in cached)
