"""Write synthetic data files in the exact Kaggle keypoints and FER2013 formats.

The real files cannot be downloaded on every machine; these stand in for
them in tests, demos and benchmarks. The faces are drawn procedurally, so
every label is a deterministic function of the pixels (up to noise): a CNN
can learn them, and a loader bug shows up as a model that cannot.
"""

from __future__ import annotations

import os
import shutil
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from skimage.draw import disk, polygon

from hpo.data.fer2013 import EMOTIONS, FER_SIZE, USAGES
from hpo.data.kaggle_submission import LOOKUP_HEADER, TEST_HEADER, read_keypoints_test_csv
from hpo.data.keypoints import IMAGE_COLUMN, IMAGE_SIZE, KEYPOINT_COLUMNS
from hpo.files import write_atomic

# The real training.csv: 2140 of 7049 rows have all 30 values, the rest only these 8.
COMPLETE_FRACTION = 2140 / 7049
PARTIAL_COLUMNS = (
    "left_eye_center_x", "left_eye_center_y", "right_eye_center_x", "right_eye_center_y",
    "nose_tip_x", "nose_tip_y", "mouth_center_bottom_lip_x", "mouth_center_bottom_lip_y",
)  # fmt: skip
# Class frequencies of the real fer2013.csv (35887 rows).
FER_CLASS_COUNTS = (4953, 547, 5121, 8989, 6077, 4002, 6198)
# The real IdLookupTable.csv: 27124 rows for 1783 images; 1190 ask for the 8 usual features, 556 for all 30.
_LOOKUP_IMAGES, _LOOKUP_ROWS, _LOOKUP_USUAL, _LOOKUP_ALL = 1783, 27124, 1190, 556
# Extra seed words: test faces and lookup choices get their own random streams.
_TEST_STREAM, _LOOKUP_STREAM = 1, 2

_CHUNK = 256  # faces drawn and formatted per pass


def write_keypoints_csv(path: Path, rows: int, seed: int = 0) -> None:
    """Write ``rows`` synthetic faces as a Kaggle Facial Keypoints ``training.csv``."""
    rng = np.random.default_rng(seed)
    partial = np.array([c in PARTIAL_COLUMNS for c in KEYPOINT_COLUMNS])
    complete = rng.random(rows) < COMPLETE_FRACTION

    def lines() -> Iterable[bytes]:
        yield (",".join([*KEYPOINT_COLUMNS, IMAGE_COLUMN]) + "\n").encode()
        for i, (points, text) in enumerate(_keypoint_faces(rng, rows)):
            keep = np.ones_like(partial) if complete[i] else partial
            fields = [f"{v:.4f}" if k else "" for v, k in zip(points, keep, strict=True)]
            yield (",".join(fields) + ",").encode() + text + b"\n"

    write_atomic(path, lines())


def write_keypoints_test_csv(path: Path, rows: int, seed: int = 0) -> None:
    """Write ``rows`` synthetic faces as a Kaggle keypoints ``test.csv``: ``ImageId,Image``, ImageId 1..rows.

    The faces are drawn as in :func:`write_keypoints_csv` (so a model trained on
    one fits the other) from a stream of their own: the same seed gives test
    faces that are not copies of the training ones.
    """
    rng = np.random.default_rng([seed, _TEST_STREAM])

    def lines() -> Iterable[bytes]:
        yield (",".join(TEST_HEADER) + "\n").encode()
        for i, (_, text) in enumerate(_keypoint_faces(rng, rows)):
            yield f"{i + 1},".encode() + text + b"\n"

    write_atomic(path, lines())


