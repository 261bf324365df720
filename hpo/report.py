"""A static report of a study: one self-contained HTML page plus the PNGs it shows.

Sections: optimization history (baselines marked), parameter importance (PED-ANOVA,
or fANOVA), intermediate-value curves (pruned and completed told apart), parallel
coordinates, slice plots, the top 10 trials, the compute account (epochs trained vs.
what a search without pruning would have trained), and the hand-tuned baselines and the
trivial predictor (training mean, majority class) against the best trial. No network is
needed to open it: images are embedded as data URIs.

Readable as a new user sees it: one diverging trial is left off the chart (and named)
instead of flattening every other curve; importance only from enough complete trials;
parameters printed as they were suggested (``0.35``, not ``0.35000000000000003``).
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError, HpoError
from hpo.files import write_atomic
from hpo.fmt import beats, param_text, params_json, trivial_mark, trivial_verdict
from hpo.record import BASELINE_ATTR, EPOCHS_ATTR, RUN_ATTRS, WALL_SECONDS_ATTR, trivial_baseline
from hpo.study import pinned_spec

if TYPE_CHECKING:
    import optuna

IMPORTANCE = ("ped-anova", "fanova")
# Fewer complete trials than this, and importances are mostly noise; a parameter needs at
# least two distinct values among them to have any importance at all.
MIN_IMPORTANCE_TRIALS = 5
SLICE_COLUMNS = 3  # slice subplots per row: each stays wide enough for its ticks at page width


def _figure_png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _bulk(values: Sequence[float], direction: str) -> tuple[float, float, list[float]] | None:
    """The range of the bulk of ``values`` and the values past it, on the bad side only.

    A poor trial is information; a value orders of magnitude off is divergence, and
    drawn to scale it flattens every other trial. Only the bad side (high for minimize,
    low for maximize) is fenced. Positive minimized metrics (losses, RMSE) are judged in
    log10: diverged means more than max(3 IQR, one decade) past the upper quartile, so a
    learning curve's high first epochs stay in. Others use three times max(IQR, |median|),
    so a bounded metric like accuracy is never fenced. None when there is too little to judge.
    """
    import numpy as np

    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if finite.size < 4:
        return None
    logged = bool((finite > 0).all()) and direction == "minimize"
    space = np.log10(finite) if logged else finite
    q1, median, q3 = (float(q) for q in np.percentile(space, [25, 50, 75]))
    if logged:
        fence = q3 + 3 * max(q3 - q1, 1 / 3)
    else:
        reach = 3 * max(q3 - q1, abs(median))
        fence = q3 + reach if direction == "minimize" else q1 - reach
    out = space > fence if direction == "minimize" else space < fence
    inside = finite[~out]
    return float(inside.min()), float(inside.max()), [float(v) for v in finite[out]]


def _fit_axis(ax: Any, values: Sequence[float], direction: str, keep: Sequence[float] = ()) -> list[float]:
    """Y-limits from the bulk of ``values`` (see ``_bulk``); a log axis when the bulk spans more
    than a decade. ``keep`` (the trivial baseline) always stays in view. Returns the values
    left off the chart."""
    bulk = _bulk(values, direction)
    if bulk is None:
        return []
    lo, hi, off = bulk
    shown = [lo, hi, *[k for k in keep if math.isfinite(k)]]
    lo, hi = min(shown), max(shown)
    if lo > 0 and hi / lo > 10:
        ax.set_yscale("log")
        pad = (hi / lo) ** 0.05
        ax.set_ylim(lo / pad, hi * pad)
    elif off:
        pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 0.5
        ax.set_ylim(lo - pad, hi + pad)
    return off


def _off_chart(off: dict[int, float]) -> str:
    """A title's second line naming the trials left off the chart, so nothing is hidden silently."""
    if not off:
        return ""
    numbers = sorted(off)
    shown = ", ".join(f"#{n}" for n in numbers[:5]) + (", ..." if len(numbers) > 5 else "")
    worst = max(off.values(), key=abs)
    return f"\n(off the chart, diverged: trial{'s' * (len(numbers) > 1)} {shown}; up to {worst:.3g})"


