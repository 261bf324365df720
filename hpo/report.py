"""A static report of a study: one self-contained HTML page plus the PNGs it shows.

Sections: optimization history (baselines marked), parameter importance (PED-ANOVA,
or fANOVA), intermediate-value curves (pruned and completed told apart), parallel
coordinates, slice plots, the top 10 trials, the compute account (epochs trained vs.
what a search without pruning would have trained), and the baselines against the
best trial. No network is needed to open it: images are embedded as data URIs.
"""

from __future__ import annotations

import base64
import html
import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError, HpoError
from hpo.record import BASELINE_ATTR, EPOCHS_ATTR, RUN_ATTRS, WALL_SECONDS_ATTR
from hpo.study import pinned_spec

if TYPE_CHECKING:
    import optuna

IMPORTANCE = ("ped-anova", "fanova")


def _figure_png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _history(trials: list[optuna.trial.FrozenTrial], metric: str, direction: str) -> bytes:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    done = [t for t in trials if t.state.name == "COMPLETE"]
    xs, ys = [t.number for t in done], [float(t.value or 0.0) for t in done]
    ax.scatter(xs, ys, s=18, label="completed trial", color="#1f77b4")
    best: float | None = None
    line: list[float] = []
    for value in ys:
        if best is None or (value < best if direction == "minimize" else value > best):
            best = value
        line.append(best)
    ax.step(xs, line, where="post", color="#d62728", label="best so far")
    base = [t for t in done if BASELINE_ATTR in t.user_attrs]
    if base:
        ax.scatter([t.number for t in base], [float(t.value or 0.0) for t in base], marker="*", s=160, color="#ff7f0e",
                   label="baseline (hand-tuned)", zorder=3)
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title("Optimization history")
    ax.legend()
    return _figure_png(fig)


def _importance(study: optuna.Study, method: str) -> tuple[bytes, dict[str, float]]:
    import matplotlib.pyplot as plt
    import optuna

    evaluator = (optuna.importance.FanovaImportanceEvaluator(seed=0) if method == "fanova"
                 else optuna.importance.PedAnovaImportanceEvaluator())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = optuna.importance.get_param_importances(study, evaluator=evaluator)
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.4 * max(1, len(scores))))
    names = list(scores)[::-1]
    ax.barh(names, [scores[n] for n in names], color="#2ca02c")
    ax.set_xlabel("importance")
    ax.set_title(f"Hyperparameter importance ({'fANOVA' if method == 'fanova' else 'PED-ANOVA'})")
    return _figure_png(fig), dict(scores)


def _curves(trials: list[optuna.trial.FrozenTrial], metric: str) -> bytes:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    seen: set[str] = set()
    for t in trials:
        if not t.intermediate_values or t.state.name not in ("COMPLETE", "PRUNED"):
            continue
        steps = sorted(t.intermediate_values)
        pruned = t.state.name == "PRUNED"
        label = "pruned" if pruned else "completed"
        ax.plot(steps, [t.intermediate_values[s] for s in steps], color="#d62728" if pruned else "#1f77b4",
                alpha=0.6, linestyle="--" if pruned else "-", label=None if label in seen else label)
        seen.add(label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title("Intermediate values (learning curves)")
    if seen:
        ax.legend()
    return _figure_png(fig)


def _optuna_plot(kind: str, study: optuna.Study) -> bytes:
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = vis.plot_parallel_coordinate(study) if kind == "parallel" else vis.plot_slice(study)
    ax = result.flat[0] if hasattr(result, "flat") else result
    fig: Any = ax.figure
    fig.set_size_inches(10 if kind == "parallel" else max(8, 3 * len(study.best_params)), 4.5)
    png = _figure_png(fig)
    plt.close("all")
    return png


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
    out.mkdir(parents=True, exist_ok=True)

    images = {"history": _history(trials, spec.metric, spec.direction)}
    images["importance"], scores = _importance(study, importance)
    images["intermediate"] = _curves(trials, spec.metric)
    images["parallel"] = _optuna_plot("parallel", study)
    images["slice"] = _optuna_plot("slice", study)
    for key, png in images.items():
        (out / f"{key}.png").write_bytes(png)

    sections = [_section("Optimization history", "history", images),
                _section("Hyperparameter importance", "importance", images,
                         _table(["parameter", "importance"], [[k, f"{v:.3f}"] for k, v in scores.items()])),
                _section("Intermediate values", "intermediate", images),
                _section("Parallel coordinates", "parallel", images),
                _section("Slice plots", "slice", images),
                _top_trials(study, done, spec.direction),
                _compute(trials, spec.max_epochs),
                _baselines(study, done, spec.direction, spec.metric)]
    page = _PAGE.format(title=html.escape(f"hpo report: {name}"), name=html.escape(name),
                        summary=html.escape(f"task {spec.task}, {spec.metric} ({spec.direction}); "
                                            f"{len(trials)} trials; best {study.best_value:.6g} "
                                            f"(trial {study.best_trial.number})"),
                        sections="\n".join(sections))
    (out / "index.html").write_text(page, encoding="utf-8")
    return out / "index.html"


def _section(title: str, key: str, images: dict[str, bytes], extra: str = "") -> str:
    data = base64.b64encode(images[key]).decode()
    return (f'<section id="{key}"><h2>{html.escape(title)}</h2>'
            f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">{extra}</section>')


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _top_trials(study: optuna.Study, done: list[Any], direction: str) -> str:
    ranked = sorted(done, key=lambda t: t.value, reverse=direction == "maximize")[:10]
    params = sorted({k for t in ranked for k in t.params})
    attrs = list(RUN_ATTRS)
    rows = [[t.number, f"{t.value:.6g}", "yes" if BASELINE_ATTR in t.user_attrs else "",
             *[_fmt(t.params.get(p, "")) for p in params], *[_fmt(t.user_attrs.get(a, "")) for a in attrs]]
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


def _baselines(study: optuna.Study, done: list[Any], direction: str, metric: str) -> str:
    base = [t for t in done if BASELINE_ATTR in t.user_attrs]
    best = study.best_trial
    if not base:
        return '<section id="baselines"><h2>Baselines</h2><p>No baseline finished.</p></section>'
    best_base = (min if direction == "minimize" else max)(base, key=lambda t: t.value)
    gain = best_base.value - best.value if direction == "minimize" else best.value - best_base.value
    rel = gain / abs(best_base.value) * 100 if best_base.value else float("nan")
    rows = [[t.user_attrs[BASELINE_ATTR], t.number, f"{t.value:.6g}", json.dumps(t.params, sort_keys=True)]
            for t in base]
    verdict = (f"The best trial (#{best.number}, {metric}={best.value:.6g}) beats the best baseline "
               f"(#{best_base.number}, {best_base.value:.6g}) by {gain:.4g} ({rel:.1f}%)."
               if gain > 0 else f"The best trial is baseline #{best_base.number}: the search has not beaten it yet.")
    return ('<section id="baselines"><h2>Baselines</h2>'
            f"<p>{html.escape(verdict)}</p>"
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
