"""Model families (cnn, mlp, pretrained), a searched family, and in-model augmentation:
each trains for an epoch on tiny real data; saved models reload with the same predictions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import optuna
import pytest

from hpo.catalog import model_families
from hpo.data.datasets import load_dataset
from hpo.errors import ConfigError
from hpo.models.factory import build_model, core_of
from hpo.space import spec_from_dict, suggest
from hpo.training import fit

REPO = Path(__file__).resolve().parent.parent


def _spec(params: dict[str, Any], model: Any = "cnn", **extra: Any) -> Any:
    raw: dict[str, Any] = {
        "name": "m", "task": "classification",
        "data": {"format": "digits", "validation_fraction": 0.25, "limit": 200, **extra.pop("data", {})},
        "objective": {"metric": "val_accuracy"}, "budget": {"trials": 5, "max_epochs": 1},
        "params": params, **extra,
    }
    if model is not None:
        raw["model"] = model
    return spec_from_dict(raw, base_dir=extra.get("base_dir", REPO / "search_spaces"))


@pytest.fixture(scope="module")
def digits() -> Any:
    return load_dataset({"format": "digits", "validation_fraction": 0.25, "limit": 200, "seed": 0})


def _layers(model: keras.Model, kind: type) -> list[Any]:
    found = []
    for layer in model.layers:
        found += _layers(layer, kind) if isinstance(layer, keras.Model) else []
        if isinstance(layer, kind):
            found.append(layer)
    return found


def test_cnn_vgg_blocks_pooling_and_global_pool(digits: Any) -> None:
    spec = _spec({"conv_blocks": 2, "convs_per_block": 2, "filters": 4, "pooling": "avg", "global_pool": True,
                  "batch_size": 32})
    params = suggest(optuna.trial.FixedTrial({}), spec)
    result = fit(spec, params, digits, epochs=1)
    convs = _layers(result.model, keras.layers.Conv2D)
    assert [c.filters for c in convs] == [4, 4, 8, 8]  # 2 blocks of 2 convs, filters doubling per block
    assert _layers(result.model, keras.layers.AveragePooling2D) and not _layers(result.model, keras.layers.Flatten)
    assert _layers(result.model, keras.layers.GlobalAveragePooling2D)
    assert "val_accuracy" in result.history and "val_f1" in result.history


@pytest.mark.parametrize("momentum", [None, 0.99])
def test_batch_norm_validates_on_statistics_that_have_caught_up(momentum: float | None) -> None:
    """A batch-norm CNN validates on its moving statistics. At Keras's default momentum (0.99)
    they are still mostly their initial values after 2 epochs of 1350 images (84 steps), so the
    model scores near chance at the epochs pruners compare; hpo's default (0.9) has caught up."""
    data = load_dataset({"format": "digits", "validation_fraction": 0.25, "seed": 0})
    fixed = {"conv_blocks": 2, "filters": 16, "batch_norm": True, "activation": "elu", "hidden_units": 32,
             "optimizer": "rmsprop", "learning_rate": 0.002, "batch_size": 32}
    if momentum is not None:
        fixed["batch_norm_momentum"] = momentum
    spec = _spec(fixed, data={"limit": len(data.x_train) + len(data.x_val)})
    result = fit(spec, suggest(optuna.trial.FixedTrial({}), spec), data, epochs=2)
    norms = _layers(result.model, keras.layers.BatchNormalization)
    assert len(norms) == 3 and {n.momentum for n in norms} == {momentum or 0.9}  # 2 conv blocks, 1 dense
    accuracy = result.history["val_accuracy"][-1]
    assert accuracy > 0.8 if momentum is None else accuracy < 0.5, accuracy


