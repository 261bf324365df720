"""The image_folder, npz and user-loader data formats, and the synthetic image-folder writer."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from hpo.data import image_folder, npz, user_loader
from hpo.data.datasets import Dataset
from hpo.data.keypoints import KEYPOINT_COLUMNS
from hpo.data.synth import IMAGE_FOLDER_MARKER, write_image_folder
from hpo.errors import ConfigError, DataError


def _one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(e.value)
    assert "\n" not in text and text
    return text


def _save(
    path: Path, value: int | tuple[int, int, int] | np.ndarray, size: tuple[int, int] = (8, 8), mode: str = "L"
) -> None:
    """A constant image of ``value`` (or the given array); the format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(value, np.ndarray):
        Image.fromarray(value).save(path)
    else:
        shape = size if mode == "L" else (*size, 3)
        Image.fromarray(np.full(shape, value, dtype=np.uint8), mode=mode).save(path)


SUFFIXES = (".png", ".jpg", ".PNG", ".jpeg", ".bmp", ".JPG")


def _class_folder(folder: Path, values: list[int]) -> None:
    for i, v in enumerate(values):
        _save(folder / f"img{i:03d}{SUFFIXES[i % len(SUFFIXES)]}", v)


def _load_folder(root: Path, cache_dir: Path | None = None, **data: Any) -> Dataset:
    return image_folder.load({"format": "image_folder", **data}, root, cache_dir=cache_dir, base_dir=root.parent,
                             task="classification")


def _values(ds: Dataset, split: str) -> np.ndarray:
    """The constant grey level of each image of a split, back in 0-255."""
    x = {"train": ds.x_train, "val": ds.x_val, "test": ds.x_test}[split]
    assert x is not None
    return np.rint(x.reshape(len(x), -1).mean(axis=1)).astype(int)


# ---------------------------------------------------------------- image_folder: layouts


def test_flat_folder_png_and_jpeg_split_three_ways_without_overlap(tmp_path: Path) -> None:
    root = tmp_path / "masks"
    # Class = range of grey levels, so each image's class can be told from its pixels.
    levels = {"a": list(range(10, 62, 4)), "b": list(range(90, 142, 4)), "c": list(range(170, 222, 4))}
    for name, values in levels.items():
        _class_folder(root / name, values)
    (root / "a" / "notes.txt").write_text("not an image")
    _save(root / "a" / ".hidden.png", 255)
    (root / "README.md").write_text("ignored")
    ds = _load_folder(root, seed=3, validation_fraction=0.2, test_fraction=0.1)
    assert ds.labels == ("a", "b", "c") and ds.n_outputs == 3
    assert ds.x_test is not None and ds.y_test is not None
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 39  # the txt, the hidden file: ignored
    assert len(ds.x_test) == 4 and len(ds.x_val) == 7
    assert ds.x_train.dtype == np.float32 and ds.x_train.shape[1:] == (8, 8, 1)
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 255.0
    seen = []
    for split, y in (("train", ds.y_train), ("val", ds.y_val), ("test", ds.y_test)):
        assert y.dtype == np.int64
        for value, label in zip(_values(ds, split), y, strict=True):
            assert (value - 10) // 80 == label  # the image is of its folder's class (JPEG within 2 levels)
            seen.append(value)
    everything = sorted(v for values in levels.values() for v in values)
    assert np.abs(np.sort(seen) - everything).max() <= 2  # each image in exactly one split
    assert set(ds.y_test.tolist()) == {0, 1, 2}  # stratified
    assert "test = seeded stratified 10%" in ds.split_note and str(root) in ds.split_note


def test_train_test_layout_uses_test_folder_as_test_split(tmp_path: Path) -> None:
    root = tmp_path / "fer"
    _class_folder(root / "train" / "happy", [200] * 20)
    _class_folder(root / "train" / "sad", [40] * 20)
    _class_folder(root / "test" / "happy", [210] * 5)
    _class_folder(root / "test" / "sad", [50] * 5)
    ds = _load_folder(root, validation_fraction=0.25)
    assert ds.labels == ("happy", "sad")
    assert ds.x_test is not None and ds.y_test is not None
    assert len(ds.x_test) == 10 and len(ds.x_val) == 10 and len(ds.x_train) == 30
    assert np.abs(_values(ds, "test") - np.where(ds.y_test == 0, 210, 50)).max() <= 2
    assert np.abs(_values(ds, "train") - np.where(ds.y_train == 0, 200, 40)).max() <= 2
    assert np.bincount(ds.y_val).tolist() == [5, 5]
    assert ds.split_note.startswith(f"test = {root / 'test'} (10 images)")
    assert "validation = seeded stratified 25%" in ds.split_note


