"""`hpo report`: one self-contained HTML page plus PNGs, opened in a real headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser import chromium_dump_dom
from tests.conftest import run_hpo, study_trials, tiny_space

SECTIONS = ("history", "importance", "intermediate", "parallel", "slice", "top", "compute", "baselines")


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{tmp / 's.db'}"
    space = tiny_space(tmp, trials=8, epochs=4, sampler="random")
    proc = run_hpo("worker", "--study", "tiny", "--space", str(space), "--storage", url, "--quiet", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return tmp, url


def test_report_writes_every_section_and_png(finished_study: tuple[Path, str]) -> None:
    tmp, url = finished_study
    out = tmp / "report"
    proc = run_hpo("report", "--study", "tiny", "--storage", url, "--out", str(out), cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    for name in ("history", "importance", "intermediate", "parallel", "slice"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "index.html").read_text()
    assert "http://" not in page and "https://" not in page  # opens with no network
    trials = study_trials(url)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    trained = sum(t.user_attrs["epochs"] for t in finished)
    assert f"<td>epochs trained (finished trials)</td><td>{trained}</td>" in page
    assert f"<td>{4 * len(finished)}</td>" in page  # what no pruning would have trained
    assert "beats the best baseline" in page or "the search has not beaten it yet" in page
    for param in ("dropout", "learning_rate", "hidden_units"):
        assert f"<th>{param}</th>" in page


def test_report_renders_in_chromium(finished_study: tuple[Path, str]) -> None:
    tmp, url = finished_study
    out = tmp / "report-browser"
    assert run_hpo("report", "--study", "tiny", "--storage", url, "--out", str(out), "--importance", "fanova",
                   cwd=tmp).returncode == 0
    dom = chromium_dump_dom((out / "index.html").as_uri(), screenshot=out / "screenshot.png")
    for section in SECTIONS:
        assert re.search(rf'<section id="{section}">', dom), section
    assert dom.count('src="data:image/png;base64,') == 5
    assert "fANOVA" in (out / "index.html").read_text() or "importance" in dom
    assert (out / "screenshot.png").stat().st_size > 10_000


def test_report_needs_completed_trials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    run_hpo("create", "--study", "tiny", "--space", str(tiny_space(tmp_path)), "--storage", url, cwd=tmp_path)
    proc = run_hpo("report", "--study", "tiny", "--storage", url, "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "hpo: error: study 'tiny' has 0 completed trials; a report needs at least 2"