def lookup_rows(image_ids: Iterable[int], seed: int = 0) -> list[tuple[int, str]]:
    """The (ImageId, FeatureName) rows of an ``IdLookupTable.csv`` for these test images.

    As in the real table (1783 images, 27124 rows): about 1190/1783 of the
    images ask for the 8 usual features, 556/1783 for all 30, and the rest
    for the 4 usual keypoints plus a seeded choice of others, sized so the
    total matches the real proportion. A keypoint is asked for as both its
    x and y. Rows are grouped by ImageId, ascending; features within an image
    in training.csv's column order.
    """
    ids = sorted({int(i) for i in image_ids})
    n = len(ids)
    n_usual = round(n * _LOOKUP_USUAL / _LOOKUP_IMAGES)
    n_all = min(round(n * _LOOKUP_ALL / _LOOKUP_IMAGES), n - n_usual)
    n_some = n - n_usual - n_all
    points = len(KEYPOINT_COLUMNS) // 2  # a keypoint is asked for as its x and its y
    usual = [k for k in range(points) if KEYPOINT_COLUMNS[2 * k] in PARTIAL_COLUMNS]
    others = [k for k in range(points) if k not in usual]
    # The in-between images share what the real proportion leaves, spread evenly over them.
    left = round(n * _LOOKUP_ROWS / _LOOKUP_IMAGES) // 2 - len(usual) * n_usual - points * n_all
    spare = left - len(usual) * n_some
    extras = [spare // n_some + (j < spare % n_some) for j in range(n_some)] if n_some else []

    rng = np.random.default_rng([seed, _LOOKUP_STREAM])
    kinds = rng.permutation(np.repeat([0, 1, 2], [n_usual, n_all, n_some]))  # 0 usual, 1 all, 2 between
    extra = iter(rng.permutation(extras).tolist())
    rows: list[tuple[int, str]] = []
    for image_id, kind in zip(ids, kinds.tolist(), strict=True):
        if kind == 0:
            chosen = usual
        elif kind == 1:
            chosen = list(range(points))
        else:  # strictly more than the usual 4 keypoints, strictly fewer than all 15
            size = min(max(next(extra), 1), len(others) - 1)
            chosen = sorted([*usual, *rng.choice(others, size=size, replace=False).tolist()])
        rows += [(image_id, KEYPOINT_COLUMNS[2 * k + xy]) for k in chosen for xy in (0, 1)]
    return rows


def write_lookup_csv(path: Path, test_csv: Path, seed: int = 0) -> int:
    """Write an ``IdLookupTable.csv`` (``RowId,ImageId,FeatureName,Location``) for the images of ``test_csv``.

    Location is empty and RowId runs 1..M, as in Kaggle's file; see
    :func:`lookup_rows` for which features each image asks for. Returns M.
    """
    image_ids, _ = read_keypoints_test_csv(test_csv)
    rows = lookup_rows(image_ids.tolist(), seed)
    header = ",".join(LOOKUP_HEADER) + "\n"
    body = "".join(f"{r},{i},{f},\n" for r, (i, f) in enumerate(rows, start=1))
    write_atomic(path, [(header + body).encode("ascii")])
    return len(rows)


def _keypoint_faces(rng: np.random.Generator, rows: int) -> Iterable[tuple[np.ndarray, bytes]]:
    """``rows`` faces, one by one: (30 keypoint values, the Image field as bytes), drawn a chunk at a time."""
    for lo in range(0, rows, _CHUNK):
        n = min(_CHUNK, rows - lo)
        images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        points = np.empty((n, len(KEYPOINT_COLUMNS)), dtype=np.float64)
        for i in range(n):
            images[i], points[i] = _keypoint_face(rng)
        pixels = _finish(images, rng)
        yield from zip(points, format_pixel_rows(pixels.reshape(n, -1)), strict=True)


def write_fer2013_csv(path: Path, rows: int, seed: int = 0, usage: bool = True) -> None:
    """Write ``rows`` synthetic 48x48 faces as ``fer2013.csv`` (``emotion,pixels[,Usage]``).

    Classes follow the real file's frequencies; each is drawn with its own
    eyebrow angle and mouth shape. Usage runs Training, PublicTest,
    PrivateTest in order (80/10/10), as in the real file.
    """
    rng = np.random.default_rng(seed)
    p = np.array(FER_CLASS_COUNTS, dtype=np.float64)
    labels = rng.choice(len(EMOTIONS), size=rows, p=p / p.sum())
    split = np.searchsorted([0.8 * rows, 0.9 * rows], np.arange(rows), side="right")

    def lines() -> Iterable[bytes]:
        yield b"emotion,pixels,Usage\n" if usage else b"emotion,pixels\n"
        for lo in range(0, rows, _CHUNK):
            n = min(_CHUNK, rows - lo)
            images = np.stack([_fer_face(rng, int(c)) for c in labels[lo : lo + n]])
            pixels = _finish(images, rng)
            for i, text in enumerate(format_pixel_rows(pixels.reshape(n, -1))):
                tail = f",{USAGES[split[lo + i]]}" if usage else ""
                yield f"{labels[lo + i]},".encode() + text + tail.encode() + b"\n"

    write_atomic(path, lines())


def format_pixel_rows(pixels: np.ndarray) -> list[bytes]:
    """Each row of a (N, V) uint8 array as ``b"v v v ..."`` (vectorized, no per-value Python)."""
    table = np.zeros((256, 4), dtype=np.uint8)
    width = np.zeros(256, dtype=np.int64)
    for v in range(256):
        text = f"{v} ".encode()
        table[v, : len(text)] = np.frombuffer(text, dtype=np.uint8)
        width[v] = len(text)
    used = np.arange(4) < width[:, None]
    flat = table[pixels][used[pixels]].tobytes()
    ends = np.cumsum(width[pixels].sum(axis=1)).tolist()
    starts = [0, *ends[:-1]]
    return [flat[s : e - 1] for s, e in zip(starts, ends, strict=True)]  # drop last space


def _finish(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Soften edges (a 1-2-1 blur, so sub-pixel positions show in the grey levels), add noise."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = padded[:, :-2] + 2 * padded[:, 1:-1] + padded[:, 2:]
    blurred = (rows[:, :, :-2] + 2 * rows[:, :, 1:-1] + rows[:, :, 2:]) / 16
    sigma = rng.uniform(2.0, 7.0, size=(len(images), 1, 1)).astype(np.float32)
    noisy = blurred + sigma * rng.standard_normal(images.shape, dtype=np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


class _Face:
    """A canvas with a similarity transform from face coordinates to pixels."""

    def __init__(
        self,
        rng: np.random.Generator,
        size: int,
        center: tuple[float, float],
        scale: float,
        max_degrees: float,
        shift: float,
    ) -> None:
        self.size = size
        self.scale = scale * rng.uniform(0.9, 1.05)
        angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
        self.rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        self.origin = np.asarray(center) + rng.uniform(-shift, shift, size=2)
        background = rng.uniform(15, 110)
        ramp = rng.uniform(-0.6, 0.6, size=2)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        self.canvas = background + ramp[0] * (xx - size / 2) + ramp[1] * (yy - size / 2)

    def to_pixels(self, xy: np.ndarray) -> np.ndarray:
        """Face coordinates (x right, y down, unit = one pixel at scale 1) -> image (x, y)."""
        return self.origin + self.scale * (np.asarray(xy, dtype=np.float64) @ self.rot.T)

    def fill(self, xy: np.ndarray, level: float) -> None:
        p = self.to_pixels(xy)
        rr, cc = polygon(p[:, 1], p[:, 0], shape=self.canvas.shape)
        self.canvas[rr, cc] = level

    def oval(self, cx: float, cy: float, rx: float, ry: float, level: float) -> None:
        """Fill an ellipse given in face coordinates (a mask test: polygon() is slow when big)."""
        yy, xx = np.mgrid[0 : self.size, 0 : self.size]
        d = np.stack([xx - self.origin[0], yy - self.origin[1]], axis=-1) / self.scale
        q = d @ self.rot  # inverse rotation: rot is orthonormal
        inside = ((q[..., 0] - cx) / rx) ** 2 + ((q[..., 1] - cy) / ry) ** 2 <= 1
        self.canvas[inside] = level

    def dot(self, xy: np.ndarray, radius: float, level: float) -> None:
        x, y = self.to_pixels(xy)
        rr, cc = disk((y, x), radius * self.scale, shape=self.canvas.shape)
        self.canvas[rr, cc] = level


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 48) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _bar(a: np.ndarray, b: np.ndarray, half_width: float) -> np.ndarray:
    """A rectangle of the given half width around segment a-b (a thick line)."""
    d = (b - a) / np.hypot(*(b - a))
    n = np.array([-d[1], d[0]]) * half_width
    return np.array([a + n, b + n, b - n, a - n])


def _lens(left: np.ndarray, right: np.ndarray, up: float, down: float) -> np.ndarray:
    """A closed shape from corner ``left`` to ``right``, bulging ``up`` and ``down`` mid-way."""
    u = np.linspace(-1.0, 1.0, 17)
    bulge = 1 - u**2
    x = (left[0] + right[0]) / 2 + u * (left[0] - right[0]) / 2
    y = (left[1] + right[1]) / 2 + u * (left[1] - right[1]) / 2
    top = np.stack([x, y - up * bulge], axis=1)
    bottom = np.stack([x, y + down * bulge], axis=1)[::-1]
    return np.concatenate([top, bottom[1:-1]])


def _keypoint_face(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One 96x96 face (float canvas) and its 30 keypoint values in Kaggle order."""
    f = _Face(rng, IMAGE_SIZE, (48.0, 50.0), 1.0, max_degrees=10, shift=4)
    u = rng.uniform
    skin = u(120, 215)
    f.oval(0, u(0, 4), u(34, 39), u(41, 46), skin)

    # Face coordinates: +x is the image's right = the subject's LEFT (Kaggle's convention).
    eye_dx, eye_y, eye_w, eye_h = u(16, 20), u(-14, -10), u(5.5, 8), u(2.5, 4)
    brow_y, brow_w = eye_y - u(7, 10), u(1.0, 1.8)
    brow_in, brow_out_dx, brow_tilt = u(6, 10), u(3, 7), u(-2, 2)
    nose_y, nose_w = u(10, 15), u(4, 7)
    mouth_y, mouth_w = u(23, 27), u(12, 17)
    lip_up, lip_down = u(2, 4), u(2.5, 5)
    ink = skin - u(70, 110)

    pts: dict[str, np.ndarray] = {}
    for side, s in (("left", 1.0), ("right", -1.0)):
        center = np.array([s * eye_dx, eye_y])
        inner, outer = center - [s * eye_w, 0], center + [s * eye_w, 0]
        pts[f"{side}_eye_center"] = center
        pts[f"{side}_eye_inner_corner"] = inner
        pts[f"{side}_eye_outer_corner"] = outer
        brow_inner = np.array([s * brow_in, brow_y])
        brow_outer = np.array([s * (eye_dx + eye_w + brow_out_dx), brow_y + brow_tilt])
        pts[f"{side}_eyebrow_inner_end"] = brow_inner
        pts[f"{side}_eyebrow_outer_end"] = brow_outer
        f.fill(_bar(brow_inner, brow_outer, brow_w), ink)
        f.fill(_lens(inner, outer, eye_h, eye_h), min(skin + 40, 250))
        f.dot(center, eye_h * 0.75, ink - 20)

    pts["nose_tip"] = np.array([0.0, nose_y])
    f.fill(np.array([[0, nose_y], [nose_w, nose_y - 12], [-nose_w, nose_y - 12]]), skin - u(25, 45))
    pts["mouth_left_corner"] = np.array([mouth_w, mouth_y])
    pts["mouth_right_corner"] = np.array([-mouth_w, mouth_y])
    pts["mouth_center_top_lip"] = np.array([0.0, mouth_y - lip_up])
    pts["mouth_center_bottom_lip"] = np.array([0.0, mouth_y + lip_down])
    f.fill(_lens(pts["mouth_left_corner"], pts["mouth_right_corner"], lip_up, lip_down), ink)

    names = [c[:-2] for c in KEYPOINT_COLUMNS[::2]]
    xy = f.to_pixels(np.stack([pts[n] for n in names]))
    return f.canvas, np.round(xy.reshape(-1), 4)


# Per emotion: eyebrow inner-end drop, eyebrow raise, smile, open mouth (w, h), asymmetry.
_EXPRESSIONS = {
    0: (2.5, -1.0, -0.5, (0.0, 0.0), 0.0),  # Angry: brows knit down
    1: (1.5, -1.0, 0.0, (0.0, 0.0), 2.5),  # Disgust: one corner raised
    2: (-2.0, 2.0, -0.5, (5.5, 2.0), 0.0),  # Fear: brows up, mouth wide open
    3: (0.0, 0.0, 3.0, (0.0, 0.0), 0.0),  # Happy: smile
    4: (-2.0, 0.5, -2.5, (0.0, 0.0), 0.0),  # Sad: frown, inner brows up
    5: (0.0, 3.0, 0.0, (3.0, 4.0), 0.0),  # Surprise: brows high, round open mouth
    6: (0.0, 0.0, 0.0, (0.0, 0.0), 0.0),  # Neutral
}


def _fer_face(rng: np.random.Generator, emotion: int) -> np.ndarray:
    """One 48x48 face whose eyebrows and mouth show ``emotion``."""
    return _fer_face_drawn(rng, emotion).canvas


def _fer_face_drawn(rng: np.random.Generator, emotion: int) -> _Face:
    """``_fer_face``'s drawing, returned as the ``_Face`` so more can be drawn on it in face coordinates."""
    f = _Face(rng, FER_SIZE, (24.0, 25.0), 1.0, max_degrees=8, shift=2)
    u = rng.uniform
    drop, lift, smile, (open_w, open_h), asym = _EXPRESSIONS[emotion]
    drop, lift, smile = drop + u(-0.4, 0.4), lift + u(-0.4, 0.4), smile + u(-0.4, 0.4)
    skin = u(120, 215)
    ink = skin - u(70, 110)
    f.oval(0, 1, u(16, 19), u(20, 23), skin)

    eye_dx, eye_y = u(7.5, 9), u(-6, -4)
    for s in (1.0, -1.0):
        center = np.array([s * eye_dx, eye_y])
        f.fill(_lens(center - [3, 0], center + [3, 0], 1.6, 1.6), min(skin + 40, 250))
        f.dot(center, 1.2, ink - 20)
        brow_inner = np.array([s * 2.5, eye_y - 4.5 - lift + drop])
        brow_outer = np.array([s * (eye_dx + 4.5), eye_y - 4.5 - lift])
        f.fill(_bar(brow_inner, brow_outer, 0.8), ink)
    f.fill(np.array([[0, 5], [2.5, -1], [-2.5, -1]]), skin - u(25, 45))

    mouth_y, mouth_w = u(10.5, 12), u(5.5, 7)
    if open_w:
        f.fill(_ellipse(0, mouth_y, open_w + u(-0.5, 0.5), open_h + u(-0.4, 0.4), n=24), ink)
    else:
        x = np.linspace(-mouth_w, mouth_w, 15)
        y = mouth_y - smile * (x / mouth_w) ** 2 - asym * np.clip(x / mouth_w, 0, None) ** 2
        line = np.stack([x, y], axis=1)
        f.fill(np.concatenate([line - [0, 0.9], (line + [0, 0.9])[::-1]]), ink)
    return f


# ---------------------------------------------------------------- image folders

IMAGE_FOLDER_MARKER = ".hpo-synth"  # in a folder written by write_image_folder: it may be replaced
# Expressions handed to class names that name none of their own, in this order.
_SPARE_EMOTIONS = (3, 4, 5, 0, 2, 6, 1)
_PLAIN_FACE = 6  # the expression of face / with_mask / without_mask classes: neutral


def write_image_folder(
    out: Path,
    *,
    classes: Sequence[str] | None = None,
    per_class: int = 40,
    size: tuple[int, int] = (48, 48),
    rgb: bool = False,
    seed: int = 0,
    test_fraction: float = 0.2,
) -> dict[str, int]:
    """Write ``out/train/CLASS/*.png|jpg`` and ``out/test/CLASS/*`` (FER2013's image-folder layout).

    Each class is drawn its own way: the FER emotion names (happy, sad, ...) as
    faces showing that emotion; ``with_mask``/``without_mask`` (any spelling with
    "mask") as faces with or without a mask over nose and mouth; ``face`` /
    ``non-face`` as a face or a background of shapes; any other name gets an
    expression no other class uses. Every third image is a JPEG, the rest PNG.
    ``size`` is (height, width); ``rgb`` writes tinted 3-channel images.
    The same arguments write the same bytes. The folder appears whole or not
    at all (written beside ``out``, then renamed); an ``out`` that exists, is
    not empty and was not written by this function raises ``FileExistsError``.
    Returns the number of images per split: ``{"train": N, "test": M}``.
    """
    from PIL import Image

    names = ["happy", "sad"] if classes is None else [str(c) for c in classes]
    if not names or len(set(names)) != len(names) or any(
        not n or n.startswith(".") or "/" in n or "\\" in n or n in (".", "..") for n in names
    ):
        raise ValueError(f"classes: must be distinct folder names, got {names!r}")
    if per_class < 2 or not 0 < test_fraction < 1:
        raise ValueError("per_class must be >= 2 and test_fraction in (0, 1)")
    if len(size) != 2 or min(size) < 8:
        raise ValueError(f"size: must be (height, width) of at least 8 pixels, got {size!r}")
    out = Path(out)
    _check_replaceable(out)
    draws = _class_drawings(names)
    n_test = min(max(1, round(per_class * test_fraction)), per_class - 1)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    counts = {"train": 0, "test": 0}
    try:
        tmp.mkdir(parents=True)
        for name, draw in zip(names, draws, strict=True):
            rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
            canvases = np.stack([draw(rng) for _ in range(per_class)])
            pixels = _finish(canvases, rng)
            red = rng.uniform(0.85, 1.0, size=per_class)  # skin-like tints: red > green > blue
            green = red * rng.uniform(0.72, 0.92, size=per_class)
            tints = np.stack([red, green, green * rng.uniform(0.65, 0.95, size=per_class)], axis=1)
            for i in range(per_class):
                split = "train" if i < per_class - n_test else "test"
                folder = tmp / split / name
                folder.mkdir(parents=True, exist_ok=True)
                image = Image.fromarray(pixels[i], mode="L")
                if (image.height, image.width) != tuple(size):
                    image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                if rgb:
                    grey = np.asarray(image, dtype=np.float32)[..., None]
                    image = Image.fromarray(np.clip(np.rint(grey * tints[i]), 0, 255).astype(np.uint8), mode="RGB")
                if i % 3 == 2:
                    image.save(folder / f"{name}_{i:04d}.jpg", quality=95)
                else:
                    image.save(folder / f"{name}_{i:04d}.png")
                counts[split] += 1
        (tmp / IMAGE_FOLDER_MARKER).write_text(
            f"written by hpo.data.synth.write_image_folder: classes={names} per_class={per_class} size={list(size)} "
            f"rgb={rgb} seed={seed} test_fraction={test_fraction}\n")
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return counts


def _check_replaceable(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise FileExistsError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / IMAGE_FOLDER_MARKER).is_file():
        raise FileExistsError(f"{out}: folder exists, is not empty and was not written by hpo; choose another --out")


def _move_into_place(tmp: Path, out: Path) -> None:
    _check_replaceable(out)
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        os.rename(tmp, out)
        return
    old = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.old")
    os.rename(out, old)  # a previous synthetic folder: swap, then delete it
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _class_drawings(names: Sequence[str]) -> list[Callable[[np.random.Generator], np.ndarray]]:
    """One drawing function per class name (48x48 float canvas, 0-255): distinct, and learnable."""
    emotions = {e.lower(): i for i, e in enumerate(EMOTIONS)}
    plan: list[tuple[str, int]] = []
    for name in names:
        key = "".join(ch for ch in name.lower() if ch.isalnum())
        if key in emotions:
            plan.append(("emotion", emotions[key]))
        elif "mask" in key:
            plan.append(("unmasked" if key.startswith(("without", "no", "un")) else "masked", 0))
        elif key in ("nonface", "noface", "notface", "notaface", "background"):
            plan.append(("nonface", 0))
        elif key in ("face", "faces"):
            plan.append(("face", 0))
        else:
            plan.append(("spare", 0))
    used = {e for kind, e in plan if kind == "emotion"}
    if any(kind in ("face", "masked", "unmasked") for kind, _ in plan):
        used.add(_PLAIN_FACE)
    spare = iter(e for e in _SPARE_EMOTIONS if e not in used)
    draws: list[Callable[[np.random.Generator], np.ndarray]] = []
    for kind, emotion in plan:
        if kind == "spare":
            emotion = next(spare, -1)
            if emotion < 0:
                raise ValueError(f"classes: at most {len(_SPARE_EMOTIONS)} classes without a drawing of their own")
            kind = "emotion"
        draws.append(_drawing(kind, emotion))
    return draws


def _drawing(kind: str, emotion: int) -> Callable[[np.random.Generator], np.ndarray]:
    def draw(rng: np.random.Generator) -> np.ndarray:
        if kind == "emotion":
            return _fer_face(rng, emotion)
        if kind == "nonface":
            return _shapes(rng)
        f = _fer_face_drawn(rng, _PLAIN_FACE)
        if kind == "masked":
            _mask(f, rng)
        return f.canvas

    return draw


def _mask(f: _Face, rng: np.random.Generator) -> None:
    """A surgical mask over nose and mouth, with its ear loops, in face coordinates."""
    u = rng.uniform
    fx, fy = np.rint(f.to_pixels(np.array([0.0, -15.0]))).astype(int)  # the forehead: skin
    skin = float(f.canvas[np.clip(fy, 0, f.size - 1), np.clip(fx, 0, f.size - 1)])
    # Mostly pale, sometimes black; always well apart from the skin it covers.
    level = min(skin + u(45, 80), 252.0) if rng.random() < 0.8 else max(skin - u(85, 110), 5.0)
    top, bottom, half = u(1.0, 3.0), u(16.0, 18.5), u(12.0, 14.5)
    x = np.linspace(-half, half, 15)
    upper = np.stack([x, top - 1.5 * (1 - (x / half) ** 2)], axis=1)  # rises over the nose
    lower = np.stack([x, bottom - 3.0 * (x / half) ** 2], axis=1)[::-1]  # rounded chin
    f.fill(np.concatenate([upper, lower]), level)
    for s in (1.0, -1.0):
        f.fill(_bar(np.array([s * half, top + 1]), np.array([s * (half + 4), -3.0]), 0.5), level - 15)
        f.fill(_bar(np.array([s * half, bottom - 4]), np.array([s * (half + 4), 2.0]), 0.5), level - 15)
    for y in (top + 4, top + 8):  # pleats
        f.fill(_bar(np.array([-half + 1, y]), np.array([half - 1, y]), 0.35), level - 30)


def _shapes(rng: np.random.Generator) -> np.ndarray:
    """A 48x48 scene with no face: a few random discs and bars on a shaded background."""
    f = _Face(rng, FER_SIZE, (24.0, 24.0), 1.0, max_degrees=180, shift=6)
    u = rng.uniform
    for _ in range(int(rng.integers(3, 7))):
        if rng.random() < 0.5:
            f.dot(u(-20, 20, size=2), u(2, 7), u(20, 240))
        else:
            f.fill(_bar(u(-22, 22, size=2), u(-22, 22, size=2), u(0.8, 3)), u(20, 240))
    return f.canvas