def test_validation_folder_is_used_and_split_names_any_case(tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    for split, n in (("Train", 12), ("Validation", 4), ("Test", 3)):
        _class_folder(root / split / "WithMask", [220] * n)
        _class_folder(root / split / "WithoutMask", [30] * n)
    ds = _load_folder(root)
    assert (len(ds.x_train), len(ds.x_val)) == (24, 8)
    assert ds.x_test is not None and len(ds.x_test) == 6
    assert ds.labels == ("WithMask", "WithoutMask")
    assert f"validation = {root / 'Validation'} (8 images)" in ds.split_note


def test_classes_selects_and_orders(tmp_path: Path) -> None:
    root = tmp_path / "fer"
    for split, n in (("train", 10), ("test", 4)):
        _class_folder(root / split / "angry", [20] * n)
        _class_folder(root / split / "happy", [120] * n)
        _class_folder(root / split / "sad", [220] * n)
    ds = _load_folder(root, classes=["sad", "happy"])
    assert ds.labels == ("sad", "happy") and ds.n_outputs == 2
    assert ds.x_test is not None and len(ds.x_test) == 8
    for split, y in (("train", ds.y_train), ("test", ds.y_test)):
        assert np.abs(_values(ds, split) - np.where(y == 0, 220, 120)).max() <= 2  # no angry images


def test_classes_naming_a_missing_folder(tmp_path: Path) -> None:
    root = tmp_path / "fer"
    _class_folder(root / "train" / "happy", [1] * 4)
    _class_folder(root / "train" / "sad", [1] * 4)
    _class_folder(root / "test" / "happy", [1] * 2)
    _class_folder(root / "test" / "sad", [1] * 2)
    with pytest.raises(DataError) as e:
        _load_folder(root, classes=["happy", "neutral"])
    msg = _one_line(e)
    assert str(root / "train" / "neutral") in msg and "happy, sad" in msg


def test_undersample_balances_pool_and_test_separately(tmp_path: Path) -> None:
    root = tmp_path / "fer"
    _class_folder(root / "train" / "happy", list(range(0, 100, 5)))  # 20
    _class_folder(root / "train" / "sad", list(range(150, 190, 5)))  # 8
    _class_folder(root / "test" / "happy", [100] * 6)
    _class_folder(root / "test" / "sad", [250] * 3)
    unbalanced = _load_folder(root)
    assert len(unbalanced.x_train) + len(unbalanced.x_val) == 28
    ds = _load_folder(root, balance="undersample", seed=1)
    pool = np.concatenate([ds.y_train, ds.y_val])
    assert np.bincount(pool).tolist() == [8, 8]
    assert ds.y_test is not None and np.bincount(ds.y_test).tolist() == [3, 3]
    again = _load_folder(root, balance="undersample", seed=1)
    np.testing.assert_array_equal(again.x_train, ds.x_train)  # seeded
    other = _load_folder(root, balance="undersample", seed=2)
    assert not np.array_equal(np.sort(_values(other, "train")), np.sort(_values(ds, "train")))
    assert "undersampling" in ds.split_note


def test_undersample_flat_layout(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    _class_folder(root / "a", [10] * 30)
    _class_folder(root / "b", [200] * 10)
    ds = _load_folder(root, balance="undersample", test_fraction=0.2)
    assert ds.y_test is not None
    everything = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    assert np.bincount(everything).tolist() == [10, 10]
    assert np.bincount(ds.y_test).tolist() == [2, 2]


def test_grayscale_and_rgb(tmp_path: Path) -> None:
    root = tmp_path / "colour"
    for i in range(6):
        _save(root / "red" / f"{i}.png", (200, 10, 10), mode="RGB")
        _save(root / "blue" / f"{i}.jpg", (10, 10, 200), mode="RGB")
    grey = _load_folder(root, test_fraction=0.0, validation_fraction=0.5)
    rgb = _load_folder(root, test_fraction=0.0, validation_fraction=0.5, color_mode="rgb")
    assert grey.x_train.shape == (6, 8, 8, 1) and rgb.x_train.shape == (6, 8, 8, 3)
    assert grey.x_test is None and "no test split" in grey.split_note
    reds = rgb.x_train[rgb.y_train == rgb.labels.index("red")]
    assert reds[..., 0].mean() > 180 and reds[..., 2].mean() < 25  # 0-255 pixels: the model scales them


def test_image_size_resizes_and_mixed_sizes_need_it(tmp_path: Path) -> None:
    root = tmp_path / "sizes"
    for i in range(4):
        _save(root / "a" / f"{i}.png", 30, size=(20, 30))
        _save(root / "b" / f"{i}.png", 220, size=(20, 30))
    _save(root / "b" / "odd.png", 220, size=(24, 24))
    with pytest.raises(DataError) as e:
        _load_folder(root)
    msg = _one_line(e)
    assert str(root / "b" / "odd.png") in msg and "24x24" in msg and "20x30" in msg and "image_size" in msg
    ds = _load_folder(root, image_size=[16, 12], test_fraction=0.0, validation_fraction=0.3)
    assert ds.x_train.shape[1:] == (16, 12, 1)
    assert np.abs(_values(ds, "val") - np.where(ds.y_val == 0, 30, 220)).max() <= 1


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_image_named_or_skipped_and_counted(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "faces"
    _class_folder(root / "a", [10] * 6)
    _class_folder(root / "b", [240] * 6)
    bad = root / "b" / "broken.png"
    if damage == "garbage":
        bad.write_bytes(b"this is not a png")
    else:
        _save(bad, np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8))
        bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(DataError) as e:
        _load_folder(root)
    msg = _one_line(e)
    assert str(bad) in msg and "skip_bad_images: true" in msg
    ds = _load_folder(root, skip_bad_images=True, test_fraction=0.0, validation_fraction=0.25)
    assert ds.x_test is None
    assert len(ds.x_train) + len(ds.x_val) == 12
    assert "skipped 1 unreadable image(s), e.g. b/broken.png" in ds.split_note


def test_class_whose_images_are_all_bad(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    _class_folder(root / "a", [10] * 6)
    (root / "b").mkdir()
    (root / "b" / "x.png").write_bytes(b"junk")
    with pytest.raises(DataError) as e:
        _load_folder(root, skip_bad_images=True)
    assert str(root / "b") in _one_line(e) and "none of its images" in str(e.value)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("missing", "image folder not found"),
        ("file", "not a directory"),
        ("no_classes", "no class folders"),
        ("empty_class", "no images"),
        ("one_class", "only one class (a)"),
        ("extra_test_class", "class 'c' is not in"),
    ],
)
def test_folder_errors_are_one_line_naming_the_folder(tmp_path: Path, make: str, expected: str) -> None:
    root = tmp_path / "root"
    named = root
    if make == "file":
        root.write_text("x")
    elif make == "no_classes":
        root.mkdir()
        _save(root / "loose.png", 3)
    elif make == "empty_class":
        _class_folder(root / "a", [1] * 3)
        (root / "b").mkdir()
        (root / "b" / "readme.txt").write_text("no images here")
        named = root / "b"
    elif make == "one_class":
        _class_folder(root / "a", [1] * 3)
    elif make == "extra_test_class":
        _class_folder(root / "train" / "a", [1] * 3)
        _class_folder(root / "train" / "b", [1] * 3)
        _class_folder(root / "test" / "c", [1] * 3)
        named = root / "test" / "c"
    with pytest.raises(DataError) as e:
        _load_folder(root)
    msg = _one_line(e)
    assert msg.startswith(f"{named}:") and expected in msg


def test_image_folder_refuses_other_tasks_and_bad_options(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _class_folder(root / "a", [1] * 3)
    _class_folder(root / "b", [1] * 3)
    with pytest.raises(DataError, match="task: classification"):
        image_folder.load({}, root, cache_dir=None, base_dir=tmp_path, task="keypoints")
    with pytest.raises(DataError, match="data.color_mode"):
        _load_folder(root, color_mode="cmyk")
    with pytest.raises(DataError, match="data.path"):
        image_folder.load({}, None, cache_dir=None, base_dir=tmp_path, task="classification")


def test_limit_caps_images_per_class(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _class_folder(root / "a", list(range(0, 80, 4)))
    _class_folder(root / "b", list(range(120, 200, 4)))
    ds = _load_folder(root, limit=5, test_fraction=0.2)
    assert ds.y_test is not None
    everything = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    assert np.bincount(everything).tolist() == [5, 5]


def test_cache_hit_and_invalidation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    _class_folder(root / "a", [40] * 8)
    _class_folder(root / "b", [160] * 8)
    cache = tmp_path / "cache"
    calls: list[int] = []
    real = image_folder.decode

    def counting(*args: Any, **kwargs: Any) -> dict[str, np.ndarray]:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(image_folder, "decode", counting)
    first = _load_folder(root, cache_dir=cache)
    second = _load_folder(root, cache_dir=cache)
    assert len(calls) == 1  # the second load read the cache
    np.testing.assert_array_equal(second.x_train, first.x_train)
    np.testing.assert_array_equal(second.y_val, first.y_val)
    assert [p.suffix for p in cache.iterdir()] == [".npz"]
    _load_folder(root, cache_dir=cache, color_mode="rgb")  # another decoding: another entry
    assert len(calls) == 2
    touched = root / "a" / "img000.png"
    _save(touched, 90)  # rewritten with other pixels, same size...
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # ...and surely another mtime
    third = _load_folder(root, cache_dir=cache)
    assert len(calls) == 3
    all_values = np.concatenate([_values(third, s) for s in ("train", "val", "test")])
    assert 90 in all_values.tolist()
    _save(root / "b" / "new.png", 160)  # a new file changes the listing
    _load_folder(root, cache_dir=cache)
    assert len(calls) == 4
    _load_folder(root, cache_dir=None)  # no cache dir: always decoded
    assert len(calls) == 5


# ---------------------------------------------------------------- npz


def _load_npz(path: Path, task: str = "classification", **data: Any) -> Dataset:
    return npz.load({"format": "npz", **data}, path, cache_dir=None, base_dir=path.parent, task=task)


def _digits(n: int = 100, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    x = rng.integers(0, 256, size=(n, 6, 5), dtype=np.uint8)
    return x, y


def test_npz_without_splits_makes_them_seeded(tmp_path: Path) -> None:
    x, y = _digits()
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y)
    ds = _load_npz(path, seed=4)
    assert ds.x_test is not None and ds.y_test is not None
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (72, 18, 10)
    assert ds.x_train.shape[1:] == (6, 5, 1) and ds.x_train.dtype == np.float32
    assert ds.labels == ("0", "1", "2", "3") and ds.n_outputs == 4
    # uint8 pixels kept on the 0-255 scale (the model scales them); rows are the file's rows
    rows = {x[i].tobytes(): int(y[i]) for i in range(len(x))}
    back = np.rint(ds.x_val[..., 0]).astype(np.uint8)
    assert [rows[b.tobytes()] for b in back] == ds.y_val.tolist()
    assert np.bincount(ds.y_test).min() >= 2  # stratified
    assert ds.split_note == ("test = seeded stratified 10% of x (10 images); "
                             "validation = seeded stratified 20% of the rest (18 images)")
    np.testing.assert_array_equal(_load_npz(path, seed=4).x_val, ds.x_val)
    assert not np.array_equal(_load_npz(path, seed=5).x_val, ds.x_val)


def test_npz_with_its_own_splits_and_class_names(tmp_path: Path) -> None:
    x, y = _digits(60, 3)
    xv, yv = _digits(12, 3, seed=1)
    xt, yt = _digits(9, 3, seed=2)
    path = tmp_path / "d.npz"
    np.savez(path, x=x.astype(np.float64) / 255, y=y, x_val=xv, y_val=yv, x_test=xt, y_test=yt,
             class_names=np.array(["cat", "dog", "fox"]))
    ds = _load_npz(path)
    assert ds.labels == ("cat", "dog", "fox")
    assert len(ds.x_train) == 60 and len(ds.x_val) == 12
    assert ds.x_test is not None and len(ds.x_test) == 9
    np.testing.assert_allclose(ds.x_train[..., 0], x, atol=1e-4)  # floats in [0, 1] back on the 0-255 scale
    np.testing.assert_allclose(ds.x_test[..., 0], xt, atol=1e-4)
    np.testing.assert_array_equal(ds.y_val, yv)
    assert ds.split_note == "test = x_test (9 images); validation = x_val (12 images)"


def test_npz_text_and_one_hot_labels(tmp_path: Path) -> None:
    x, y = _digits(40, 2)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=np.array(["sad", "happy"])[y])
    ds = _load_npz(path, test_fraction=0)
    assert ds.labels == ("happy", "sad") and ds.x_test is None
    np.savez(path, x=x, y=np.eye(2)[y])
    assert _load_npz(path).n_outputs == 2


def test_npz_regression_and_keypoints_targets(tmp_path: Path) -> None:
    x, _ = _digits(50)
    path = tmp_path / "r.npz"
    np.savez(path, x=x[..., None].repeat(3, axis=3), y=np.linspace(0, 1, 50))
    ds = _load_npz(path, task="regression")
    assert ds.x_train.shape[1:] == (6, 5, 3)
    assert ds.n_outputs == 1 and ds.y_train.shape == (len(ds.x_train), 1) and ds.y_train.dtype == np.float32
    kp = np.random.default_rng(0).uniform(0, 5, size=(50, 30))
    kp[::2, 4:] = np.nan  # missing keypoints stay NaN: the task masks them
    np.savez(path, x=x, y=kp)
    ds = _load_npz(path, task="keypoints")
    assert ds.n_outputs == 30 and ds.labels == tuple(KEYPOINT_COLUMNS)
    assert np.isnan(ds.y_train).any()
    np.savez(path, x=x, y=np.full(50, np.nan))
    with pytest.raises(DataError, match="NaN targets"):
        _load_npz(path, task="regression")


_N = 20


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"y": np.zeros(_N)}, "no array 'x' (it holds: y)"),
        ({"x": np.zeros((_N, 4, 4))}, "no array 'y'"),
        ({"x": np.zeros((_N, 4, 4)), "y": np.arange(_N - 1) % 2}, "y of length 19 for x of length 20"),
        ({"x": np.zeros((_N, 16)), "y": np.arange(_N) % 2}, "x with shape (20, 16); expected images"),
        ({"x": np.zeros((_N, 4, 4, 2)), "y": np.arange(_N) % 2}, "x with shape (20, 4, 4, 2)"),
        ({"x": np.zeros((_N, 4, 4)), "y": np.where(np.arange(_N) == 3, np.nan, 1.0)}, "y with NaN labels (at index 3)"),
        ({"x": np.zeros((_N, 4, 4)), "y": np.arange(_N) / 2}, "y with non-integer labels (0.5 at index 1)"),
        ({"x": np.zeros((_N, 4, 4)), "y": np.ones(_N, dtype=int)}, "labels of only one class"),
        ({"x": np.zeros((_N, 4, 4)), "y": np.arange(_N) % 2, "x_val": np.zeros((4, 4, 4))}, "x_val without y_val"),
        ({"x": np.zeros((_N, 4, 4)), "y": np.arange(_N) % 2, "x_test": np.zeros((4, 5, 5)),
          "y_test": np.arange(4) % 2}, "x_test images shaped (5, 5, 1) but x images shaped (4, 4, 1)"),
        ({"x": np.full((_N, 4, 4), 300, dtype=np.int32), "y": np.arange(_N) % 2}, "values 300..300"),
    ],
)
def test_npz_errors_name_the_file_and_the_array(tmp_path: Path, arrays: dict[str, np.ndarray], expected: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(DataError) as e:
        _load_npz(path)
    msg = _one_line(e)
    assert msg.startswith(f"{path}: ") and expected in msg


def test_npz_object_array_missing_file_and_not_npz(tmp_path: Path) -> None:
    path = tmp_path / "obj.npz"
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros((3, 3)), np.zeros((4, 4))
    np.savez(path, x=ragged, y=np.array([0, 1]))
    with pytest.raises(DataError) as e:
        _load_npz(path)
    assert "array 'x' holds Python objects" in _one_line(e)
    with pytest.raises(DataError) as e:
        _load_npz(tmp_path / "absent.npz")
    assert "no such file" in _one_line(e)
    (tmp_path / "text.npz").write_text("x,y\n1,2\n")
    with pytest.raises(DataError) as e:
        _load_npz(tmp_path / "text.npz")
    assert _one_line(e).startswith(f"{tmp_path / 'text.npz'}: ")
    np.save(tmp_path / "single.npy", np.zeros((3, 4, 4)))
    with pytest.raises(DataError) as e:
        _load_npz(tmp_path / "single.npy")
    assert "single .npy array" in _one_line(e)


# ---------------------------------------------------------------- user loader


def _loader_file(tmp_path: Path, body: str, name: str = "data.py") -> Path:
    (tmp_path / name).write_text("import numpy as np\n\n" + textwrap.dedent(body))
    return tmp_path


def _load_user(base: Path, ref: str = "data.py:load", task: str = "classification",
               **data: Any) -> Dataset:
    spec: Mapping[str, Any] = {"loader": ref, **data}
    return user_loader.load(spec, None, cache_dir=None, base_dir=base, task=task)


def test_user_loader_tuple(tmp_path: Path) -> None:
    base = _loader_file(tmp_path, """
        def load():
            rng = np.random.default_rng(0)
            return rng.integers(0, 256, (100, 8, 8), dtype=np.uint8), np.arange(100) % 2
    """)
    ds = _load_user(base, seed=1)
    assert (len(ds.x_train), len(ds.x_val)) == (72, 18)
    assert ds.x_test is not None and len(ds.x_test) == 10
    assert ds.x_train.max() <= 255.0 and ds.x_train.shape[1:] == (8, 8, 1)
    assert ds.source == "data.py:load" and "validation = seeded stratified 20%" in ds.split_note


def test_user_loader_split_dict_flat_dict_and_keras_pairs(tmp_path: Path) -> None:
    base = _loader_file(tmp_path, """
        def arrays(n, seed):
            rng = np.random.default_rng(seed)
            return rng.random((n, 6, 6, 3)).astype("float32"), np.arange(n) % 3

        def splits():
            return {"train": arrays(60, 0), "validation": arrays(15, 1), "test": arrays(9, 2)}

        def flat():
            x, y = arrays(60, 0)
            xt, yt = arrays(9, 2)
            return {"x": x, "y": y, "x_test": xt, "y_test": yt, "class_names": ["a", "b", "c"]}

        def keras_style():
            return arrays(60, 0), arrays(9, 2)
    """)
    ds = _load_user(base, "data.py:splits")
    assert (len(ds.x_train), len(ds.x_val)) == (60, 15) and ds.x_test is not None and len(ds.x_test) == 9
    assert ds.split_note == "test = test x (9 images); validation = validation x (15 images)"
    ds = _load_user(base, "data.py:flat")
    assert ds.labels == ("a", "b", "c") and ds.x_test is not None and len(ds.x_test) == 9
    assert len(ds.x_train) + len(ds.x_val) == 60
    ds = _load_user(base, "data.py:keras_style")
    assert ds.x_test is not None and len(ds.x_test) == 9 and ds.image_shape == (6, 6, 3)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("missing.py:load", "no such file"),
        ("data.py:nothere", "'nothere' is not a function"),
        ("data.py:boom", "data.py:boom raised RuntimeError: disk on fire"),
        ("data.py:number", "returned a int; expected (x, y)"),
        ("data.py:none", "returned None; expected (x, y)"),
        ("data.py:triple", "returned a tuple of 3 items"),
        ("data.py:short", "data.loader: data.py:short returned y of length 90 for x of length 100"),
        ("data.py:bad_dict", "a dict with unknown key 'images'"),
        ("data.py:bad_split", "'validation': a int; expected a pair (x, y)"),
        ("data.py:ragged", "returned x of Python objects"),
    ],
)
def test_user_loader_errors_are_one_line(tmp_path: Path, ref: str, expected: str) -> None:
    base = _loader_file(tmp_path, """
        X, Y = np.zeros((100, 4, 4)), np.arange(100) % 2

        def boom():
            raise RuntimeError("disk on fire\\nsecond line")

        def number():
            return 5

        def none():
            return None

        def triple():
            return X, Y, X

        def short():
            return X, Y[:90]

        def bad_dict():
            return {"images": X, "y": Y}

        def bad_split():
            return {"train": (X, Y), "validation": 3}

        def ragged():
            x = np.empty(2, dtype=object)
            x[0], x[1] = np.zeros((2, 2)), np.zeros((3, 3))
            return x, np.array([0, 1])
    """)
    with pytest.raises(ConfigError) as e:
        _load_user(base, ref)
    msg = _one_line(e)
    assert msg.startswith("data.loader: ") and expected in msg


