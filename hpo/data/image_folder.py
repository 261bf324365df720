"""``format: image_folder``: ``ROOT/CLASS_NAME/*.png|jpg|jpeg|bmp``, one folder per class.

Two layouts:

- ``ROOT/train/CLASS/...`` and ``ROOT/test/CLASS/...`` (FER2013's image-folder
  release; also an optional ``validation/``, ``val/`` or ``valid/``; folder names
  in any case): train/ gives train and validation (a seeded stratified
  ``validation_fraction`` unless a validation folder exists), test/ is the test split;
- ``ROOT/CLASS/...``: a seeded stratified ``test_fraction`` is held out first,
  then ``validation_fraction`` of the rest.

Data keys: ``image_size: [H, W]`` (default: the first image's size, which every
image must then have), ``color_mode: grayscale | rgb``, ``classes`` (select and
order classes), ``balance: undersample | none`` (per pool: train+validation, and
test, separately), ``skip_bad_images``, ``limit`` (images per class folder, a
seeded choice). Decoded images are cached (``hpo.data.cache``) under a key over
the file listing (relative path, size, mtime) and the decoding options.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo.data.cache import CACHE_FORMAT_VERSION, cached_arrays_keyed
from hpo.data.datasets import Dataset, split_indices
from hpo.data.npz import SplitOptions, percent
from hpo.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
SPLIT_FOLDERS = {"train": "train", "test": "test", "validation": "validation", "val": "validation",
                 "valid": "validation"}
TRAIN, VALIDATION, TEST = 0, 1, 2  # values of the cached "split" array
_SPLIT_CODES = {"train": TRAIN, "validation": VALIDATION, "test": TEST, "": TRAIN}
_LAYOUT_VERSION = 1  # bump when the cached arrays change meaning


@dataclass(frozen=True)
class Options:
    image_size: tuple[int, int] | None  # (height, width)
    rgb: bool
    classes: tuple[str, ...] | None
    undersample: bool
    skip_bad_images: bool
    limit: int | None
    split: SplitOptions

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Options:
        size = data.get("image_size")
        if size is not None and not (
            isinstance(size, list | tuple) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise DataError(f"data.image_size: must be [HEIGHT, WIDTH] in pixels, got {size!r}")
        mode = data.get("color_mode") or "grayscale"
        if mode not in ("grayscale", "rgb"):
            raise DataError(f"data.color_mode: must be grayscale or rgb, got {mode!r}")
        balance = data.get("balance") or "none"
        if balance not in ("undersample", "none"):
            raise DataError(f"data.balance: must be undersample or none, got {balance!r}")
        classes = data.get("classes")
        if classes is not None and not (
            isinstance(classes, list | tuple) and classes and all(isinstance(c, str) and c for c in classes)
            and len(set(classes)) == len(classes)
        ):
            raise DataError(f"data.classes: must be a list of distinct class folder names, got {classes!r}")
        limit = data.get("limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise DataError(f"data.limit: must be a positive number of images per class, got {limit!r}")
        return cls(
            image_size=None if size is None else (int(size[0]), int(size[1])),
            rgb=mode == "rgb",
            classes=None if classes is None else tuple(classes),
            undersample=balance == "undersample",
            skip_bad_images=bool(data.get("skip_bad_images", False)),
            limit=limit,
            split=SplitOptions.from_data(data),
        )


@dataclass(frozen=True)
class ImageFile:
    split: str  # "" (flat layout), "train", "validation" or "test"
    label: int
    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Listing:
    root: Path
    folders: dict[str, Path]  # split -> its folder ("" -> ROOT in the flat layout)
    classes: tuple[str, ...]
    files: tuple[ImageFile, ...]

    def fingerprint(self, opts: Options) -> str:
        """Cache key: every file's relative path, size and mtime, plus what changes the decoded pixels."""
        h = hashlib.sha256()
        head = {"format": "image_folder", "v": [CACHE_FORMAT_VERSION, _LAYOUT_VERSION],
                "root": str(self.root.resolve()), "classes": self.classes, "size": opts.image_size,
                "rgb": opts.rgb, "skip_bad_images": opts.skip_bad_images}
        h.update(json.dumps(head, sort_keys=True).encode())
        for f in self.files:
            rel = f.path.relative_to(self.root).as_posix()
            h.update(f"\n{f.split}|{f.label}|{rel}|{f.size}|{f.mtime_ns}".encode())
        return f"image_folder|{h.hexdigest()}"


