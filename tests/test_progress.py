"""What `hpo worker` shows: a live panel on a terminal, plain lines in logs, nothing with --quiet."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
from pathlib import Path

from tests.conftest import HPO, run_hpo, study_trials, tiny_space


def test_live_progress_on_a_terminal(tmp_path: Path) -> None:
    space = tiny_space(tmp_path, trials=2, epochs=3, pruner="none")
    master, slave = pty.openpty()
    proc = subprocess.Popen([HPO, "worker", "--study", "tiny", "--space", str(space), "--storage",
                             f"sqlite:///{tmp_path / 's.db'}"], cwd=tmp_path, stdout=slave, stderr=slave,
                            env={**os.environ, "HPO_CACHE_DIR": str(tmp_path / "c"), "COLUMNS": "120"})
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert "\x1b[" in screen  # redrawn in place: terminal control sequences
    assert "trials finished" in screen and "best val_accuracy" in screen
    assert "epoch 3/3" in screen  # the running trial's epoch, as it trained
    # The budget is on the panel from its first frame (drawn synchronously before the first trial),
    # so the first "trials finished" on screen is 0/2, and it comes before trial 0's line. (Not
    # compared with an epoch: rich may coalesce fast epoch frames on a busy machine.)
    first = screen.index("trials finished")
    assert screen[first - 4:first] == "0/2 " and first < screen.index("trial 0 complete")
    assert "trial 0 complete" in screen and "trial 1 complete" in screen


def test_plain_lines_when_not_a_terminal_and_nothing_when_quiet(tmp_path: Path) -> None:
    space = tiny_space(tmp_path, trials=2, epochs=1, pruner="none")
    url = f"sqlite:///{tmp_path / 's.db'}"
    plain = run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", url, "--trials", "1",
                    cwd=tmp_path)
    assert plain.returncode == 0
    lines = [line for line in plain.stderr.splitlines() if line.startswith("trial ")]
    assert len(lines) == 1 and "\x1b[" not in plain.stderr
    assert "worker done: ran 1 trial; study 'tiny': 1 complete" in plain.stdout
    quiet = run_hpo("worker", "--study", "tiny", "--storage", url, "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0
    assert quiet.stdout == "" and quiet.stderr == ""
    assert len([t for t in study_trials(url) if t.state.name == "COMPLETE"]) == 2


def test_status_shows_live_workers_their_epoch_and_time_left(tmp_path: Path, storage_url: str) -> None:
    import json
    import signal
    import time

    space = tiny_space(tmp_path, trials=4, epochs=300, pruner="none")
    run_hpo("create", "--study", "tiny", "--space", str(space), "--storage", storage_url, cwd=tmp_path)
    worker = subprocess.Popen([HPO, "worker", "--study", "tiny", "--storage", storage_url], cwd=tmp_path,
                              env={**os.environ, "HPO_CACHE_DIR": str(tmp_path / "c"),
                                   "HPO_HEARTBEAT_INTERVAL": "1", "HPO_ARTIFACTS": str(tmp_path / "a")},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180  # TensorFlow's start-up and each `hpo status` on a loaded machine
        summary: dict = {}
        while time.monotonic() < deadline:
            [summary] = json.loads(run_hpo("status", "--study", "tiny", "--storage", storage_url, "--json",
                                           cwd=tmp_path).stdout)
            if summary["running"] and (summary["running"][0]["epoch"] or 0) >= 2:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"no running trial past epoch 2 within 180 s; last status: {summary}")
        [running] = summary["running"]
        assert running["trial"] == 0 and running["alive"]
        assert running["worker"].endswith("/w0") and running["value"] is not None
        assert 0 <= running["heartbeat_age_s"] < 30
        text = run_hpo("status", "--study", "tiny", "--storage", storage_url, cwd=tmp_path).stdout
        assert "running: trial 0 on " in text and "heartbeat" in text
        assert summary["live_workers"] == 1
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(60)


def test_time_left_is_the_median_recent_trial_times_what_is_left(tmp_path: Path) -> None:
    import datetime as dt

    import optuna

    from hpo.status import eta_seconds
    from hpo.storage import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    study = optuna.create_study(storage=storage)
    start = dt.datetime(2026, 1, 1)
    for seconds in (10, 30, 20):
        study.add_trial(optuna.trial.FrozenTrial(
            number=0, trial_id=0, state=optuna.trial.TrialState.COMPLETE, value=1.0, datetime_start=start,
            datetime_complete=start + dt.timedelta(seconds=seconds), params={}, distributions={},
            user_attrs={}, system_attrs={}, intermediate_values={}))
    assert eta_seconds(storage, study._study_id, left=6, workers=2) == 60.0  # median 20 s x 6 / 2
    assert eta_seconds(storage, study._study_id, left=0, workers=2) == 0.0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_panel_shows_the_budget_from_its_first_frame() -> None:
    from hpo.progress import Live, for_terminal

    screen = _Terminal()
    panel = for_terminal(quiet=False, stream=screen)
    assert isinstance(panel, Live)
    panel.line("created study 'tiny' (1 baselines enqueued)")
    assert "trials finished" not in screen.getvalue()  # no frame before the budget is known: never "0/?"
    panel.study(0, 8, None, "val_rmse")  # what the worker says before its first trial
    panel.epoch(0, 0, 4, "val_rmse", 3.5)
    panel.close()
    frames = screen.getvalue()
    assert "0/8 trials finished" in frames and "/?" not in frames
    assert frames.index("0/8 trials finished") < frames.index("epoch 1/4")


def test_live_panel_never_shows_or_interprets_markup() -> None:
    from hpo.progress import Live

    screen = _Terminal()
    panel = Live(screen)
    panel.study(1, 8, 0.25, "val[red]x[/red]")  # user text with brackets: printed as written
    panel.epoch(3, 1, 4, "val[red]x[/red]", 0.5)
    panel.line("trial 2 complete dropout=[0.35]")
    panel.close()
    frames = screen.getvalue()
    assert "best val[red]x[/red] 0.25" in frames and "val[red]x[/red]=0.5" in frames
    assert "dropout=[0.35]" in frames
    assert "[bold]" not in frames and "[/]" not in frames  # hpo's own styling is never raw markup


def test_status_prints_params_as_suggested_and_the_trivial_baseline(tmp_path: Path) -> None:
    import json

    from hpo.status import format_summary, study_summary
    from tests.test_report import _study

    storage, _ = _study(tmp_path, [3.457, 3.6, 3.5], trivial=3.294)  # best (trial 1) has dropout 0.1 + 0.25
    summary = study_summary(storage, "tiny")
    assert summary["best"]["params"]["dropout"] == 0.35  # not 0.35000000000000003, in --json too
    assert summary["trivial_baseline"] == {"metric": "val_loss", "value": 3.294, "predictor": "training mean",
                                           "split": "validation"}
    text = format_summary(summary)
    assert '"dropout": 0.35,' in text and "0.35000000000000003" not in text
    # No worker runs: the estimate is one worker's pace, and the line does not claim a live one.
    assert summary["live_workers"] == 0
    assert "(1 trial, at one worker's pace; no worker running now)" in text
    assert ("  trivial baseline: val_loss=3.294 (training mean, validation split); the best value (3.457) does "
            "not beat the trivial predictor (training mean, 3.294)") in text.splitlines()
    [shown] = json.loads(run_hpo("status", "--study", "tiny", "--storage", f"sqlite:///{tmp_path / 's.db'}",
                                 "--json", cwd=tmp_path).stdout)
    assert shown["trivial_baseline"]["value"] == 3.294 and shown["best"]["params"]["dropout"] == 0.35


def test_trivial_verdict_follows_the_direction() -> None:
    from hpo.fmt import trivial_verdict

    majority = {"value": 0.5, "predictor": "majority class"}
    assert trivial_verdict(0.4, majority, "maximize") == (
        "the best value (0.4) does not beat the trivial predictor (majority class, 0.5)")
    assert trivial_verdict(0.6, majority, "maximize").startswith("the best value (0.6) beats")
    assert trivial_verdict(0.6, majority, "minimize").startswith("the best value (0.6) does not beat")