# ---------------------------------------------------------------- synthetic image folders


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_synth_image_folder_counts_and_layout(tmp_path: Path) -> None:
    out = tmp_path / "happy_sad"
    counts = write_image_folder(out, per_class=10, test_fraction=0.2)
    assert counts == {"train": 16, "test": 4}
    files = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert sorted({p.relative_to(out).parent.as_posix() for p in files}) == [
        "test/happy", "test/sad", "train/happy", "train/sad"]
    assert len(list((out / "train" / "happy").iterdir())) == 8
    suffixes = [p.suffix for p in files]
    assert suffixes.count(".jpg") == 6 and suffixes.count(".png") == 14
    with Image.open(out / "train" / "sad" / "sad_0000.png") as im:
        assert im.mode == "L" and im.size == (48, 48)
    assert [p.name for p in tmp_path.iterdir()] == ["happy_sad"]  # no temp folder left beside it
    ds = _load_folder(out)
    assert ds.labels == ("happy", "sad") and ds.x_test is not None and len(ds.x_test) == 4


def test_synth_image_folder_rgb_size_and_mask_classes(tmp_path: Path) -> None:
    out = tmp_path / "masks"
    counts = write_image_folder(out, classes=["with_mask", "without_mask"], per_class=100, size=(32, 40),
                                rgb=True, test_fraction=0.3)
    assert counts == {"train": 140, "test": 60}
    with Image.open(out / "test" / "with_mask" / "with_mask_0097.png") as im:
        assert im.mode == "RGB" and im.size == (40, 32)  # PIL sizes are (width, height)
    ds = _load_folder(out, color_mode="rgb")
    assert ds.x_train.shape[1:] == (32, 40, 3)
    assert (ds.x_train[..., 0] >= ds.x_train[..., 2]).mean() > 0.9  # tinted, not grey
    assert _logistic_accuracy(ds) >= 0.8


