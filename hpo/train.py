"""``hpo train``: an exported configuration (or the K best of them) -> one self-contained .keras
model, with its learning curves and metadata beside it.

By default the final model is refit on train + validation for the number of epochs the
trial needed to peak (the validation rows are worth training on once the search is
over); ``refit=False`` keeps validation out and reports the model's score on it. The
test split is never used here: ``hpo evaluate`` is its only reader.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError, DataError
from hpo.export import read_config
from hpo.files import atomic_path, write_atomic
from hpo.space import spec_from_dict

TTA_CHOICES = ("none", "flip")


def data_path_for(config: Mapping[str, Any], override: str | None, log: Callable[[str], None]) -> str | None:
    """``--data``, else the file the study's trials trained on (as exported), else the spec's default.
    Says so when the file is not the one the trials saw."""
    from hpo.data.fingerprint import file_sha256

    recorded = config.get("data_file") or {}
    path = override or (recorded.get("path") if recorded.get("path") and Path(recorded["path"]).exists() else None)
    checkable = bool(path and recorded.get("sha256") and Path(path).exists())
    same = not checkable or file_sha256(Path(str(path))) == recorded["sha256"]
    if not same:
        log(f"note: {path} is not the data the study's trials trained on (SHA-256 differs from "
            f"{recorded['sha256'][:12]}); scores will not be comparable")
    return path


class TrainProgress:
    """A Keras callback factory (kept lazy so this module imports no Keras): one line per epoch
    in logs; on a terminal, one line rewritten in place with the time left."""

    @staticmethod
    def make(total: int, metric: str, label: str, stream: Any = None) -> Any:
        import keras

        out = stream or sys.stderr
        live = hasattr(out, "isatty") and out.isatty()

        class _Progress(keras.callbacks.Callback):
            def on_train_begin(self, logs: Any = None) -> None:
                self.started = time.monotonic()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                logs = logs or {}
                done = epoch + 1
                elapsed = time.monotonic() - self.started
                left = elapsed / done * (total - done)
                shown = next((k for k in (metric, metric.removeprefix("val_")) if k in logs), "loss")
                text = (f"{label}epoch {done}/{total} {shown} {float(logs.get(shown, math.nan)):.4g} "
                        f"loss {float(logs.get('loss', math.nan)):.4g} {elapsed:.0f}s, ~{left:.0f}s left")
                if live:
                    out.write("\r\033[K" + text + ("\n" if done == total else ""))
                else:
                    out.write(text + "\n")
                out.flush()

        return _Progress()


def train_final(
    config_path: Path, out: Path, *, data_path: str | None = None, epochs: int | None = None,
    refit: bool = True, top: int = 1, tta: str = "none", log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train the exported configuration (``top`` > 1: the ``top`` best distinct trials, averaged)
    and save it to ``out`` with ``out``'s ``.history.csv``, ``.curve.png`` and metadata."""
    from hpo.data.cache import default_cache_dir
    from hpo.data.datasets import load_dataset

    config = read_config(config_path, epochs_replaced=epochs is not None)
    if out.suffix != ".keras":
        raise ConfigError(f"--out: {out} must end in .keras (Keras 3's model format)")
    if out.is_dir():
        raise ConfigError(f"--out: {out} is a directory; give a file name ending in .keras")
    if not config.get("spec"):
        raise ConfigError(f"{config_path}: has no spec; export it again with `hpo export`")
    if tta not in TTA_CHOICES:
        raise ConfigError(f"--tta: {tta!r} is not one of {', '.join(TTA_CHOICES)}")
    members = _members(config, config_path, top)
    if epochs is not None:
        members = [{**m, "epochs": epochs} for m in members]
    spec = spec_from_dict(config["spec"], source=str(config_path), pinned=True)
    if tta == "flip" and spec.task not in ("classification", "keypoints"):
        raise ConfigError(f"--tta flip: task {spec.task} has no known flip; leave --tta out")
    path = data_path_for(config, data_path, log)
    dataset = load_dataset(spec.data, path_override=path, cache_dir=default_cache_dir(),
                           base_dir=spec.base_dir, task=spec.task)
    from hpo.quiet import import_keras_quietly

    import_keras_quietly()
    from hpo.ensemble import average, with_flip_tta
    from hpo.modelfile import describe_model, save_model
    from hpo.training import fit

    fit_data = dataset
    if refit:  # the search is over: validation rows are training rows now
        import numpy as np

        fit_data = replace(dataset, x_train=np.concatenate([dataset.x_train, dataset.x_val]),
                           y_train=np.concatenate([dataset.y_train, dataset.y_val]))
    models, histories, scores = [], [], []
    for i, member in enumerate(members):
        label = f"trial {member['trial']}: " if len(members) > 1 else ""
        # The seed the trial trained with, so the final model repeats the run that was measured.
        seed = (int(spec.sampler.get("seed") or 0) + int(member.get("trial") or 0)) % 2**31
        progress = TrainProgress.make(int(member["epochs"]), spec.metric, label)
        result = fit(spec, member["params"], fit_data, epochs=int(member["epochs"]), seed=seed,
                     validate=not refit, callbacks=[progress], keep_session=i > 0)
        models.append(result.model)
        histories.append(result.history)
        val = result.history.get(spec.metric, [None])[-1]
        scores.append({"trial": member.get("trial"), "study_value": member.get("value"),
                       **({spec.metric: val} if val is not None else {})})
    model = models[0] if len(models) == 1 else average(models, [m.get("trial") for m in members])
    if tta == "flip":
        model = with_flip_tta(model, spec.task, dataset.image_shape)
    from hpo.data.fingerprint import file_sha256, split_record

    meta = describe_model(
        spec, dataset, study=config.get("study"), trial=config.get("trial"),
        members=[m.get("trial") for m in members], tta=tta, refit=refit,
        epochs=[int(m["epochs"]) for m in members], study_value=config.get("value"),
        validation_scores=scores if not refit else None, trivial_baseline=config.get("trivial_baseline"),
        data={"path": str(Path(path).resolve()) if path else None,
              "sha256": file_sha256(Path(path)) if path and Path(path).exists() else None,
              "source": dataset.source},
        splits=split_record(dataset), spec=config["spec"],
    )
    try:
        save_model(model, out, meta)
        write_atomic(history_path(out), _history_csv(histories, [m.get("trial") for m in members]))
        _curve_png(histories, [m.get("trial") for m in members], spec.metric, curve_path(out))
    except OSError as e:
        raise ConfigError(f"--out: cannot write {out}: {e.strerror}") from e
    what = f"{len(members)} trials averaged" if len(members) > 1 else f"trial {members[0].get('trial')}"
    how = "refit on train + validation" if refit else "validation kept out"
    if not refit:
        shown = ", ".join(f"{s[spec.metric]:.4g}" for s in scores if spec.metric in s)
        log(f"{spec.metric} on the validation split: {shown} (study: {config.get('value')})")
    log(f"saved {out} ({what}, {how}{', flip TTA' if tta == 'flip' else ''}); curves in "
        f"{history_path(out)} and {curve_path(out)}; score it with `hpo evaluate --model {out}`")
    return meta