def load(
    data: Mapping[str, Any], path: Path | None, *, cache_dir: Path | None, base_dir: Path, task: str
) -> Dataset:
    """Read and split an image folder; see the module docstring."""
    if path is None:
        raise DataError("data.path: format image_folder needs the folder of class folders (data.path or --data)")
    if task != "classification":
        raise DataError(f"data.format: image_folder gives class labels, so it feeds task: classification, not {task}")
    opts = Options.from_data(data)
    listing = list_images(Path(path), opts)
    arrays = cached_arrays_keyed(listing.fingerprint(opts), lambda: decode(listing, opts), cache_dir,
                                 what=str(listing.root))
    return _dataset(listing, arrays, opts)


# ---------------------------------------------------------------- listing


def list_images(root: Path, opts: Options) -> Listing:
    """Find the layout, the classes and every image file (each problem one line naming the folder)."""
    if not root.exists():
        raise DataError(f"{root}: image folder not found; pass ROOT (holding one folder of images per class) "
                        "as data.path or --data")
    if not root.is_dir():
        raise DataError(f"{root}: not a directory; format image_folder wants ROOT/CLASS_NAME/*.png")
    folders: dict[str, Path] = {}
    for child in _subdirs(root):
        split = SPLIT_FOLDERS.get(child.name.lower())
        if split is not None and split not in folders:
            folders[split] = child
    if "train" not in folders or len(folders) < 2:
        folders = {"": root}
    folders = {s: folders[s] for s in ("", "train", "validation", "test") if s in folders}  # train first
    train_dir = folders.get("train", root)
    found = [d.name for d in _subdirs(train_dir)]
    if not found:
        raise DataError(f"{train_dir}: no class folders; put the images in {train_dir}/CLASS_NAME/*.png, "
                        "one folder per class")
    classes = opts.classes or tuple(found)
    if len(classes) < 2:
        hint = ("; a train/ folder needs a test/ (or validation/) folder beside it"
                if classes[0].lower() in SPLIT_FOLDERS else "")
        raise DataError(f"{train_dir}: only one class ({classes[0]}); classification needs at least 2 class "
                        f"folders{hint}")
    files: list[ImageFile] = []
    for split, folder in folders.items():
        present = [d.name for d in _subdirs(folder)]
        wanted = classes
        if split in ("test", "validation") and opts.classes is None:
            extra = [c for c in present if c not in classes]
            if extra:
                raise DataError(f"{folder / extra[0]}: class {extra[0]!r} is not in {train_dir} "
                                f"(its classes: {', '.join(classes)}); remove it or add it there")
            wanted = tuple(c for c in classes if c in present)
        for label, name in enumerate(classes):
            if name not in wanted:
                continue
            if name not in present:
                raise DataError(f"{folder / name}: no such folder for class {name!r} of data.classes "
                                f"(folders in {folder}: {', '.join(present) or 'none'})")
            files.extend(_class_files(folder / name, split, label, opts))
    return Listing(root, folders, tuple(classes), tuple(files))


def _subdirs(folder: Path) -> list[Path]:
    with os.scandir(folder) as it:
        return sorted((Path(e.path) for e in it if e.is_dir() and not e.name.startswith(".")),
                      key=lambda p: p.name)


def _class_files(folder: Path, split: str, label: int, opts: Options) -> list[ImageFile]:
    with os.scandir(folder) as it:
        entries = sorted((e for e in it if not e.name.startswith(".") and e.name.lower().endswith(IMAGE_SUFFIXES)
                          and e.is_file()), key=lambda e: e.name)
    if not entries:
        raise DataError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}); add images to this class folder, "
                        "remove it, or leave it out of data.classes")
    if opts.limit is not None and len(entries) > opts.limit:
        rng = np.random.default_rng([opts.split.seed, _SPLIT_CODES[split], label])
        entries = [entries[i] for i in np.sort(rng.choice(len(entries), size=opts.limit, replace=False))]
    out = []
    for e in entries:
        st = e.stat()
        out.append(ImageFile(split, label, Path(e.path), st.st_size, st.st_mtime_ns))
    return out


# ---------------------------------------------------------------- decoding