def test_mlp_depth_activations_and_lecun_tanh(digits: Any) -> None:
    spec = _spec({"dense_layers": 6, "hidden_units": 16, "activation": "lecun_tanh", "batch_norm": True},
                 model="mlp")
    params = suggest(optuna.trial.FixedTrial({}), spec)
    result = fit(spec, params, digits, epochs=1)
    dense = _layers(result.model, keras.layers.Dense)
    assert len(dense) == 7 and dense[-1].units == 10  # 6 hidden + the 10-class head
    assert not _layers(result.model, keras.layers.Conv2D)
    # LeCun's tanh, built from stock layers: 1.7159 * tanh(2x/3).
    x = keras.Input((3,))
    from hpo.models.layers import activation

    probe = keras.Model(x, activation("lecun_tanh", x))
    values = np.array([[-2.0, 0.5, 3.0]], dtype=np.float32)
    assert np.allclose(probe.predict(values, verbose=0), 1.7159 * np.tanh(2 * values / 3), atol=1e-5)


def test_pretrained_backbone_frozen_resized_and_reloadable(digits: Any, tmp_path: Path) -> None:
    spec = _spec({"backbone": "mobilenet_v3_small", "weights": "none", "trainable_layers": 0, "dense_layers": 1,
                  "hidden_units": 8, "batch_size": 64}, model="pretrained")
    params = suggest(optuna.trial.FixedTrial({}), spec)
    result = fit(spec, params, digits, epochs=1)
    model = result.model
    backbone = next(layer for layer in core_of(model).layers if isinstance(layer, keras.Model))
    assert not backbone.trainable and backbone.input_shape[1:] == (32, 32, 3)  # 8x8 grey -> 32x32 RGB
    # A frozen feature extractor: only the head trains.
    assert all(not w.trainable for w in backbone.weights)
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    batch = digits.x_val[:5]
    assert np.allclose(model.predict(batch, verbose=0), reloaded.predict(batch, verbose=0), atol=1e-5)


def test_pretrained_weights_from_a_local_file_relative_to_the_study(tmp_path: Path, digits: Any) -> None:
    source = keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=(32, 32, 3),
                                                 pooling="avg")
    source.save_weights(tmp_path / "mnv3.weights.h5")
    spec = spec_from_dict({
        "name": "w", "task": "classification", "model": "pretrained",
        "data": {"format": "digits", "limit": 200}, "objective": {"metric": "val_accuracy"},
        "params": {"backbone": "mobilenet_v3_small", "weights": "mnv3.weights.h5", "trainable_layers": 3},
    }, base_dir=tmp_path)
    params = suggest(optuna.trial.FixedTrial({}), spec)
    model = build_model(spec, params, digits.image_shape, digits.n_outputs)
    backbone = next(layer for layer in core_of(model).layers if isinstance(layer, keras.Model))
    for mine, theirs in zip(backbone.weights, source.weights, strict=True):
        assert np.array_equal(mine.numpy(), theirs.numpy())
    assert sum(layer.trainable for layer in backbone.layers) <= 3  # only the last 3 layers train
    missing = spec_from_dict({**spec.to_dict(), "params": {**spec.to_dict()["params"], "weights": "nope.h5"}},
                             base_dir=tmp_path)
    with pytest.raises(ConfigError, match="params.weights: .*nope.h5: no such weights file"):
        build_model(missing, {**params, "weights": "nope.h5"}, digits.image_shape, digits.n_outputs)


def test_searched_family_gates_each_familys_params() -> None:
    spec = spec_from_dict({
        "name": "s", "task": "classification", "data": {"format": "digits"},
        "objective": {"metric": "val_accuracy"},
        "params": {
            "model": {"type": "categorical", "choices": ["cnn", "mlp", "pretrained"]},
            "conv_blocks": {"type": "int", "low": 1, "high": 3, "when": {"model": "cnn"}},
            "backbone": {"type": "categorical", "choices": ["vgg16", "mobilenet_v3_small"],
                         "when": {"model": "pretrained"}},
            "weights": "none",
            "dense_layers": {"type": "int", "low": 1, "high": 3},
        },
    })
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        values = suggest(trial, spec)
        family = values["model"]
        seen.add(family)
        assert ("conv_blocks" in trial.params) == (family == "cnn")
        assert ("backbone" in trial.params) == (family == "pretrained")
        # The chosen family's own defaults fill in the rest, nothing of the others'.
        assert set(model_families()[family].params) <= set(values)
        if family == "mlp":
            assert "conv_blocks" not in values and "backbone" not in values
        study.tell(trial, 0.0)
    assert seen == {"cnn", "mlp", "pretrained"}