def _members(config: Mapping[str, Any], config_path: Path, top: int) -> list[dict[str, Any]]:
    if top < 1:
        raise ConfigError(f"--top: must be >= 1, got {top}")
    if top == 1:
        return [{"trial": config.get("trial"), "value": config.get("value"), "params": config["params"],
                 "epochs": config["epochs"]}]
    ranked = list(config.get("ranked") or [])
    if len(ranked) < top:
        raise ConfigError(f"--top {top}: {config_path} lists {len(ranked)} distinct completed trials; "
                          f"run more trials and export again, or ask for --top {max(len(ranked), 1)}")
    return ranked[:top]


def history_path(out: Path) -> Path:
    return out.with_name(out.stem + ".history.csv")


def curve_path(out: Path) -> Path:
    return out.with_name(out.stem + ".curve.png")


def _history_csv(histories: list[dict[str, list[float]]], trials: list[Any]) -> str:
    keys = sorted({k for h in histories for k in h})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", "epoch", *keys])
    for trial, history in zip(trials, histories, strict=True):
        for epoch in range(max((len(v) for v in history.values()), default=0)):
            writer.writerow([trial, epoch + 1, *(history.get(k, [])[epoch] if epoch < len(history.get(k, []))
                                                 else "" for k in keys)])
    return buffer.getvalue()


def _curve_png(histories: list[dict[str, list[float]]], trials: list[Any], metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train_key = metric.removeprefix("val_")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for trial, history in zip(trials, histories, strict=True):
        for key, style in ((train_key, "-"), (metric, "--"), ("loss", ":")):
            if key in history and (key != "loss" or train_key not in history):
                ax.plot(range(1, len(history[key]) + 1), history[key], style, label=f"{key} trial {trial}"
                        if len(histories) > 1 else key)
    ax.set_xlabel("epoch")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.legend(fontsize=8)
    ax.set_title("learning curves")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=90)
    except OSError as e:
        raise DataError(f"--out: cannot write {path}: {e.strerror}") from e
    finally:
        plt.close(fig)
