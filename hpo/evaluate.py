"""``hpo evaluate``: a model from ``hpo train`` scored on the test split no trial saw.

The data is loaded and split exactly as the study did (the spec travels in the model's
metadata), and the test split's fingerprint is checked against the one recorded when
the model was trained. Beside the test score: the study's validation score and the
trivial predictor's test score. An ensemble is also scored member by member, and a
flip-TTA model without its flip, so the report says what each part bought.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hpo.errors import DataError
from hpo.files import atomic_path, write_atomic


def evaluate(model_path: Path, out_dir: Path, *, data_path: str | None = None,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    from hpo.baselines import predictor_name, trivial_predictions
    from hpo.data.cache import default_cache_dir
    from hpo.data.datasets import load_dataset
    from hpo.data.fingerprint import array_sha256
    from hpo.modelfile import load_model, read_model_metadata
    from hpo.space import spec_from_dict

    meta = read_model_metadata(model_path)
    if not meta.get("spec"):
        raise DataError(f"--model: {model_path} has no study spec in its metadata (a trial checkpoint?); "
                        "evaluate a model from `hpo train`")
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"--out: {out_dir} is a file; give a directory for the report")
    spec = spec_from_dict(meta["spec"], source=str(model_path), pinned=True)
    recorded = (meta.get("data") or {}).get("path")
    path = data_path or (recorded if recorded and Path(recorded).exists() else None)
    dataset = load_dataset(spec.data, path_override=path, cache_dir=default_cache_dir(),
                           base_dir=spec.base_dir, task=spec.task)
    if dataset.x_test is None or not len(dataset.x_test):
        raise DataError(f"{dataset.source}: this data has no test split (data.test_fraction 0, or no test/ "
                        "folder or PrivateTest rows); there is nothing no trial has seen to score on")
    expected = tuple(meta.get("input", {}).get("shape") or ())
    if expected and tuple(dataset.image_shape) != expected:
        raise DataError(f"--data: {dataset.source} has images of shape {dataset.image_shape}; the model takes "
                        f"{expected}")
    test_sha = array_sha256(dataset.x_test, dataset.y_test)[:16]
    pinned = ((meta.get("splits") or {}).get("test") or {}).get("sha256")
    same_test = pinned is None or pinned == test_sha
    if not same_test:
        log(f"note: the test split of {dataset.source} ({test_sha}) is not the one recorded when the model was "
            f"trained ({pinned}); rows the model trained on may be in it")
    model, _ = load_model(model_path, meta=meta)
    x, y = dataset.x_test, dataset.y_test
    assert y is not None
    variants = _variants(model, x, meta)
    trivial = trivial_predictions(spec.task, dataset.y_train, len(y), dataset.n_outputs)
    scorer = _score_classes if spec.task == "classification" else _score_points
    result: dict[str, Any] = {
        "model": str(model_path), "task": spec.task, "study": meta.get("study"), "trial": meta.get("trial"),
        "data": dataset.source, "test_rows": len(y), "test_split_sha256": test_sha,
        "test_split_matches_training_record": same_test,
        "validation": {"metric": spec.metric, "study_best": meta.get("study_value"),
                       "model": meta.get("validation_scores")},
        "trivial": {"predictor": predictor_name(spec.task), **scorer(y, trivial, dataset.labels, brief=True)},
        "model_label": model_label(meta),
        "variants": {name: scorer(y, pred, dataset.labels, brief=name != "model")
                     for name, pred in variants.items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    images = {}
    if spec.task == "classification":
        images["confusion.png"] = _confusion_png(y, variants["model"], dataset.labels, out_dir / "confusion.png")
    elif spec.task == "keypoints":
        images["faces.png"] = _faces_png(x, y, variants["model"], out_dir / "faces.png")
    write_atomic(out_dir / "evaluation.json", json.dumps(result, indent=1) + "\n")
    write_atomic(out_dir / "index.html", _html(result, images))
    head = "accuracy" if spec.task == "classification" else "rmse"
    named = {(result["model_label"] if k == "model" else k): v for k, v in result["variants"].items()}
    scores = ", ".join(f"{name} {v[head]:.4g}" for name, v in named.items())
    study_value = meta.get("study_value")
    val = f"{study_value:.4g}" if isinstance(study_value, (int, float)) else "unknown"
    log(f"test {head} ({len(y)} rows never seen by a trial): {scores}; trivial ({result['trivial']['predictor']}) "
        f"{result['trivial'][head]:.4g}; the study's best validation {spec.metric} {val}; "
        f"wrote {out_dir / 'index.html'}")
    return result


def _variants(model: Any, x: np.ndarray, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """The saved model's predictions, and its parts' (best member, plain ensemble) when it has them."""
    import keras

    members = list(meta.get("members") or [meta.get("trial")])
    ensemble = f"ensemble of {len(members)} trials" if len(members) > 1 else f"trial {members[0]}"
    tta = meta.get("tta") == "flip"
    found = {"model": model.predict(x, verbose=0)}  # the model as saved: what a user of the file gets
    inner = model
    if tta:
        inner = next(layer for layer in model.layers if isinstance(layer, keras.Model))
        found[ensemble] = inner.predict(x, verbose=0)
    nested = [layer for layer in inner.layers if isinstance(layer, keras.Model) and layer.name.startswith("trial_")]
    if len(nested) > 1:
        found[f"best single (trial {members[0]})"] = nested[0].predict(x, verbose=0)
    return found


def model_label(meta: dict[str, Any]) -> str:
    members = list(meta.get("members") or [meta.get("trial")])
    what = f"ensemble of {len(members)} trials" if len(members) > 1 else f"trial {members[0]}"
    return what + (" + flip TTA" if meta.get("tta") == "flip" else "")


def _score_classes(y: np.ndarray, probabilities: np.ndarray, labels: Any, brief: bool) -> dict[str, Any]:
    from sklearn import metrics

    predicted = probabilities.argmax(axis=1)
    index = list(range(probabilities.shape[1]))
    scores: dict[str, Any] = {
        "accuracy": float((predicted == y).mean()),
        "macro_f1": float(metrics.f1_score(y, predicted, labels=index, average="macro", zero_division=0)),
    }
    if not brief:
        p, r, f, n = metrics.precision_recall_fscore_support(y, predicted, labels=index, zero_division=0)
        scores["per_class"] = {str(labels[i]): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                                                "support": int(n[i])} for i in index}
        scores["confusion"] = metrics.confusion_matrix(y, predicted, labels=index).tolist()
    return scores


def _score_points(y: np.ndarray, predicted: np.ndarray, labels: Any, brief: bool) -> dict[str, Any]:
    mask = ~np.isnan(y)
    err = np.where(mask, predicted - np.where(mask, y, 0.0), 0.0) ** 2
    scores: dict[str, Any] = {"rmse": float(np.sqrt(err.sum() / max(mask.sum(), 1)))}
    if not brief:
        per = {}
        for j in range(0, y.shape[1] - 1, 2):  # x and y columns of one point
            n = mask[:, j : j + 2].sum()
            name = str(labels[j]).removesuffix("_x")
            per[name] = float(np.sqrt(err[:, j : j + 2].sum() / n)) if n else None
        scores["per_keypoint"] = per
    return scores


def _confusion_png(y: np.ndarray, probabilities: np.ndarray, labels: Any, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ConfusionMatrixDisplay.from_predictions(y, probabilities.argmax(axis=1), labels=list(range(len(labels))),
                                            display_labels=[str(v) for v in labels], ax=ax, colorbar=False,
                                            xticks_rotation=45)
    ax.set_title("test split: true (rows) vs predicted")
    fig.tight_layout()
    return _save(fig, path)


def _faces_png(x: np.ndarray, y: np.ndarray, predicted: np.ndarray, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(16, len(x))
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(x[i, :, :, 0], cmap="gray", vmin=0, vmax=255)
        ax.scatter(y[i, 0::2], y[i, 1::2], s=8, c="lime", label="true")
        ax.scatter(predicted[i, 0::2], predicted[i, 1::2], s=8, c="red", marker="x", label="predicted")
    axes.flat[0].legend(fontsize=6, loc="lower left")
    fig.suptitle("test faces: true (green) and predicted (red) keypoints", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=80)
    finally:
        plt.close(fig)
    return path


def _html(result: dict[str, Any], images: dict[str, Path]) -> str:
    esc = html.escape
    head = "accuracy" if result["task"] == "classification" else "rmse"
    rows = "".join(f"<tr><td>{esc(result['model_label'] if name == 'model' else name)}</td><td>{v[head]:.4g}</td></tr>"
                   for name, v in result["variants"].items())
    rows += f"<tr><td>trivial ({esc(result['trivial']['predictor'])})</td><td>{result['trivial'][head]:.4g}</td></tr>"
    val = result["validation"]
    pictures = "".join(
        f'<p><img alt="{esc(name)}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}"></p>'
        for name, p in images.items())
    detail = esc(json.dumps(result["variants"]["model"], indent=1))
    return (f"<!doctype html><meta charset='utf-8'><title>hpo evaluate: {esc(str(result['study']))}</title>"
            f"<h1>Test split of study {esc(str(result['study']))}</h1>"
            f"<p>{result['test_rows']} test rows from {esc(str(result['data']))}, never seen by a trial. "
            f"Validation {esc(val['metric'])} of the study's best trial: {esc(str(val['study_best']))}.</p>"
            f"<table border=1 cellpadding=4><tr><th>model</th><th>test {head}</th></tr>{rows}</table>"
            f"{pictures}<h2>Details</h2><pre>{detail}</pre>\n")
