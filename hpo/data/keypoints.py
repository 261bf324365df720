"""Kaggle Facial Keypoints ``training.csv``: 96x96 faces, 15 (x, y) keypoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpo.data.cache import cached_arrays
from hpo.data.pixels import numeric_column, read_pixel_csv, require_file
from hpo.errors import DataError

IMAGE_SIZE = 96
IMAGE_COLUMN = "Image"

# Kaggle's column order; "left" is the subject's left (the image's right side).
KEYPOINT_COLUMNS: tuple[str, ...] = (
    "left_eye_center_x", "left_eye_center_y",
    "right_eye_center_x", "right_eye_center_y",
    "left_eye_inner_corner_x", "left_eye_inner_corner_y",
    "left_eye_outer_corner_x", "left_eye_outer_corner_y",
    "right_eye_inner_corner_x", "right_eye_inner_corner_y",
    "right_eye_outer_corner_x", "right_eye_outer_corner_y",
    "left_eyebrow_inner_end_x", "left_eyebrow_inner_end_y",
    "left_eyebrow_outer_end_x", "left_eyebrow_outer_end_y",
    "right_eyebrow_inner_end_x", "right_eyebrow_inner_end_y",
    "right_eyebrow_outer_end_x", "right_eyebrow_outer_end_y",
    "nose_tip_x", "nose_tip_y",
    "mouth_left_corner_x", "mouth_left_corner_y",
    "mouth_right_corner_x", "mouth_right_corner_y",
    "mouth_center_top_lip_x", "mouth_center_top_lip_y",
    "mouth_center_bottom_lip_x", "mouth_center_bottom_lip_y",
)  # fmt: skip


def _mirror_name(name: str) -> str:
    return name.replace("left", "\0").replace("right", "left").replace("\0", "right")


# FLIP_PERMUTATION[i] = index of column i's mirror twin (itself for nose/lip centres).
FLIP_PERMUTATION: np.ndarray = np.array(
    [KEYPOINT_COLUMNS.index(_mirror_name(n)) for n in KEYPOINT_COLUMNS], dtype=np.intp
)
_X_COLUMNS = np.array([i for i, n in enumerate(KEYPOINT_COLUMNS) if n.endswith("_x")])


@dataclass(frozen=True, eq=False)
class KeypointsData:
    """images: uint8 (N, 96, 96); keypoints: float32 (N, 30), NaN where missing."""

    images: np.ndarray
    keypoints: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def read_keypoints_csv(path: Path, cache_dir: Path | None = None) -> KeypointsData:
    """Read a Kaggle Facial Keypoints ``training.csv`` (cached under ``cache_dir``)."""
    path = Path(path)
    require_file(path, "training.csv", "download Kaggle's training.csv there, or write "
                 f"a synthetic one: hpo data synth keypoints --rows 2000 --out {path}")
    arrays = cached_arrays(path, "kaggle-keypoints", lambda: _parse(path), cache_dir)
    return KeypointsData(images=arrays["images"], keypoints=arrays["keypoints"])


def _parse(path: Path) -> dict[str, np.ndarray]:
    source = str(path)
    frame, pixels = read_pixel_csv(path, IMAGE_COLUMN, IMAGE_SIZE * IMAGE_SIZE, required=KEYPOINT_COLUMNS)
    if len(pixels) == 0:
        raise DataError(f"{source}: no data rows, only a header")
    keypoints = np.empty((len(pixels), len(KEYPOINT_COLUMNS)), dtype=np.float32)
    for i, name in enumerate(KEYPOINT_COLUMNS):
        keypoints[:, i] = column = numeric_column(frame, name, source)
        # Pixels from the image's top-left corner: a point a little outside the frame is a face
        # cut off, one far outside (500 on a 96-pixel image) a typo or another unit, and it would
        # dominate every trial's RMSE.
        far = np.flatnonzero(np.isfinite(column) & (np.abs(column - IMAGE_SIZE / 2) > IMAGE_SIZE))
        if far.size:
            row = int(far[0])
            raise DataError(f"{source}: row {row + 1}: {name} {column[row]:g} lies far outside the "
                            f"{IMAGE_SIZE}x{IMAGE_SIZE} image (keypoints are pixels from its top-left corner, "
                            f"{-IMAGE_SIZE // 2}..{IMAGE_SIZE * 3 // 2} accepted); fix the value or leave it empty")
    images = pixels.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    return {"images": images, "keypoints": keypoints}


def flip_horizontal(images: np.ndarray, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror images left-right and their keypoints to match.

    Every x becomes ``IMAGE_SIZE - 1 - x`` and each left_* column swaps with
    its right_* twin: after a mirror the subject's left eye is where the right
    one was, so keeping the names would teach the model nonsense. NaN stays NaN.
    ``images`` is (..., H, W) or channels-last (N, H, W, C); ``keypoints`` is (..., 30).
    """
    width_axis = -2 if images.ndim == 4 else -1
    flipped = np.ascontiguousarray(np.flip(images, axis=width_axis))
    kp = np.array(keypoints, copy=True)
    kp[..., _X_COLUMNS] = (IMAGE_SIZE - 1) - kp[..., _X_COLUMNS]
    return flipped, kp[..., FLIP_PERMUTATION]
