"""MNIST (packaged) and Fashion-MNIST (data dir or the Debian package): IDX files, 50k/10k/10k split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aae_cli.data.base import DataSplits, Split, register_dataset
from aae_cli.data.idx import find_idx, read_idx
from aae_cli.errors import DataError

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
STEMS = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

# md5 of the decompressed files (mnist/README.md; Fashion-MNIST measured on the Debian package files).
MNIST_MD5 = {
    TRAIN_IMAGES: "6bbc9ace898e44ae57da46a324031adb",
    TRAIN_LABELS: "a25bea736e30d166cdddb491f175f624",
    TEST_IMAGES: "2646ac647ad5339dbf082846283269ea",
    TEST_LABELS: "27ae3e4e09519cfbb04c329615203637",
}
FASHION_MD5 = {
    TRAIN_IMAGES: "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    TRAIN_LABELS: "9018921c3c673c538a1fc5bad174d6f9",
    TEST_IMAGES: "8181f5470baa50b63fa0f6fddb340f0a",
    TEST_LABELS: "15d484375f8d13e6eb1aabb0c3f46965",
}

N_VALIDATION = 10_000  # the last rows of the training file (GAN/AAE Parzen protocol)
N_CLASSES = 10
PACKAGED_DIR = Path(__file__).with_name("mnist")
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian: dataset-fashion-mnist


def load_idx_splits(name: str, folder: Path, md5: dict[str, str]) -> DataSplits:
    """Read the four IDX files in folder (checksums verified) and split train into train + validation."""
    paths: dict[str, Path] = {}
    for stem in STEMS:
        p = find_idx(folder, stem)
        if p is None:
            raise DataError(f"{name}: {stem}[.gz] is missing from {folder}; put the original file there")
        paths[stem] = p
    arr = {stem: read_idx(p, md5[stem]) for stem, p in paths.items()}
    train_x, train_y = _images_labels(arr[TRAIN_IMAGES], arr[TRAIN_LABELS], paths[TRAIN_IMAGES])
    test_x, test_y = _images_labels(arr[TEST_IMAGES], arr[TEST_LABELS], paths[TEST_IMAGES])
    n = len(train_x)
    if n <= N_VALIDATION:
        raise DataError(f"{paths[TRAIN_IMAGES]}: {n} training images, need more than {N_VALIDATION}")
    cut = n - N_VALIDATION
    h, w = arr[TRAIN_IMAGES].shape[1:]
    return DataSplits(
        name=name,
        train=Split(train_x[:cut], train_y[:cut]),
        validation=Split(train_x[cut:], train_y[cut:]),
        test=Split(test_x, test_y),
        image_shape=(1, h, w),
        n_classes=N_CLASSES,
        source={
            "dataset": name,
            "files": {stem: {"path": str(p), "md5": md5[stem]} for stem, p in paths.items()},
            "split": f"train = first {cut} of the {n} {TRAIN_IMAGES} rows, validation = last {N_VALIDATION}, "
            f"test = all {len(test_x)} {TEST_IMAGES} rows",
        },
    )


def _images_labels(images: np.ndarray, labels: np.ndarray, where: Path) -> tuple[np.ndarray, np.ndarray]:
    """Flatten (N, H, W) images to rows and check the labels file pairs with them."""
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(
            f"{where}: images {images.shape} and labels {labels.shape} do not pair up; replace the files"
        )
    if labels.size and int(labels.max()) >= N_CLASSES:
        raise DataError(f"{where}: labels file has class {int(labels.max())} (not 0..9); replace the files")
    return images.reshape(len(images), -1), labels.astype(np.int64)


@register_dataset("mnist", "MNIST digits, 28x28 gray, 50k/10k/10k (shipped with aae)")
def load_mnist(data_dir: Path, download: bool) -> DataSplits:
    del data_dir, download  # the files ship inside the package
    return load_idx_splits("mnist", PACKAGED_DIR, MNIST_MD5)


@register_dataset("fashion-mnist", "Fashion-MNIST, 28x28 gray, 50k/10k/10k (data dir or Debian package)")
def load_fashion_mnist(data_dir: Path, download: bool) -> DataSplits:
    del download  # no canonical mirror to fetch from; the Debian package or a copy in the data dir
    user_dir = data_dir / "fashion-mnist"
    for folder in (user_dir, FASHION_SYSTEM_DIR):
        if all(find_idx(folder, stem) is not None for stem in STEMS):
            return load_idx_splits("fashion-mnist", folder, FASHION_MD5)
    names = ", ".join(f"{s}[.gz]" for s in STEMS)
    raise DataError(
        f"fashion-mnist: files not found; put {names} in {user_dir} or {FASHION_SYSTEM_DIR} "
        "(Debian/Ubuntu: apt-get install dataset-fashion-mnist)"
    )