def _history_figure(trials: list[optuna.trial.FrozenTrial], metric: str, direction: str,
                    trivial: dict[str, Any] | None = None) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 4))
    done = [t for t in trials if t.state.name == "COMPLETE"]
    xs, ys = [t.number for t in done], [float(t.value or 0.0) for t in done]
    ax.scatter(xs, ys, s=18, label="completed trial", color="#1f77b4")
    best: float | None = None
    line: list[float] = []
    for value in ys:
        if best is None or beats(value, best, direction):
            best = value
        line.append(best)
    ax.step(xs, line, where="post", color="#d62728", label="best so far")
    base = [t for t in done if BASELINE_ATTR in t.user_attrs]
    if base:
        ax.scatter([t.number for t in base], [float(t.value or 0.0) for t in base], marker="*", s=160, color="#ff7f0e",
                   label="baseline (hand-tuned)", zorder=3)
    keep: list[float] = []
    if trivial:
        # The score of predicting the training mean / majority class: the search must clear it.
        value = float(trivial["value"])
        keep.append(value)
        ax.axhline(value, color="#555555", linestyle=":", linewidth=1.5,
                   label=f"{trivial.get('predictor', 'trivial predictor')} {value:.4g}")
    off = set(_fit_axis(ax, ys, direction, keep))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers are whole
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title("Optimization history" + _off_chart({x: y for x, y in zip(xs, ys, strict=True) if y in off}))
    ax.legend()
    return fig


def importance_params(done: list[optuna.trial.FrozenTrial]) -> tuple[list[str], str | None]:
    """The parameters importance can be computed for, or why it cannot be."""
    from optuna.search_space import intersection_search_space

    if len(done) < MIN_IMPORTANCE_TRIALS:
        return [], (f"Importance needs at least {MIN_IMPORTANCE_TRIALS} complete trials; "
                    f"this study has {len(done)}.")
    shared = intersection_search_space(done)  # params every complete trial has, with one distribution
    params = [p for p in sorted(shared) if len({repr(t.params[p]) for t in done}) >= 2]
    if not params:
        return [], ("Importance needs a parameter that every complete trial has, with at least two "
                    "distinct values; this study has none.")
    return params, None


def _on_first_objective(t: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
    """A multi-objective trial as a single-objective one valued by its first objective."""
    import optuna

    first = optuna.trial.create_trial(
        state=t.state, value=t.values[0] if t.values else None, params=t.params, distributions=t.distributions,
        user_attrs=t.user_attrs, system_attrs=t.system_attrs, intermediate_values=t.intermediate_values)
    first.number = t.number
    return first


def _pareto_figure(study: optuna.Study, names: list[str]) -> Any:
    import optuna

    with warnings.catch_warnings():  # matplotlib plots are "experimental" in optuna
        warnings.simplefilter("ignore")
        ax = optuna.visualization.matplotlib.plot_pareto_front(study, target_names=names)
    return ax.figure


def _pareto_table(study: optuna.Study, spec: Any, trivial: dict[str, Any] | None) -> str:
    front = sorted(study.best_trials, key=lambda t: t.values[0], reverse=spec.direction == "maximize")
    against = [[trivial_mark(t.values[0], trivial, spec.direction)] if trivial else [] for t in front]
    rows = [[t.number, *[f"{v:.6g}" for v in t.values], *mark, params_json(t.params)]
            for t, mark in zip(front, against, strict=True)]
    return (f"<p>{len(front)} trials no other trial beats on every objective; "
            "<code>hpo export --trial N</code> writes one of them.</p>"
            + _table(["trial", *spec.metric_names, *([f"{spec.metric} vs trivial"] if trivial else []), "params"],
                     rows))


def _importance(study: optuna.Study, method: str, params: list[str]) -> tuple[bytes, dict[str, float]]:
    import matplotlib.pyplot as plt
    import optuna

    evaluator = (optuna.importance.FanovaImportanceEvaluator(seed=0) if method == "fanova"
                 else optuna.importance.PedAnovaImportanceEvaluator())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Several objectives: importance for the first (the metric the model trains on).
        target = (lambda t: t.values[0]) if len(study.directions) > 1 else None
        scores = optuna.importance.get_param_importances(study, evaluator=evaluator, params=params, target=target)
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.4 * max(1, len(scores))))
    names = list(scores)[::-1]
    ax.barh(names, [scores[n] for n in names], color="#2ca02c")
    ax.set_xlabel("importance")
    ax.set_title(f"Hyperparameter importance ({'fANOVA' if method == 'fanova' else 'PED-ANOVA'})"
                 + (" for the first objective" if len(study.directions) > 1 else ""))
    return _figure_png(fig), dict(scores)


