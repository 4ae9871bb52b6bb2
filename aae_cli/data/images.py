"""A folder of image files: flat (unlabelled) or one subfolder per class."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image

from aae_cli.data.reason import reason
from aae_cli.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
GRAY_MODES = ("L", "1")
# What Pillow raises on damaged files (UnidentifiedImageError is an OSError; some plugins raise SyntaxError).
_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, Image.DecompressionBombError)


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def list_images(folder: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """Image paths, their class ids and the class names (sorted subfolder names); no classes when flat."""
    try:
        subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        loose = _image_files(folder)
        if not subdirs:
            files, ids, classes = loose, None, None
        else:
            if loose:
                raise DataError(
                    f"{folder}: holds both images ({loose[0].name}, ...) and subfolders; put every image in "
                    "a class subfolder, or use a flat folder without subfolders"
                )
            files, ids, classes = [], [], [d.name for d in subdirs]
            for i, d in enumerate(subdirs):
                found = _image_files(d)
                if not found:
                    raise DataError(f"{d}: class folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
                files += found
                ids += [i] * len(found)
    except OSError as e:
        raise DataError(f"{folder}: cannot list the folder ({reason(e)})") from e
    if not files:
        raise DataError(f"{folder}: no images found ({', '.join(IMAGE_SUFFIXES)}); give a folder of images")
    return files, ids, classes


def read_image_folder(folder: Path) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """uint8 images (N, H, W) if all are gray, else (N, H, W, 3); labels or None; provenance."""
    files, ids, classes = list_images(folder)
    arrays: list[np.ndarray] = []
    all_gray = True
    first: tuple[Path, tuple[int, int]] | None = None
    for p in files:
        try:
            with Image.open(p) as im:
                if first is None:
                    first = (p, im.size)
                elif im.size != first[1]:
                    (w0, h0), (w, h) = first[1], im.size
                    raise DataError(
                        f"{p}: {w}x{h} pixels but {first[0]} is {w0}x{h0}; all images must have one size, "
                        "resize them"
                    )
                gray = im.mode in GRAY_MODES
                all_gray &= gray
                arrays.append(np.asarray(im.convert("L" if gray else "RGB")))
        except _PIL_ERRORS as e:
            raise DataError(f"{p}: cannot read the image ({reason(e)}); fix or remove the file") from e
    if not all_gray:  # mixed folder: gray images join the RGB ones with three equal channels
        arrays = [a if a.ndim == 3 else np.repeat(a[:, :, None], 3, axis=2) for a in arrays]
    source: dict = {"files": len(files), "color": "L" if all_gray else "RGB"}
    if classes is not None:
        source["classes"] = classes
    labels = None if ids is None else np.asarray(ids, dtype=np.int64)
    return np.stack(arrays), labels, source
