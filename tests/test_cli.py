"""The real `hpo` command: every bad input is one line on stderr, a non-zero exit, and no change."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import db_snapshot, run_hpo, tiny_space


def _one_line_error(proc, fragment: str, code: int = 2) -> None:  # type: ignore[no-untyped-def]
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr


def _mutated(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load(tiny_space(tmp_path, "tiny").read_text())
    edit(raw)
    path = tmp_path / "edited" / "tiny.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    return path


def test_create_pins_the_spec_and_is_idempotent(tmp_path: Path, storage_url: str) -> None:
    space = tiny_space(tmp_path)
    first = run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", storage_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "created study 'tiny'" in first.stdout
    assert "A new study created" not in first.stderr  # optuna's own INFO line: hpo's says it already
    before = db_snapshot(storage_url)
    assert before["trials"] == 1  # the baseline, enqueued
    again = run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", storage_url, cwd=tmp_path)
    assert again.returncode == 0 and "already exists with the same spec" in again.stdout
    assert db_snapshot(storage_url) == before

    drifted = _mutated(tmp_path, lambda r: r["params"]["dropout"].update(high=0.4))
    proc = run_hpo("create", "--study", "tiny", "--space", str(drifted), "--storage", storage_url, cwd=tmp_path)
    _one_line_error(proc, "differs from the spec pinned in study 'tiny' at: params.dropout.high (0.5 -> 0.4)")
    assert db_snapshot(storage_url) == before


BAD_FILES = {
    "unknown key": (lambda r: r.update(colour="red"), "tiny.yaml: colour: unknown key"),
    "low > high": (lambda r: r["params"]["dropout"].update(low=0.9), "params.dropout.high: must be > low"),
    "unknown task": (lambda r: r.update(task="segmentation"), "task: unknown value 'segmentation'"),
    "unknown metric": (lambda r: r["objective"].update(metric="val_mae"), "objective.metric: unknown metric"),
    "unknown sampler": (lambda r: r["sampler"].update(type="bayes"), "sampler.type: unknown value 'bayes'"),
    "unknown pruner": (lambda r: r["pruner"].update(type="asha"), "pruner.type: unknown value 'asha'"),
    "when on unknown param": (lambda r: r["params"]["momentum"].update(when={"solver": "sgd"}),
                              "params.momentum.when.solver: refers to an unknown parameter"),
}


@pytest.mark.parametrize("command", ["create", "worker"])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_study_file(tmp_path: Path, storage_url: str, case: str, command: str) -> None:
    run_hpo("create", "--study", "other", "--space", str(tiny_space(tmp_path, "other")),
            "--storage", storage_url, cwd=tmp_path)
    before = db_snapshot(storage_url)
    edit, fragment = BAD_FILES[case]
    space = _mutated(tmp_path, edit)
    proc = run_hpo(command, "--study", "tiny", "--space", str(space), "--storage", storage_url, cwd=tmp_path)
    _one_line_error(proc, fragment)
    assert str(space) in proc.stderr
    assert db_snapshot(storage_url) == before


def test_missing_and_malformed_files(tmp_path: Path, storage_url: str) -> None:
    before = db_snapshot(storage_url)
    proc = run_hpo("create", "--study", "x", "--space", "nowhere.yaml", "--storage", storage_url, cwd=tmp_path)
    _one_line_error(proc, "nowhere.yaml: no such study file")
    bad = tmp_path / "x.yaml"
    bad.write_text("name: x\nparams: {dropout: [\n")
    proc = run_hpo("worker", "--study", "x", "--space", str(bad), "--storage", storage_url, cwd=tmp_path)
    _one_line_error(proc, "x.yaml: line 3, column 1: malformed YAML")
    assert db_snapshot(storage_url) == before


@pytest.mark.parametrize("trials", ["0", "-2", "many"])
def test_worker_trials_must_be_positive(tmp_path: Path, storage_url: str, trials: str) -> None:
    before = db_snapshot(storage_url)
    proc = run_hpo("worker", "--study", "tiny", "--trials", trials, "--storage", storage_url, cwd=tmp_path)
    _one_line_error(proc, "argument --trials: must be")
    assert db_snapshot(storage_url) == before


@pytest.mark.parametrize("command", ["status", "export"])
def test_unknown_study(tmp_path: Path, storage_url: str, command: str) -> None:
    run_hpo("create", "--study", "tiny", "--space", str(tiny_space(tmp_path)), "--storage", storage_url, cwd=tmp_path)
    before = db_snapshot(storage_url)
    proc = run_hpo(command, "--study", "nope", "--storage", storage_url, cwd=tmp_path)
    _one_line_error(proc, "--study: no study named 'nope' in this storage (studies here: tiny)")
    assert db_snapshot(storage_url) == before


def test_unreachable_database_is_one_line_and_hides_the_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://hpo:s3cret@127.0.0.1:1/studies"
    for args in (("status",), ("create", "--study", "tiny", "--space", str(tiny_space(tmp_path))),
                 ("worker", "--study", "tiny", "--space", str(tiny_space(tmp_path)))):
        proc = run_hpo(*args, "--storage", url, cwd=tmp_path)
        _one_line_error(proc, "cannot open storage postgresql+psycopg://hpo:***@127.0.0.1:1/studies", code=1)
        assert "s3cret" not in proc.stderr + proc.stdout
        assert proc.stderr.rstrip().endswith("check that the server is up and the URL (--storage, or $HPO_STORAGE) "
                                             "is right")


def test_read_only_commands_do_not_create_a_database(tmp_path: Path) -> None:
    proc = run_hpo("status", cwd=tmp_path)
    _one_line_error(proc, "no study database at storage/hpo.db", code=1)
    assert not (tmp_path / "storage").exists()


def test_a_read_only_sqlite_folder_is_named_in_the_error() -> None:
    """What a reader gets where the database's folder is read-only (an archive, another user's
    files): SQLite in WAL mode must create its -shm file even to read. Checked as a string because
    root, which runs these tests, can write anywhere."""
    import sqlite3

    import sqlalchemy

    from hpo.storage import _cannot_open

    driver = sqlite3.OperationalError("attempt to write a readonly database")
    e = sqlalchemy.exc.OperationalError("SELECT 1", {}, driver)
    line = str(_cannot_open("sqlite:////archive/a.db", e))
    assert line == ("cannot open storage sqlite:////archive/a.db: attempt to write a readonly database; SQLite needs "
                    "to write its -wal and -shm files beside the database, even to read it: make its folder writable, "
                    "or work on a copy")


def test_storage_comes_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    proc = run_hpo("create", "--study", "tiny", "--space", str(tiny_space(tmp_path)), cwd=tmp_path,
                   env={"HPO_STORAGE": url})
    assert proc.returncode == 0, proc.stderr
    assert db_snapshot(url)["names"] == ["tiny"]
    assert not (tmp_path / "storage").exists()


def test_unsupported_storage_scheme(tmp_path: Path) -> None:
    proc = run_hpo("status", "--storage", "mysql://root@localhost/x", cwd=tmp_path)
    _one_line_error(proc, "--storage: unsupported URL scheme 'mysql'")


@pytest.mark.parametrize(("url", "fragment"), [
    ("sqlite:///:memory:", "--storage: sqlite:///:memory: is no file; studies must outlive the process"),
    ("sqlite:///", "--storage: sqlite:/// is no file"),
    ("sqlite:///q.db?timeout=abc", "--storage: sqlite:///q.db?timeout=abc: could not convert string to float: 'abc'; "
                                   "check the URL's query parameters"),
])
def test_a_sqlite_url_no_study_can_live_in_is_one_line(tmp_path: Path, url: str, fragment: str) -> None:
    readers = [] if "?" in url else [("status",)]  # (status on a file that is not there says just that)
    for args in (*readers, ("create", "--study", "tiny", "--space", str(tiny_space(tmp_path)))):
        _one_line_error(run_hpo(*args, "--storage", url, cwd=tmp_path), fragment)
    assert not list(tmp_path.glob("q.db*"))


def test_worker_id_must_not_be_negative(tmp_path: Path) -> None:
    proc = run_hpo("worker", "--study", "tiny", "--worker-id", "-1", cwd=tmp_path)
    _one_line_error(proc, "argument --worker-id: must be >= 0")


def test_password_in_the_query_string_is_hidden_too(tmp_path: Path) -> None:
    proc = run_hpo("status", "--storage", "postgresql://hpo@127.0.0.1:1/x?password=s3cret", cwd=tmp_path)
    assert proc.returncode == 1 and "s3cret" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_status_lists_only_hpo_studies_in_a_shared_database(tmp_path: Path, storage_url: str) -> None:
    import optuna

    optuna.create_study(study_name="plain-optuna", storage=storage_url)
    run_hpo("create", "--study", "tiny", "--space", str(tiny_space(tmp_path)), "--storage", storage_url, cwd=tmp_path)
    proc = run_hpo("status", "--storage", storage_url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "study tiny:" in proc.stdout and "plain-optuna" not in proc.stdout


def test_export_to_a_directory_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    run_hpo("create", "--study", "tiny", "--space", str(tiny_space(tmp_path)), "--storage", url, cwd=tmp_path)
    proc = run_hpo("export", "--study", "tiny", "--storage", url, "--out", str(tmp_path), cwd=tmp_path)
    _one_line_error(proc, f"argument --out: {tmp_path} is a directory")  # refused before the database is read


def test_data_errors_leave_no_database_behind(tmp_path: Path) -> None:
    space = tmp_path / "kp.yaml"
    space.write_text((Path(__file__).resolve().parent.parent / "search_spaces" / "keypoints.yaml").read_text()
                     .replace("name: keypoints", "name: kp"))
    proc = run_hpo("worker", "--study", "kp", "--space", str(space), "--data", "missing.csv", cwd=tmp_path)
    _one_line_error(proc, "missing.csv: data file not found")
    assert not (tmp_path / "storage" / "hpo.db").exists()


def test_data_synth_writes_the_kaggle_format(tmp_path: Path) -> None:
    from hpo.data.keypoints import KEYPOINT_COLUMNS, read_keypoints_csv

    proc = run_hpo("data", "synth", "keypoints", "--rows", "25", "--out", "d/training.csv", "--seed", "4",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "d" / "training.csv"
    assert path.read_text().splitlines()[0] == ",".join([*KEYPOINT_COLUMNS, "Image"])
    data = read_keypoints_csv(path)
    assert data.images.shape == (25, 96, 96) and data.keypoints.shape == (25, 30)
    _one_line_error(run_hpo("data", "synth", "keypoints", "--rows", "0", "--out", "x.csv", cwd=tmp_path),
                    "argument --rows: must be >= 1")
    assert not (tmp_path / "x.csv").exists()


def test_advice_quotes_a_study_name_a_shell_would_split(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert run_hpo("create", "--study", "tiny", "--space", str(tiny_space(tmp_path)), "--storage", url,
                   cwd=tmp_path).returncode == 0
    proc = run_hpo("export", "--study", "dig its", "--storage", url, cwd=tmp_path)
    _one_line_error(proc, "--study: no study named 'dig its' in this storage (studies here: tiny); create it with "
                          "`hpo create --study 'dig its'` or `hpo worker --study 'dig its'`")