def test_synth_image_folder_is_deterministic_by_seed(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "a", per_class=6, seed=3)
    write_image_folder(tmp_path / "b", per_class=6, seed=3)
    write_image_folder(tmp_path / "c", per_class=6, seed=4)
    a, b, c = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_synth_image_folder_refuses_foreign_folders(tmp_path: Path) -> None:
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        write_image_folder(foreign, per_class=4)
    assert _tree(foreign) == {"holiday.jpg": b"precious"}
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        write_image_folder(tmp_path / "file", per_class=4)
    empty = tmp_path / "empty"
    empty.mkdir()
    write_image_folder(empty, per_class=4)
    assert (empty / IMAGE_FOLDER_MARKER).is_file()
    before = _tree(empty)
    write_image_folder(empty, per_class=6)  # its own folder: replaced whole
    after = _tree(empty)
    assert len([k for k in after if k.endswith((".png", ".jpg"))]) == 12 and after != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file", "photos"]


def _logistic_accuracy(ds: Dataset) -> float:
    from sklearn.linear_model import LogisticRegression

    assert ds.x_test is not None and ds.y_test is not None
    flat = ds.x_train.reshape(len(ds.x_train), -1)
    model = LogisticRegression(max_iter=2000).fit(flat, ds.y_train)
    return float(model.score(ds.x_test.reshape(len(ds.x_test), -1), ds.y_test))


def test_synth_happy_sad_is_learnable(tmp_path: Path) -> None:
    out = tmp_path / "happy_sad"
    write_image_folder(out, per_class=100, seed=0)
    ds = _load_folder(out)
    assert ds.x_test is not None and len(ds.x_test) == 40
    accuracy = _logistic_accuracy(ds)
    assert accuracy >= 0.7, f"happy vs sad test accuracy {accuracy:.2f}: the drawn faces are not learnable"
