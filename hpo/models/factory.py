"""A trial's params -> a compiled Keras model, whatever the model's source: a built-in
family from the catalog, the user's ``build(params, input_shape, n_outputs)``, or their
Keras Tuner ``build_model(hp)`` running on the Optuna trial.

Also the worker's pre-flight: before the study database is touched, the model is
built once and evaluated on a few validation rows, so a missing function, a builder
that raises, a model whose output does not fit the task or an objective metric the
model never logs is a one-line error (exit 2), not a study full of failed trials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from hpo import catalog
from hpo.errors import ConfigError, SpecDriftError
from hpo.models.layers import make_optimizer
from hpo.space import MODEL_PARAM, StudySpec, augment_of, full_params
from hpo.tasks import Task, get_task
from hpo.userref import call_user, check_ref, load_callable, parse_ref

if TYPE_CHECKING:
    import optuna

    from hpo.data.datasets import Dataset


def build_model(
    spec: StudySpec, params: Mapping[str, Any], input_shape: tuple[int, ...], n_outputs: int,
    trial: optuna.trial.BaseTrial | None = None,
) -> keras.Model:
    """The compiled model for ``params`` (a Keras Tuner builder asks ``trial`` itself)."""
    task = get_task(spec.task, augment_of(params))
    kind = spec.user_model
    if kind is None:
        family = catalog.model_families()[str(params.get(MODEL_PARAM) or spec.model["family"])]
        model = catalog.resolve_callable(family.build)(params, input_shape, n_outputs, task, base_dir=spec.base_dir)
    else:
        key = f"model.{kind}"
        ref = parse_ref(spec.model[kind], key, spec.base_dir)
        fn = load_callable(ref, key)
        if kind == "builder":
            model = call_user(fn, key, ref.text, dict(params), tuple(input_shape), n_outputs)
        else:
            from hpo.models.keras_tuner import build_with_hp

            # Fixed values: the study's own, or (training an exported trial, no trial) all of its values.
            fixed = {k: v for k, v in params.items() if k not in spec.defaults(None)}
            model, hp = build_with_hp(fn, trial, ref_text=ref.text, fixed=fixed)
            if trial is not None:
                hp.record(trial)
        _check_output(model, key, ref.text, spec, n_outputs)
    if not getattr(model, "compiled", False):
        if kind is not None:  # built-in families place the augmentation layers themselves
            model = _with_augmentation(model, task, input_shape)
        model = self_contained(model, task, input_shape)
        model.compile(optimizer=make_optimizer(params), loss=task.loss(input_shape[1]),
                      metrics=task.metrics(n_outputs, input_shape[1], tuple(spec.metric_names)))
    else:
        if kind is not None and any(augment_of(params).values()) and not task.flips_targets:
            raise ConfigError(f"data.augment: {spec.model[kind]} returns a compiled model, which hpo uses as it "
                              "is; return it uncompiled to have hpo add the augmentation, or remove data.augment")
        # The user's own compile (optimizer, loss, metrics), on the self-contained model.
        compile_config = model.get_compile_config()
        model = self_contained(model, task, input_shape)
        model.compile_from_config(compile_config)
    return model


def self_contained(core: keras.Model, task: Task, input_shape: tuple[int, ...]) -> keras.Model:
    """``core`` (which sees pixels / 255) between raw 0-255 pixels in and the task's decoded
    output (keypoints in pixels): what a saved model needs to be used without hpo."""
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="pixels_to_unit")(inputs)
    outputs = task.decode(core(x), input_shape[1])
    return keras.Model(inputs, outputs, name=f"{core.name}_pixels")


def core_of(model: keras.Model) -> keras.Model:
    """The family's or user's model inside ``self_contained``'s wrapper."""
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def _with_augmentation(model: keras.Model, task: Task, input_shape: tuple[int, ...]) -> keras.Model:
    """Wrap a user's model with the task's in-model augmentation (built-in families add their own)."""
    inputs = keras.Input(shape=input_shape)
    augmented = task.augment_layers(inputs)
    if augmented is inputs:
        return model
    return keras.Model(inputs, model(augmented), name=model.name)