def decode(listing: Listing, opts: Options) -> dict[str, np.ndarray]:
    """Decode every image as uint8 (N, H, W, C); labels, split codes and the skipped files beside them."""
    from PIL import Image

    channels = 3 if opts.rgb else 1
    size = opts.image_size
    first: Path | None = None
    images: np.ndarray | None = None
    kept: list[int] = []
    skipped: list[str] = []
    for i, f in enumerate(listing.files):
        try:
            with Image.open(f.path) as raw:
                im = raw.convert("RGB" if opts.rgb else "L")
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
            if not opts.skip_bad_images:
                reason = " ".join(f"{type(e).__name__}: {e}".split())[:200]
                raise DataError(f"{f.path}: cannot read this image ({reason}); fix or delete it, or set "
                                "data.skip_bad_images: true") from e
            skipped.append(f.path.relative_to(listing.root).as_posix())
            continue
        if size is None:
            size, first = (im.height, im.width), f.path
        if (im.height, im.width) != size:
            if opts.image_size is None:
                raise DataError(f"{f.path}: image is {im.height}x{im.width} (height x width) but {first} is "
                                f"{size[0]}x{size[1]}; set data.image_size: [HEIGHT, WIDTH] to resize every image")
            im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        if images is None:
            images = np.empty((len(listing.files), size[0], size[1], channels), dtype=np.uint8)
        images[len(kept)] = np.asarray(im, dtype=np.uint8).reshape(size[0], size[1], channels)
        kept.append(i)
    if images is None:
        raise DataError(f"{listing.root}: none of its {len(listing.files)} images could be read")
    labels = np.array([listing.files[i].label for i in kept], dtype=np.int64)
    split = np.array([_SPLIT_CODES[listing.files[i].split] for i in kept], dtype=np.int8)
    if skipped:  # a class folder whose every image is bad is as good as empty
        read = set(zip(split.tolist(), labels.tolist(), strict=True))
        for f in listing.files:
            if (_SPLIT_CODES[f.split], f.label) not in read:
                raise DataError(f"{f.path.parent}: none of its images could be read")
    return {"images": images[: len(kept)], "labels": labels, "split": split,
            "skipped": np.array(skipped, dtype=str)}


def _code_folders(listing: Listing) -> dict[int, Path]:
    return {_SPLIT_CODES[s]: folder for s, folder in listing.folders.items()}


# ---------------------------------------------------------------- splits


def _dataset(listing: Listing, arrays: Mapping[str, np.ndarray], opts: Options) -> Dataset:
    images, labels, split = arrays["images"], arrays["labels"], arrays["split"]
    so = opts.split
    folders = _code_folders(listing)
    flat = "" in listing.folders
    pool = _balanced(np.flatnonzero(split == TRAIN), labels, opts, group=TRAIN)
    notes: list[str] = []
    if TEST in folders:
        test: np.ndarray | None = _balanced(np.flatnonzero(split == TEST), labels, opts, group=TEST)
        assert test is not None
        notes.append(f"test = {folders[TEST]} ({len(test)} images)")
    elif so.test_fraction > 0:
        kept, held = split_indices(len(pool), so.test_fraction, so.seed, labels[pool], "data.test_fraction")
        test, pool = pool[held], pool[kept]
        notes.append(f"test = seeded stratified {percent(so.test_fraction)} of {folders[TRAIN]} ({len(held)} images)")
    else:
        test = None
        notes.append("no test split (data.test_fraction: 0)")
    if VALIDATION in folders:
        val = _balanced(np.flatnonzero(split == VALIDATION), labels, opts, group=VALIDATION)
        notes.append(f"validation = {folders[VALIDATION]} ({len(val)} images)")
    else:
        kept, held = split_indices(len(pool), so.validation_fraction, so.seed, labels[pool], "data.validation_fraction")
        of = "the rest" if flat and test is not None else str(folders[TRAIN])
        notes.append(f"validation = seeded stratified {percent(so.validation_fraction)} of {of} ({len(held)} "
                     f"of {len(pool)} images)")
        val, pool = pool[held], pool[kept]
    if opts.undersample:
        notes.append("balanced by undersampling to the smallest class")
    if len(arrays["skipped"]):
        notes.append(f"skipped {len(arrays['skipped'])} unreadable image(s), e.g. {arrays['skipped'][0]}")
    x = images.astype(np.float32)  # 0-255: the model scales its input itself
    return Dataset(
        x[pool], labels[pool], x[val], labels[val], len(listing.classes), listing.classes, str(listing.root),
        x_test=None if test is None else x[test], y_test=None if test is None else labels[test],
        split_note="; ".join(notes),
    )


def _balanced(rows: np.ndarray, labels: np.ndarray, opts: Options, group: int) -> np.ndarray:
    """``rows``, undersampled (seeded) to the smallest class present among them when asked to."""
    if not opts.undersample or len(rows) == 0:
        return rows
    counts = np.bincount(labels[rows])
    smallest = counts[counts > 0].min()
    rng = np.random.default_rng([opts.split.seed, 7, group])
    keep = [rng.choice(rows[labels[rows] == c], size=smallest, replace=False)
            for c in range(len(counts)) if counts[c] > 0]
    return np.sort(np.concatenate(keep))