def _curves_figure(trials: list[optuna.trial.FrozenTrial], metric: str, direction: str) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 4))
    seen: set[str] = set()
    curves: dict[int, list[float]] = {}
    for t in trials:
        if not t.intermediate_values or t.state.name not in ("COMPLETE", "PRUNED"):
            continue
        steps = sorted(t.intermediate_values)
        pruned = t.state.name == "PRUNED"
        label = "pruned" if pruned else "completed"
        curves[t.number] = ys = [t.intermediate_values[s] for s in steps]
        ax.plot(steps, ys, color="#d62728" if pruned else "#1f77b4",
                alpha=0.6, linestyle="--" if pruned else "-", label=None if label in seen else label)
        seen.add(label)
    off = set(_fit_axis(ax, [y for ys in curves.values() for y in ys], direction))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric + (" (log scale)" if ax.get_yscale() == "log" else ""))
    worst = {n: max((y for y in ys if y in off), key=abs) for n, ys in curves.items() if off.intersection(ys)}
    ax.set_title("Intermediate values (learning curves)" + _off_chart(worst))
    if seen:
        ax.legend()
    return fig


def _distributions(study: optuna.Study) -> dict[str, Any]:
    return {name: dist for t in study.get_trials(deepcopy=False, states=None) if t.state.name == "COMPLETE"
            for name, dist in t.distributions.items()}


