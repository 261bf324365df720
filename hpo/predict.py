"""``hpo predict``: a model from ``hpo train`` applied to new images, written as CSV (and, for
Kaggle's facial keypoints, a submission in the order of its IdLookupTable.csv).

Inputs: Kaggle's keypoints ``test.csv`` (``ImageId,Image``), a FER2013-format CSV
(``emotion,pixels[,Usage]``), an image folder or image files. Rows of pixels must have
the model's size exactly (a 48x48 FER row given to a 96x96 keypoints model is the wrong
file); image files are converted to the model's channels and resized to its input size
the way the image-folder loader does. Everything is read and checked before anything is
written; files are written under a temporary name and renamed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpo.data.image_folder import IMAGE_SUFFIXES
from hpo.errors import DataError


def read_inputs(paths: Sequence[Path], shape: Sequence[int]) -> tuple[list[str], np.ndarray]:
    """(ids, float32 pixels 0-255 shaped (N, *shape)) from ``paths``."""
    height, width, channels = (int(v) for v in shape)
    if len(paths) == 1 and paths[0].suffix.lower() == ".csv":
        return _read_csv(paths[0], height, width, channels)
    files: list[tuple[str, Path]] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise DataError(f"--input: {path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
            files += [(str(p.relative_to(path)), p) for p in found]
        elif not path.exists():
            raise DataError(f"--input: {path}: no such file or folder")
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            files.append((path.name, path))
        elif path.suffix.lower() == ".csv":
            raise DataError(f"--input: {path}: a CSV goes alone (one test.csv or FER2013 file); give it by itself, "
                            "or give image files and folders")
        else:
            raise DataError(f"--input: {path}: not a CSV ({'test.csv'} or FER2013) or an image "
                            f"({', '.join(IMAGE_SUFFIXES)})")
    # Each prediction's id is the image's name (relative to its folder): two alike would be one row twice.
    seen: dict[str, Path] = {}
    for name, p in files:
        if name in seen:
            raise DataError(f"--input: {p} and {seen[name]} would both be id {name!r}; give each image once, "
                            "and folders whose files are named apart")
        seen[name] = p
    return [name for name, _ in files], np.stack([_image(p, height, width, channels) for _, p in files])


def _image(path: Path, height: int, width: int, channels: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as raw:
            im = raw.convert("L" if channels == 1 else "RGB")
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:  # as image_folder
        raise DataError(f"--input: {path}: cannot read it as an image ({type(e).__name__})") from e
    if im.size != (width, height):
        im = im.resize((width, height), Image.Resampling.BILINEAR)  # as the image-folder loader does
    a = np.asarray(im, dtype=np.float32)
    return a[..., None] if a.ndim == 2 else a


def _read_csv(path: Path, height: int, width: int, channels: int) -> tuple[list[str], np.ndarray]:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = next(csv.reader([f.readline()]), [])
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"--input: {path}: cannot read it as a CSV file") from e
    if header[:2] == ["ImageId", "Image"]:
        from hpo.data.kaggle_submission import read_keypoints_test_csv

        ids, images = read_keypoints_test_csv(path)
        names = [str(int(i)) for i in ids]
    elif "pixels" in header:
        from hpo.data.fer2013 import read_fer2013_csv

        images, _, _ = read_fer2013_csv(path)
        names = [str(i) for i in range(len(images))]
    else:
        raise DataError(f"--input: {path}: header {','.join(header)[:80]!r} is neither Kaggle's test.csv "
                        "(ImageId,Image) nor FER2013's (emotion,pixels,Usage)")
    if images.shape[1:3] != (height, width) or channels != 1:
        raise DataError(f"--input: {path}: its images are {images.shape[1]}x{images.shape[2]} grey; the model takes "
                        f"{height}x{width}x{channels}; give it data in the format it was trained on")
    return names, images.astype(np.float32)[..., None]


def predict(model_path: Path, inputs: Sequence[Path], out: Path, *, kaggle_lookup: Path | None = None,
            log: Callable[[str], None] = print) -> int:
    from hpo.files import write_atomic
    from hpo.modelfile import load_model, read_model_metadata

    meta = read_model_metadata(model_path)
    if out.is_dir():
        raise DataError(f"--out: {out} is a directory; give a file name such as predictions.csv")
    shape = meta.get("input", {}).get("shape")
    if not shape:
        raise DataError(f"--model: {model_path}: its metadata has no input shape; train it again with `hpo train`")
    task, labels = meta.get("task"), [str(v) for v in meta.get("labels", [])]
    lookup = None
    if kaggle_lookup is not None:
        if task != "keypoints":
            raise DataError(f"--kaggle-lookup: {model_path} is a {task} model; the lookup table is for keypoints")
        from hpo.data.kaggle_submission import read_lookup

        lookup = read_lookup(kaggle_lookup)
    ids, x = read_inputs(inputs, shape)
    model, _ = load_model(model_path, meta=meta)
    predictions = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
    if lookup is not None:
        from hpo.data.kaggle_submission import write_submission

        image_ids = np.array([int(i) for i in ids]) if all(i.isdigit() for i in ids) else None
        if image_ids is None:
            raise DataError(f"--kaggle-lookup: the inputs are not Kaggle's test.csv (ImageId,Image): {inputs[0]}")
        rows = write_submission(lookup, image_ids, predictions, out, test_path=inputs[0])
        log(f"wrote {out}: Kaggle submission, {rows} rows (RowId,Location)")
        return len(ids)
    write_atomic(out, _csv(ids, predictions, task, labels))
    log(f"wrote {out}: {len(ids)} predictions ({task})")
    return len(ids)


def _csv(ids: Sequence[str], predictions: np.ndarray, task: Any, labels: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if task == "classification":
        names = labels if len(labels) == predictions.shape[1] else [str(i) for i in range(predictions.shape[1])]
        writer.writerow(["id", "label", *(f"p_{n}" for n in names)])
        for i, p in zip(ids, predictions, strict=True):
            writer.writerow([i, names[int(p.argmax())], *(f"{v:.6g}" for v in p)])
    else:
        writer.writerow(["ImageId" if task == "keypoints" else "id", *labels])
        for i, p in zip(ids, predictions, strict=True):
            writer.writerow([i, *(f"{v:.4f}" for v in p)])
    return buffer.getvalue()
