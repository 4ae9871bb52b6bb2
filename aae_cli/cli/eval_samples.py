"""`aae eval samples`: Fréchet distance, kernel distance, precision and recall of a model's samples.

Computed on the features of the MNIST classifier the project ships (aae_cli/metrics/feature_net.py),
against n test images (a fixed random n; all 10,000 at the default --n); the same numbers for n
validation images against the same test images are printed beside them as the real-vs-real reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aae_cli.cli.common import cli_errors, err, is_terminal, out, print_table
from aae_cli.errors import AAEError

Opt = typer.Option

MNIST_SHAPE = (1, 28, 28)
MNIST_DIM = 784
MIN_N = 10
REAL_SUBSET_SEED = 0  # which test and validation images are the real sets when --n is below their size
ROWS = (("FD", "fd"), ("KD", "kd"), ("precision", "precision"), ("recall", "recall"))


def _note(message: str) -> None:
    if is_terminal():
        err.print(message, highlight=False, soft_wrap=True)


def _read_samples_file(path: Path, n: int) -> Any:
    """The first n rows (all, if fewer) of an .npy of shape (N, 784), (N, 28, 28) or (N, 1, 28, 28) as
    (n, 784) float32 pixels in [0, 1]."""
    import numpy as np

    from aae_cli.data.base import to_float32

    try:
        x = np.load(path, allow_pickle=False, mmap_mode="r")  # reads only the rows used
    except FileNotFoundError:
        raise AAEError(f"--samples-file {path}: no such file") from None
    except (OSError, ValueError, EOFError, SyntaxError):
        raise AAEError(f"--samples-file {path}: not a readable .npy array (write one with numpy.save; "
                       "pickled object arrays are not read)") from None
    if not isinstance(x, np.ndarray):  # an .npz archive
        x.close()
        raise AAEError(f"--samples-file {path}: an .npz archive; give one array saved with numpy.save")
    if x.shape[1:] not in ((MNIST_DIM,), (28, 28), MNIST_SHAPE):
        shape = tuple(x.shape)
        raise AAEError(f"--samples-file {path}: shape {shape}, expected (N, {MNIST_DIM}) MNIST-shaped rows "
                       "(or (N, 28, 28)) of pixels in [0, 1]")
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise AAEError(f"--samples-file {path}: dtype {x.dtype}; expected float pixels in [0, 1] or uint8")
    if len(x) < MIN_N:
        raise AAEError(f"--samples-file {path}: {len(x)} rows, need at least {MIN_N}")
    x = to_float32(np.array(x[:n]).reshape(-1, MNIST_DIM))
    if not np.isfinite(x).all():
        raise AAEError(f"--samples-file {path}: has NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise AAEError(f"--samples-file {path}: values in [{lo:.3g}, {hi:.3g}], expected pixels in [0, 1]")
    return x


def _subset(total: int, n: int) -> Any:
    """Sorted indices of a fixed random n of `total` rows (all of them when n == total)."""
    import numpy as np

    return np.sort(np.random.default_rng(REAL_SUBSET_SEED).permutation(total)[:n])


def _check_shape(shape: tuple[int, ...], what: str) -> None:
    if tuple(shape) != MNIST_SHAPE:
        raise AAEError(f"{what} has images of shape {'x'.join(map(str, shape))}; eval samples supports only "
                       f"MNIST-shaped data (1x28x28, D = {MNIST_DIM}), the input of its shipped classifier")


def _model_samples(model: Any, n: int, seed: int, dev: Any, where: Path) -> Any:
    """n prior draws decoded to data space, float32 clipped to [0, 1]."""
    import numpy as np
    import torch

    gen = torch.Generator(device=dev).manual_seed(seed)
    parts = []
    with torch.no_grad():
        for start in range(0, n, 1000):
            parts.append(model.sample(min(1000, n - start), gen).float().cpu().numpy())
    x = np.concatenate(parts)
    if x.shape != (n, MNIST_DIM) or not np.isfinite(x).all():
        raise AAEError(f"{where}: the model's samples are not finite (n, {MNIST_DIM}) rows; "
                       "the run may have diverged")
    return np.clip(x, 0.0, 1.0)


@cli_errors
def samples(
    checkpoint: Annotated[Path | None, typer.Argument(help="a checkpoint written by aae train "
                                                      "(optional with --samples-file)")] = None,
    n: Annotated[int, Opt("--n", help="how many samples (and test, validation images) to compare")] = 10000,
    seed: Annotated[int, Opt(help="seed of the prior draws and of the KD subsets")] = 0,
    samples_file: Annotated[Path | None, Opt(help="evaluate these samples: an .npy of shape (N, 784), "
                                             "pixels in [0, 1]; its first --n rows are used")] = None,
    device: Annotated[str, Opt(help="auto | cpu | cuda")] = "auto",
    data_dir: Annotated[str | None, Opt(help="folder of dataset files")] = None,
    json_: Annotated[bool, Opt("--json", help="print one JSON object")] = False,
) -> None:
    """Sample quality: Fréchet distance (FD), kernel distance (KD, mean ± std over subsets), precision and
    recall on the features of the shipped MNIST classifier: n samples vs n test images, beside n
    validation vs the same test images as the real-vs-real reference. Lower FD/KD and higher
    precision/recall are better; precision alone can be high for collapsed samples (read it with
    recall)."""
    import numpy as np

    from aae_cli.data import load_dataset
    from aae_cli.engine.session import resolve_device
    from aae_cli.metrics.feature_net import WEIGHTS_SHA256, compute_features, load_feature_net
    from aae_cli.metrics.sample_quality import all_metrics, knn_radii

    if checkpoint is None and samples_file is None:
        raise AAEError("give a CHECKPOINT to sample from, or --samples-file FILE.npy")
    if checkpoint is not None and samples_file is not None:
        raise AAEError("give either a CHECKPOINT or --samples-file, not both")
    if n < MIN_N:
        raise AAEError(f"--n must be at least {MIN_N}, got {n}")
    dev = resolve_device(device)

    fake, model = None, None
    if samples_file is not None:
        fake = _read_samples_file(samples_file, n)
        n, dataset, source = len(fake), "mnist", str(samples_file)
    else:
        from aae_cli.engine.model_io import load_model

        model, ck = load_model(checkpoint, dev)
        _check_shape(model.info.image_shape, str(checkpoint))
        dataset, source = str(ck.data["dataset"]), str(checkpoint)

    data = load_dataset(dataset, data_dir)
    _check_shape(data.image_shape, f"dataset '{data.name}'")
    if data.test.x.dtype != np.uint8 and (data.source.get("unit_range") is False
                                          or float(data.test.x.min()) < 0 or float(data.test.x.max()) > 1):
        raise AAEError(f"dataset '{data.name}' is not pixels in [0, 1]; eval samples needs [0, 1] images")
    limit = min(len(data.test), len(data.validation))
    if n > limit:
        raise AAEError(f"--n {n} is more than the {limit} test / validation images of {data.name}; "
                       f"use --n {limit} or fewer")
    if data.name != "mnist":
        err.print(f"note: '{data.name}' is scored with features of an MNIST-digit classifier; compare the "
                  "numbers only with the reference column and other models on the same data",
                  highlight=False, soft_wrap=True)

    net = load_feature_net(dev)
    if fake is None:
        _note(f"drawing {n} samples from {checkpoint}")
        fake = _model_samples(model, n, seed, dev, checkpoint)
    _note("computing features and metrics")
    f_fake = compute_features(net, fake, dev)
    # The real sets are a fixed random n of each split, the same for every model and --seed: MNIST's test
    # file is ordered (its first 5,000 digits are cleaner than the last), so its first n would be biased.
    f_test = compute_features(net, data.test.x[_subset(len(data.test), n)], dev)
    f_val = compute_features(net, data.validation.x[_subset(len(data.validation), n)], dev)
    radii = knn_radii(f_test)  # the real manifold, shared by both columns
    result: dict[str, Any] = {
        "samples": all_metrics(f_test, f_fake, seed=seed, real_radii=radii),
        "reference": all_metrics(f_test, f_val, seed=seed, real_radii=radii),
        "n": n, "seed": seed, "feature_net": WEIGHTS_SHA256[:12], "dataset": data.name, "source": source,
    }
    if json_:
        import json
        import sys

        sys.stdout.write(json.dumps(result) + "\n")
        return
    _print_table(result)


def _print_table(result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"aae eval samples — {Path(result['source']).name}, n = {result['n']}, "
                        f"seed {result['seed']}", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("samples vs test", justify="right")
    table.add_column("validation vs test (reference)", justify="right")
    for label, key in ROWS:
        cells = []
        for col in ("samples", "reference"):
            m = result[col]
            cells.append(f"{m['kd']:.4g} ± {m['kd_std']:.2g}" if key == "kd" else f"{m[key]:.4g}")
        table.add_row(label, *cells)
    print_table(table)
    out.print(f"features: the shipped MNIST classifier {result['feature_net']} (128-d). FD, KD: lower is "
              "better; precision (fidelity), recall (coverage): higher is better. Precision alone can be "
              "high for collapsed samples; read it with recall.", highlight=False, soft_wrap=True)
