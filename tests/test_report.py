"""`hpo report`: one self-contained HTML page plus PNGs, opened in a real headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser import chromium_dump_dom
from tests.conftest import run_hpo, study_trials, tiny_space

if TYPE_CHECKING:
    import optuna

SECTIONS = ("history", "importance", "intermediate", "parallel", "slice", "top", "compute", "baselines")


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{tmp / 's.db'}"
    # 6 trials: the median pruner spares the first 5 (importance needs 5 complete), may prune the 6th.
    space = tiny_space(tmp, trials=6, epochs=4, sampler="random")
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


# Fast studies built with optuna directly (no training), pinned like hpo's own.
LOSS = ("metric: val_accuracy, direction: maximize", "metric: val_loss, direction: minimize")


def _study(tmp_path: Path, values: list[float], *, direction: str = "minimize",
           curves: dict[int, list[float]] | None = None, trivial: float | None = None
           ) -> tuple[optuna.storages.BaseStorage, optuna.Study]:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from hpo.record import TRIVIAL_ATTR
    from hpo.space import load_spec
    from hpo.storage import open_storage
    from hpo.study import create_study

    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tiny_space(tmp_path)
    if direction == "minimize":
        path.write_text(path.read_text().replace(*LOSS))
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    study, _ = create_study(storage, load_spec(path))
    dists = {"conv_blocks": IntDistribution(1, 2), "filters": CategoricalDistribution([4, 8]),
             "hidden_units": IntDistribution(8, 32, log=True), "dropout": FloatDistribution(0.0, 0.5),
             "optimizer": CategoricalDistribution(["adam", "sgd"]),
             "learning_rate": FloatDistribution(1e-3, 1e-2, log=True)}
    for i, value in enumerate(values):
        params = {"conv_blocks": 1 + i % 2, "filters": (4, 8)[i % 2], "hidden_units": 8 + 3 * i,
                  "dropout": 0.1 + 0.25 if i == 0 else 0.05 * (i % 10),  # 0.35000000000000003, as steps make it
                  "optimizer": ("adam", "sgd")[i // 2 % 2], "learning_rate": 1e-3 * (1 + i % 9)}
        curve = (curves or {}).get(i, [value + 1.0, value + 0.5, value])
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value,
                                                  intermediate_values=dict(enumerate(curve))))
    if trivial is not None:
        study.set_user_attr(TRIVIAL_ATTR, {"metric": "val_loss", "value": trivial, "predictor": "training mean",
                                           "split": "validation"})
    return storage, study


def test_one_diverging_trial_does_not_flatten_the_plots(tmp_path: Path) -> None:
    from hpo import report

    values = [3.0 + 0.1 * i for i in range(8)]
    values[5] = 4.0e6  # one trial blew up
    _, study = _study(tmp_path, values, curves={5: [10.0, 1.0e3, 4.0e6]})
    trials = study.get_trials()
    for fig in (report._curves_figure(trials, "val_loss", "minimize"),
                report._history_figure(trials, "val_loss", "minimize"),
                report._slice_figure(study, "val_loss", "minimize")):
        ax = fig.axes[0]
        low, high = ax.get_ylim()
        assert high < 100 and low > 0, (ax.get_title(), ax.get_ylim())  # the bulk (3.0-3.7) fills the axis
        title = ax.get_title() + (fig._suptitle.get_text() if fig._suptitle else "")
        assert "off the chart" in title  # and the diverged trial is named, not hidden silently
    assert "#6" in report._curves_figure(trials, "val_loss", "minimize").axes[0].get_title()  # trial 0 is the baseline
    parallel = report._parallel_figure(study, "val_loss", "minimize").axes[0]
    assert parallel.get_ylim()[1] < 100 and "diverged" in parallel.get_title()


def test_learning_curves_spanning_decades_get_a_log_axis(tmp_path: Path) -> None:
    from hpo import report

    curves = {i: [40.0 + i, 8.0, 2.0 + 0.1 * i] for i in range(6)}
    _, study = _study(tmp_path, [2.0 + 0.1 * i for i in range(6)], curves=curves)
    ax = report._curves_figure(study.get_trials(), "val_loss", "minimize").axes[0]
    assert ax.get_yscale() == "log" and "off the chart" not in ax.get_title()  # high first epochs are not divergence


def test_worst_trial_is_visible_in_parallel_coordinates(tmp_path: Path) -> None:
    from matplotlib.collections import LineCollection

    from hpo import report

    for direction, values in (("minimize", [3.0, 3.2, 3.1, 9.0, 3.3]), ("maximize", [0.9, 0.8, 0.1, 0.85, 0.95])):
        _, study = _study(tmp_path / direction, values, direction=direction)
        ax = report._parallel_figure(study, "m", direction).axes[0]
        [lines] = [c for c in ax.collections if isinstance(c, LineCollection)]
        array = lines.get_array()
        assert array is not None
        drawn = [float(v) for v in array]  # one line per complete trial, in optuna's order
        colours = lines.to_rgba(array)
        worst = max(values) if direction == "minimize" else min(values)
        best = min(values) if direction == "minimize" else max(values)
        low, high = ax.get_ylim()
        assert low <= worst <= high
        r, g, b, _ = colours[drawn.index(worst)]
        assert 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.8  # not white on white (optuna's #f7fbff was 0.98)
        assert sum(colours[drawn.index(best)][:3]) < sum(colours[drawn.index(worst)][:3])  # best darkest


def test_slice_plots_stay_readable(tmp_path: Path) -> None:
    import optuna

    from hpo import report

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    names = ["relu", "elu", "selu", "tanh", "sigmoid", "leaky_relu"]
    study.optimize(lambda t: (t.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
                              + t.suggest_int("hidden_units", 32, 512, log=True) / 1e4
                              + t.suggest_int("conv_blocks", 2, 5) + t.suggest_float("dropout", 0.0, 0.6)
                              + names.index(t.suggest_categorical("activation", names))
                              + t.suggest_int("filters", 16, 64) / 100
                              + len(t.suggest_categorical("optimizer", ["adam", "rmsprop", "sgd"]))), n_trials=20)
    fig = report._slice_figure(study, "val_loss", "minimize")
    assert fig.get_size_inches()[0] <= 12  # fits the page at full size: 7 params used to be 21 inches wide
    fig.canvas.draw()
    axes = {ax.get_xlabel(): ax for ax in fig.axes if ax.get_xlabel()}
    assert axes["learning_rate"].get_xscale() == "log" and axes["hidden_units"].get_xscale() == "log"
    assert axes["conv_blocks"].get_xscale() == "linear"
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for name, ax in axes.items():
        labels = [t for t in ax.get_xticklabels() if t.get_text() and t.get_visible()
                  and ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]]
        assert 1 <= len(labels) <= 7, (name, [t.get_text() for t in labels])
        assert not any("'" in t.get_text() or "times" in t.get_text() for t in labels), name  # no repr, no 2x10^-3
        boxes = [t.get_window_extent(renderer) for t in labels]
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), name
    assert [t.get_text() for t in axes["conv_blocks"].get_xticklabels() if t.get_text()
            and axes["conv_blocks"].get_xlim()[0] <= t.get_position()[0] <= axes["conv_blocks"].get_xlim()[1]
            ] == ["2", "3", "4", "5"]  # whole numbers for an int parameter


def test_importance_needs_enough_complete_trials_and_says_why(tmp_path: Path) -> None:
    from hpo import report

    storage, _ = _study(tmp_path, [3.0, 3.2, 3.1])
    page = report.build_report(storage, "tiny", tmp_path / "r").read_text()
    assert "Importance needs at least 5 complete trials; this study has 3." in page
    assert not (tmp_path / "r" / "importance.png").exists()
    assert page.count('src="data:image/png;base64,') == 4  # the other plots are all there


def test_report_prints_params_as_suggested(tmp_path: Path) -> None:
    from hpo import report

    storage, _ = _study(tmp_path, [3.0, 3.2, 3.1])  # trial 1 (after the baseline) has dropout 0.1 + 0.25
    page = report.build_report(storage, "tiny", tmp_path / "r").read_text()
    assert "<td>0.35</td>" in page and "0.35000000000000003" not in page


def test_trivial_baseline_in_the_report(tmp_path: Path) -> None:
    from hpo import report

    storage, study = _study(tmp_path / "loses", [3.457, 3.6, 3.5], trivial=3.294)
    page = report.build_report(storage, "tiny", tmp_path / "r").read_text()
    summary = re.search(r"<h1>.*?</h1><p>(.*?)</p>", page)
    assert summary and ("the best value (3.457) does not beat the trivial predictor (training mean, 3.294)"
                        in summary.group(1))
    assert "The best value (3.457) does not beat the trivial predictor (training mean, 3.294) on the validation " \
           "split." in page.split('<section id="baselines">')[1]
    ax = report._history_figure(study.get_trials(), "val_loss", "minimize",
                                {"value": 3.294, "predictor": "training mean"}).axes[0]
    [line] = [ln for ln in ax.get_lines() if ln.get_label() == "training mean 3.294"]
    assert set(line.get_ydata()) == {3.294} and ax.get_ylim()[0] < 3.294  # a horizontal line, in view

    storage, _ = _study(tmp_path / "wins", [3.0, 3.6, 3.5], trivial=3.294)
    page = report.build_report(storage, "tiny", tmp_path / "r2").read_text()
    assert "the best value (3) beats the trivial predictor (training mean, 3.294) by 0.294 (8.9%)" in page