def _readable_ticks(axis: Any, dist: Any) -> None:
    """At most ~4 numbers per axis, printed plainly: whole numbers for int parameters, and
    1-2-5 ticks (``0.002``, not ``2x10^-3`` overlapping its neighbours) for log ones."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if dist is None or isinstance(dist, CategoricalDistribution) or isinstance(axis.get_major_locator(),
                                                                               FixedLocator):
        return  # categorical, or ticks optuna placed by hand
    whole = isinstance(dist, IntDistribution)
    low, high = sorted(axis.get_view_interval())
    decades = math.log10(high / low) if axis.get_scale() == "log" and low > 0 else 0.0
    # 1-2-5 over two decades is seven crowded labels: powers of ten alone there; within one
    # decade 1-2-3-5. Fewer than two of those in view, and LogLocator falls back to a dense
    # linear set: then plain MaxNLocator instead, as on a linear axis.
    subs = (1.0,) if decades > 1.5 else (1.0, 2.0, 5.0) if decades >= 1 else (1.0, 2.0, 3.0, 5.0)
    powers = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1) if decades else range(0)
    if sum(low <= m * 10.0**e <= high for e in powers for m in subs) >= 2:
        axis.set_major_locator(LogLocator(subs=subs))
    else:
        axis.set_major_locator(MaxNLocator(4, integer=whole))
    if axis.get_scale() == "log":
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _parallel_figure(study: optuna.Study, metric: str, direction: str) -> Any:
    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np
    import optuna.visualization.matplotlib as vis
    from matplotlib.collections import LineCollection
    from matplotlib.colors import ListedColormap

    values = [float(t.value) for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"
              and t.value is not None]
    bulk = _bulk(values, direction)
    target, note = None, ""
    if bulk is not None and bulk[2]:
        # A diverged trial drawn to scale squeezes every other line onto one edge; draw it
        # just past the bulk instead, still the worst and still in view, and say so.
        lo, hi, off = bulk
        cap = hi + 0.1 * (hi - lo or abs(hi) or 1.0) if direction == "minimize" else lo - 0.1 * (hi - lo or
                                                                                             abs(lo) or 1.0)
        clip = min if direction == "minimize" else max

        def target(t: optuna.trial.FrozenTrial) -> float:
            return clip(float(t.value or 0.0), cap)

        note = (f"\n({len(off)} diverged trial{'s' * (len(off) > 1)}, up to {max(off, key=abs):.3g}, "
                f"drawn at {cap:.4g})")
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore")
        ax = vis.plot_parallel_coordinate(study, target=target, target_name=metric)
    fig: Any = ax.figure
    ax.set_title("Parallel coordinates" + note, y=1.03)
    # Optuna paints the worst trial at the pale end of "Blues" (#f7fbff): white on white, it
    # vanished. Start the scale at a visible blue instead; the best trial stays the darkest.
    blues = plt.get_cmap("Blues")(np.linspace(0.35, 1.0, 256))
    cmap = ListedColormap(blues[::-1] if direction == "minimize" else blues, name="hpo_blues")
    for lines in ax.collections:
        if isinstance(lines, LineCollection):
            lines.set_cmap(cmap)
            lines.set_clip_on(False)  # the worst and best lie on the axis' edges: draw them whole
    dists = _distributions(study)
    names = [label.get_text() for label in ax.get_xticklabels()][1:]  # after the objective
    twins = [a for a in fig.axes if a is not ax and a.get_label() != "<colorbar>"]
    for name, twin in zip(names, twins, strict=False):
        _readable_ticks(twin.yaxis, dists.get(name))
    fig.set_size_inches(10, 4.5)
    return fig


def _slice_figure(study: optuna.Study, metric: str, direction: str) -> Any:
    import matplotlib
    import optuna.visualization.matplotlib as vis
    from matplotlib.category import UnitData
    from matplotlib.ticker import MaxNLocator

    values = [float(t.value) for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"
              and t.value is not None]
    dists = _distributions(study)
    # plot_slice switches the global style to ggplot; rc_context puts it back afterwards.
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore")
        result = vis.plot_slice(study, target_name=metric)
        axes = list(result.flat) if hasattr(result, "flat") else [result]
        fig: Any = axes[0].figure
        if not axes[0].collections:
            return fig  # no parameter varies: optuna drew an empty frame
        # Optuna lays every parameter out in one row (3 in each): at page width nine of them
        # shrink to unreadable ticks. A grid of SLICE_COLUMNS keeps each panel legible.
        for extra in [a for a in fig.axes if a not in axes]:
            extra.remove()  # optuna's trial-number colour bar, sized for the single row
        cols = min(SLICE_COLUMNS, len(axes))
        rows = math.ceil(len(axes) / cols)
        grid = fig.add_gridspec(rows, cols, hspace=0.6, wspace=0.25)
        for i, ax in enumerate(axes):
            ax.set_subplotspec(grid[i // cols, i % cols])
            first = i % cols == 0
            ax.tick_params(axis="y", labelleft=first)
            ax.set_ylabel(metric if first else "")
            if isinstance(ax.xaxis.units, UnitData):  # categorical: optuna labels each choice with repr()
                labels = [t.get_text().strip("'") for t in ax.get_xticklabels()]
                ax.set_xticks(ax.get_xticks(), labels)
                if len(labels) > 3 or max(map(len, labels), default=0) > 8:
                    ax.tick_params(axis="x", labelrotation=90)  # side by side they would overlap
            else:
                _readable_ticks(ax.xaxis, dists.get(ax.get_xlabel()))
        off = _fit_axis(axes[0], values, direction)  # y is shared: one diverged trial flattened them all
        fig.suptitle("Slice plots" + (f"\n({len(off)} diverged trial{'s' * (len(off) > 1)} off the chart, "
                                      f"up to {max(off, key=abs):.3g})" if off else ""))
        fig.set_size_inches(3.6 * cols, 3.2 * rows + 0.4)
        bar = fig.colorbar(axes[0].collections[0], ax=axes, label="trial", fraction=0.03, pad=0.02)
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers are whole
    return fig


def build_report(storage: optuna.storages.BaseStorage, name: str, out: Path, *, importance: str = "ped-anova"
                 ) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import optuna

    if importance not in IMPORTANCE:
        raise ConfigError(f"--importance: expected one of {', '.join(IMPORTANCE)}, got {importance!r}")
    spec = pinned_spec(storage, name, wait_s=0)
    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state.name == "COMPLETE"]
    if len(done) < 2:
        raise HpoError(f"study {name!r} has {len(done)} completed trials; a report needs at least 2")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} is a file; give a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out: cannot create {out}: {e.strerror}; give a directory you can write") from e
    if not os.access(out, os.W_OK | os.X_OK):  # before the figures are drawn, not after
        raise ConfigError(f"--out: {out} is not writable; give a directory you can write")

    trivial = trivial_baseline(study.user_attrs)
    if spec.multi_objective:
        # Everything drawn against one value is drawn against the first objective (the metric the
        # model trains on); the trade-off between the objectives is the Pareto front's plot.
        trials = [_on_first_objective(t) for t in trials]
        done = [t for t in trials if t.state.name == "COMPLETE"]
    images = {"history": _figure_png(_history_figure(trials, spec.metric, spec.direction, trivial))}
    params, why_not = importance_params(done)
    scores: dict[str, float] = {}
    if params:
        images["importance"], scores = _importance(study, importance, params)
    front_extra = ""
    if spec.multi_objective:
        front_extra = _pareto_table(study, spec, trivial)
        if len(spec.objectives) <= 3:
            images["pareto"] = _figure_png(_pareto_figure(study, spec.metric_names))
        else:
            front_extra = (f"<p>A front of {len(spec.objectives)} objectives is not drawn; "
                           f"the table lists it.</p>{front_extra}")
    else:  # optuna keeps no per-epoch curve for several objectives (nothing to prune with)
        images["intermediate"] = _figure_png(_curves_figure(trials, spec.metric, spec.direction))
        images["parallel"] = _figure_png(_parallel_figure(study, spec.metric, spec.direction))
        images["slice"] = _figure_png(_slice_figure(study, spec.metric, spec.direction))
    for key, png in images.items():
        write_atomic(out / f"{key}.png", png)

    importance_extra = (_table(["parameter", "importance"], [[k, f"{v:.3f}"] for k, v in scores.items()])
                        if scores else f"<p>{html.escape(str(why_not))}</p>")
    best = (min if spec.direction == "minimize" else max)(done, key=lambda t: float(t.value or 0.0))
    history_title = "Optimization history" + (f" ({spec.metric}, the first objective)" if spec.multi_objective else "")
    sections = [_section(history_title, "history", images),
                _section("Hyperparameter importance", "importance", images, importance_extra)]
    if spec.multi_objective:
        sections.append(_section("Pareto front", "pareto", images, front_extra))
    else:
        sections += [_section("Intermediate values", "intermediate", images),
                     _section("Parallel coordinates", "parallel", images),
                     _section("Slice plots", "slice", images),
                     _top_trials(study, done, spec.direction)]
    sections += [_compute(trials, spec.max_epochs),
                 _baselines(best, done, spec.direction, spec.metric, trivial)]
    goal = (", ".join(f"{m} ({d})" for m, d in spec.objectives) if spec.multi_objective
            else f"{spec.metric} ({spec.direction})")
    summary = f"task {spec.task}, {goal}; {len(trials)} trials; "
    if spec.multi_objective:
        summary += (f"Pareto front of {len(study.best_trials)} trials; "
                    f"best {spec.metric} {best.value:.6g} (trial {best.number})")
    else:
        summary += f"best {best.value:.6g} (trial {best.number})"
    if trivial:
        summary += f"; {trivial_verdict(float(best.value or 0.0), trivial, spec.direction)}"
    page = _PAGE.format(title=html.escape(f"hpo report: {name}"), name=html.escape(name),
                        summary=html.escape(summary), sections="\n".join(sections))
    write_atomic(out / "index.html", page)
    return out / "index.html"


def _section(title: str, key: str, images: dict[str, bytes], extra: str = "") -> str:
    img = ""
    if key in images:  # importance may be left out, with a line saying why
        data = base64.b64encode(images[key]).decode()
        img = f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
    return f'<section id="{key}"><h2>{html.escape(title)}</h2>{img}{extra}</section>'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _top_trials(study: optuna.Study, done: list[Any], direction: str) -> str:
    ranked = sorted(done, key=lambda t: t.value, reverse=direction == "maximize")[:10]
    params = sorted({k for t in ranked for k in t.params})
    attrs = list(RUN_ATTRS)
    rows = [[t.number, f"{t.value:.6g}", "yes" if BASELINE_ATTR in t.user_attrs else "",
             *[param_text(t.params.get(p, "")) for p in params], *[_fmt(t.user_attrs.get(a, "")) for a in attrs]]
            for t in ranked]
    return ('<section id="top"><h2>Top 10 trials</h2>'
            + _table(["trial", "value", "baseline", *params, *attrs], rows) + "</section>")


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _compute(trials: list[Any], max_epochs: int) -> str:
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    trained = sum(int(t.user_attrs.get(EPOCHS_ATTR, 0)) for t in finished)
    unpruned = max_epochs * len(finished)
    wall: dict[str, float] = {}
    for t in trials:
        wall[t.state.name] = wall.get(t.state.name, 0.0) + float(t.user_attrs.get(WALL_SECONDS_ATTR, 0.0))
    ratio = trained / unpruned if unpruned else 0.0
    rows: list[list[Any]] = [["epochs trained (finished trials)", trained],
            ["epochs without pruning (same trials x max_epochs)", unpruned],
            ["ratio trained / without pruning", f"{ratio:.2f}"],
            *[[f"wall time in {state.lower()} trials (s)", f"{secs:.1f}"] for state, secs in sorted(wall.items())]]
    return '<section id="compute"><h2>Compute account</h2>' + _table(["", ""], rows) + "</section>"


def _baselines(best: Any, done: list[Any], direction: str, metric: str,
               trivial: dict[str, Any] | None = None) -> str:
    base = [t for t in done if BASELINE_ATTR in t.user_attrs]
    # Hand-tuned baselines say whether the search helped; the trivial predictor says whether
    # the model learned anything at all. The second sits next to the first, never hidden.
    said = trivial_verdict(float(best.value), trivial, direction) if trivial else ""
    against_trivial = (f"<p>{html.escape(said[:1].upper() + said[1:])} "
                       f"on the {html.escape(str(trivial.get('split', 'validation')))} split.</p>"
                       if trivial else "")
    if not base:
        return ('<section id="baselines"><h2>Baselines</h2><p>No baseline finished.</p>'
                f"{against_trivial}</section>")
    best_base = (min if direction == "minimize" else max)(base, key=lambda t: t.value)
    gain = best_base.value - best.value if direction == "minimize" else best.value - best_base.value
    rel = gain / abs(best_base.value) * 100 if best_base.value else float("nan")
    rows = [[t.user_attrs[BASELINE_ATTR], t.number, f"{t.value:.6g}", params_json(t.params)] for t in base]
    verdict = (f"The best trial (#{best.number}, {metric}={best.value:.6g}) beats the best baseline "
               f"(#{best_base.number}, {best_base.value:.6g}) by {gain:.4g} ({rel:.1f}%)."
               if gain > 0 else f"The best trial is baseline #{best_base.number}: the search has not beaten it yet.")
    return ('<section id="baselines"><h2>Baselines</h2>'
            f"<p>{html.escape(verdict)}</p>{against_trivial}"
            + _table(["baseline", "trial", "value", "params"], rows) + "</section>")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
section {{ margin: 2em 0; }} img {{ max-width: 100%; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin-top: 1em; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
</style></head>
<body><h1>Study {name}</h1><p>{summary}</p>
{sections}
</body></html>
"""