def test_family_params_must_be_gated_when_the_family_is_searched() -> None:
    from hpo.errors import SpecError

    with pytest.raises(SpecError, match=r"params.backbone: model family cnn has no parameter backbone; "
                                        r"gate it with when: \{model: \[pretrained\]\}"):
        spec_from_dict({"name": "s", "task": "classification", "data": {"format": "digits"},
                        "objective": {"metric": "val_accuracy"},
                        "params": {"model": {"type": "categorical", "choices": ["cnn", "pretrained"]},
                                   "backbone": {"type": "categorical", "choices": ["vgg16", "resnet50"]}}})
    with pytest.raises(SpecError, match=r"params.dense_layers: 100 is out of range: must be in \[0, 16\] "
                                        r"\(model cnn\)"):
        spec_from_dict({"name": "s", "task": "classification", "data": {"format": "digits"},
                        "objective": {"metric": "val_accuracy"},
                        "params": {"model": {"type": "categorical", "choices": ["cnn", "mlp"]},
                                   "dense_layers": {"type": "int", "low": 1, "high": 100}}})


def test_searched_augmentation_is_a_param_and_lives_in_the_model(digits: Any) -> None:
    spec = _spec({"conv_blocks": 1, "filters": 4},
                 data={"augment": {"horizontal_flip": True, "rotation": {"type": "float", "low": 0.0, "high": 0.2},
                                   "zoom": 0.1}})
    assert spec.param("augment.rotation").type == "float"  # type: ignore[union-attr]
    assert spec.to_dict()["data"]["augment"] == {"horizontal_flip": True, "zoom": 0.1,
                                                 "rotation": {"type": "float", "low": 0.0, "high": 0.2}}
    assert spec_from_dict(spec.to_dict()).sha256 == spec.sha256
    study = optuna.create_study()
    trial = study.ask()
    params = suggest(trial, spec)
    assert 0.0 <= trial.params["augment.rotation"] <= 0.2
    model = build_model(spec, params, digits.image_shape, digits.n_outputs)
    kinds = {type(layer).__name__ for layer in core_of(model).layers}
    assert {"RandomFlip", "RandomRotation", "RandomZoom"} <= kinds
    # Active in training only: inference is deterministic.
    batch = digits.x_val[:4]
    assert np.allclose(model.predict(batch, verbose=0), model.predict(batch, verbose=0))


def test_keypoints_refuse_augmentations_they_cannot_map() -> None:
    from hpo.errors import SpecError

    with pytest.raises(SpecError, match=r"data.augment.rotation: task keypoints cannot map this transform onto "
                                        r"its targets; allowed: horizontal_flip"):
        spec_from_dict({"name": "k", "task": "keypoints", "data": {"path": "t.csv", "augment": {"rotation": 0.1}},
                        "objective": {"metric": "val_rmse"}, "params": {"filters": 4}})


def test_a_family_trains_under_jax(tmp_path: Path) -> None:
    """The same code under KERAS_BACKEND=jax (how the lent GPU machines run it)."""
    script = (
        "import json, keras, optuna\n"
        "from hpo.data.datasets import load_dataset\n"
        "from hpo.space import spec_from_dict, suggest\n"
        "from hpo.training import fit\n"
        "spec = spec_from_dict({'name': 'j', 'task': 'classification', 'model': 'mlp',"
        " 'data': {'format': 'digits', 'limit': 200}, 'objective': {'metric': 'val_f1'},"
        " 'params': {'dense_layers': 3, 'activation': 'lecun_tanh', 'hidden_units': 16},"
        " 'data': {'format': 'digits', 'limit': 200, 'augment': {'horizontal_flip': True}}})\n"
        "data = load_dataset(spec.data)\n"
        "r = fit(spec, suggest(optuna.trial.FixedTrial({}), spec), data, epochs=2)\n"
        "print(json.dumps({'backend': keras.backend.backend(), 'f1': r.history['val_f1']}))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["backend"] == "jax" and len(out["f1"]) == 2 and all(0.0 <= v <= 1.0 for v in out["f1"])
