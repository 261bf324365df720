"""The catalog: one Keras-free registry that the validator checks and implementations join,
including families and formats that installed packages add through entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hpo import catalog

PLUGIN = '''\
from hpo.catalog import DataFormat, Int, ModelFamily

FAMILY = ModelFamily(name="linear_probe", params={"scale": Int(1, 4, 1)}, build="hpo_plugin_demo:build")
FORMAT = DataFormat("ones", ("classification",), "hpo_plugin_demo:load")


def build(params, input_shape, n_outputs, task, base_dir=None):
    import keras

    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, task.head(keras.layers.Flatten()(inputs), n_outputs))


def load(data, path, **_):
    import numpy as np
    from hpo.data.datasets import class_dataset

    x = np.random.default_rng(0).random((60, 4, 4)).astype("float32")
    return class_dataset(x, (x.mean(axis=(1, 2)) > 0.5).astype("int64"), ("low", "high"), data, "ones")
'''


def test_builtins_are_registered_without_keras() -> None:
    probe = ("import sys, json; from hpo import catalog; "
             "print(json.dumps([sorted(catalog.model_families()), sorted(catalog.data_formats()), "
             "'keras' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    families, formats, keras_loaded = json.loads(out)
    assert families == ["cnn", "mlp", "pretrained"]
    assert {"kaggle_keypoints", "fer2013", "digits", "lfw_subset", "image_folder", "npz", "loader"} == set(formats)
    assert keras_loaded is False
    assert set(catalog.TASKS) == {"classification", "keypoints", "regression"}
    assert catalog.formats_for("keypoints")[0] == "kaggle_keypoints"


def test_an_installed_package_adds_a_family_and_a_format(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "hpo_plugin_demo-1.0.dist-info").mkdir(parents=True)
    (site / "hpo_plugin_demo.py").write_text(PLUGIN)
    (site / "hpo_plugin_demo-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: hpo-plugin-demo\n"
                                                                    "Version: 1.0\n")
    (site / "hpo_plugin_demo-1.0.dist-info" / "entry_points.txt").write_text(
        "[hpo.models]\nlinear_probe = hpo_plugin_demo:FAMILY\n\n[hpo.datasets]\nones = hpo_plugin_demo:FORMAT\n")
    script = (
        "import json, optuna\n"
        "from hpo.space import spec_from_dict, suggest\n"
        "from hpo.data.datasets import load_dataset\n"
        "from hpo.training import fit\n"
        "spec = spec_from_dict({'name': 'p', 'task': 'classification', 'model': 'linear_probe',"
        " 'data': {'format': 'ones'}, 'objective': {'metric': 'val_accuracy'}, 'params': {'scale': 2}})\n"
        "data = load_dataset(spec.data, task=spec.task)\n"
        "r = fit(spec, suggest(optuna.trial.FixedTrial({}), spec), data, epochs=1)\n"
        "print(json.dumps({'params': r.model.count_params(), 'train': len(data.x_train)}))\n"
    )
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-1500:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["params"] == 16 * 2 + 2 and out["train"] == 43  # 60 rows: 6 test, then 25% of 54 validate