def _check_output(model: Any, key: str, ref_text: str, spec: StudySpec, n_outputs: int) -> None:
    if not isinstance(model, keras.Model):
        raise ConfigError(f"{key}: {ref_text} returned {type(model).__name__}, not a keras.Model")
    shape = tuple(model.outputs[0].shape) if getattr(model, "outputs", None) else None
    binary_ok = spec.task == "classification" and n_outputs == 2 and getattr(model, "compiled", False)
    if shape is None or shape[-1] != n_outputs and not (binary_ok and shape[-1] == 1):
        need = f"{n_outputs} classes" if spec.task == "classification" else f"{n_outputs} values"
        raise ConfigError(f"{key}: {ref_text} returned a model with output shape {shape}; task {spec.task} with "
                          f"{need} needs (None, {n_outputs})")


def representative_params(spec: StudySpec, family: str | None = None) -> dict[str, Any]:
    """One legal configuration (the first baseline's values, else each range's low end and each
    first choice), for the pre-flight build."""
    import optuna

    from hpo.space import suggest

    chosen: dict[str, Any] = dict(spec.baselines[0]) if spec.baselines else {}
    for p in spec.searched:
        if p.name not in chosen:
            chosen[p.name] = p.choices[0] if p.type == "categorical" else (
                int(p.low or 0) if p.type == "int" else p.low)
    if family is not None:
        chosen[MODEL_PARAM] = family
    try:
        return suggest(optuna.trial.FixedTrial(chosen), spec)
    except ValueError:  # a baseline that leaves out a conditional value: fall back to defaults
        return full_params(spec, {k: v for k, v in chosen.items() if spec.param(k) is not None})


def preflight(spec: StudySpec, dataset: Dataset) -> None:
    """Build (and evaluate on a few validation rows) the model of every family the study can
    pick, before any trial; raise one-line ``ConfigError``s for what would fail every trial."""
    kind = spec.user_model
    if kind is not None:
        key = f"model.{kind}"
        current = check_ref(parse_ref(spec.model[kind], key, spec.base_dir), key)
        if current != spec.model.get("sha256"):
            raise SpecDriftError(
                f"{key}: {spec.model[kind]} changed since study {spec.name!r} pinned it (sha256 "
                f"{str(spec.model.get('sha256'))[:12]} -> {current[:12]}); restore it or create a new study")
    task = get_task(spec.task)
    width = dataset.image_shape[1]
    rows = slice(0, min(4, len(dataset.x_val)))
    for family in spec.families or (None,):
        params = representative_params(spec, family if MODEL_PARAM in (p.name for p in spec.params) else None)
        reset_keras()
        try:
            model = build_model(spec, params, dataset.image_shape, dataset.n_outputs)
            if kind is None:
                continue  # a built-in family logs its task's metrics: building it is the check
            logs = model.evaluate(dataset.x_val[rows], np.asarray(task.targets(dataset.y_val[rows], width)),
                                  verbose=0, return_dict=True)
        except ConfigError:
            raise
        except Exception as e:
            where = f"model {family}" if family else f"model.{kind}"
            text = " ".join(str(e).split())[:300]
            raise ConfigError(f"{where}: cannot build or run it on data of shape {dataset.image_shape} "
                              f"with {dataset.n_outputs} outputs: {type(e).__name__}: {text}") from e
        metric = spec.metric.removeprefix("val_")
        if metric not in logs:
            raise ConfigError(f"objective.metric: the model logs {', '.join(sorted(logs))} but not {metric}; "
                              f"compile it with that metric, or return it uncompiled so hpo adds the task's")
    reset_keras()


def reset_keras() -> None:
    """Free the previous model before the next is built, keeping the dtype policy (mixed
    precision): Keras's clear_session resets it to float32. Its one ``gc.collect()`` stays
    cheap in a long-running worker because the worker freezes what survives between trials
    (``hpo.worker.start_clean``)."""
    policy = keras.mixed_precision.global_policy()
    keras.backend.clear_session(free_memory=True)
    keras.mixed_precision.set_global_policy(policy)
