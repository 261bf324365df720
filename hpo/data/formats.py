"""The built-in data formats, declared for the catalog (no loading happens here).

Adding a format: write its loader module (``load(data, path, *, cache_dir, base_dir,
task) -> Dataset``) and add one ``DataFormat`` line below.
"""

from __future__ import annotations

from hpo.catalog import Bool, Choice, DataFormat, Domain

_IMAGE_FOLDER = {
    "image_size": Domain("int_pair"),
    "color_mode": Choice("grayscale", "rgb"),
    "classes": Domain("str_list"),
    "balance": Choice("none", "undersample"),
    "skip_bad_images": Bool(False),
}

FORMATS = (
    DataFormat("kaggle_keypoints", ("keypoints",), "hpo.data.datasets:load_keypoints", needs_path=True,
               options={"missing_keypoints": Choice("mask", "drop")}, synth="keypoints --rows 2000"),
    DataFormat("digits", ("classification",), "hpo.data.datasets:load_digits"),
    DataFormat("lfw_subset", ("classification",), "hpo.data.datasets:load_lfw_subset"),
    DataFormat("fer2013", ("classification",), "hpo.data.datasets:load_fer2013", needs_path=True,
               synth="fer2013 --rows 2000"),
    DataFormat("image_folder", ("classification",), "hpo.data.image_folder:load", needs_path=True,
               options=_IMAGE_FOLDER, synth="image-folder"),
    DataFormat("npz", ("classification", "regression", "keypoints"), "hpo.data.npz:load", needs_path=True),
    # data: {loader: "data.py:load"}: the user's own function returns the arrays.
    DataFormat("loader", ("classification", "regression", "keypoints"), "hpo.data.user_loader:load",
               options={"loader": Domain("ref")}),
)
