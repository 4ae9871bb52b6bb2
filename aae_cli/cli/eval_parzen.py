"""`aae eval parzen`: Parzen-window log-likelihood of model samples (paper Table 1, PROTOCOLS.md).

Samples are drawn in blocks of 1,000, block b from a generator seeded by (seed, b), scored as they come
and dropped, so memory does not grow with --samples and the estimate does not depend on --chunk. Under
torchrun (WORLD_SIZE > 1) block b goes to rank b % WORLD_SIZE and the per-query partial sums are merged
exactly, so K processes give the single-process number.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from aae_cli.cli.common import cli_errors, err, print_result
from aae_cli.cli.progress import BarProgress
from aae_cli.errors import AAEError, DataError

Opt = typer.Option
DEFAULT_SAMPLES = 10_000
SAMPLE_KEYS = ("samples", "x")


@cli_errors
def parzen(
    checkpoint: Annotated[Path | None, typer.Argument(
        help="a checkpoint written by aae train (optional with --samples-file)")] = None,
    samples: Annotated[int | None, Opt("--samples", help="number of samples (kernel centres): default "
                                       f"{DEFAULT_SAMPLES}, or every row of --samples-file")] = None,
    seed: Annotated[int, Opt(help="seed of the model samples (block b is drawn with seed (S, b))")] = 0,
    chunk: Annotated[int, Opt(help="samples scored at once, rounded up to a multiple of 1000 "
                              "(memory ~ chunk x D x 4 bytes); the result does not depend on it")] = 10_000,
    samples_file: Annotated[Path | None, Opt(help="score these samples instead of drawing from a model: "
                                             ".npy, .npz or .h5 of shape (N, D), key 'samples' or 'x' "
                                             "or the only array")] = None,
    dataset: Annotated[str | None, Opt(help="data to score (validation picks sigma, test is reported): a "
                                       "dataset name or path; default the checkpoint's, else mnist")] = None,
    data_dir: Annotated[str | None, Opt(help="folder of dataset files")] = None,
    device: Annotated[str, Opt(help="auto | cpu | cuda")] = "auto",
    json_: Annotated[bool, Opt("--json", help="print the result as one JSON object")] = False,
) -> None:
    """Parzen-window log-likelihood of the test set under model samples (sigma chosen on validation)."""
    if checkpoint is None and samples_file is None:
        raise AAEError("give a CHECKPOINT to draw samples from, or --samples-file FILE")
    if samples is not None and samples < 1:
        raise AAEError(f"--samples must be at least 1, got {samples}")
    if chunk < 1:
        raise AAEError(f"--chunk must be at least 1, got {chunk}")
    if seed < 0:
        raise AAEError(f"--seed must be a non-negative integer, got {seed}")
    result = parzen_result(checkpoint, samples, seed, chunk, samples_file, dataset, data_dir, device)
    if result is None:  # not rank 0
        return
    if json_:
        print_result("aae eval parzen", result, True)
        return
    shown = {k: v for k, v in result.items() if k not in ("sigmas", "val_means")}
    shown["mean"] = f"{result['mean']:.2f} ± {result['stderr']:.2f}"
    pairs = zip(result["sigmas"], result["val_means"], strict=True)
    shown.update({f"validation mean at sigma {s:.3f}": round(v, 2) for s, v in pairs})
    print_result("aae eval parzen", shown, False)


def parzen_result(checkpoint: Path | None, samples: int | None, seed: int, chunk: int,
                  samples_file: Path | None, dataset: str | None, data_dir: str | None,
                  device: str) -> dict[str, Any] | None:
    """The Parzen protocol on a checkpoint's samples or a samples file; None on ranks other than 0."""
    import numpy as np
    import torch

    from aae_cli.data import load_dataset, to_float32
    from aae_cli.engine.distributed import ProcessGroup
    from aae_cli.engine.session import resolve_device
    from aae_cli.metrics.parzen import (
        N_SELECT,
        SAMPLE_BLOCK,
        SIGMAS,
        all_reduce_state,
        parzen_evaluate,
        rechunk,
    )

    dev = resolve_device(device)

    group = ProcessGroup.join(dev)  # under torchrun: gloo on CPU, nccl on cuda:LOCAL_RANK
    if group is not None:
        dev = group.device
    world, rank = (1, 0) if group is None else (group.world, group.rank)
    try:
        model, ck_data = None, {}
        if checkpoint is not None:
            if samples_file is None:
                from aae_cli.engine.model_io import load_model

                model, ck = load_model(checkpoint, dev)
            else:
                from aae_cli.checkpoint import load_checkpoint

                ck = load_checkpoint(checkpoint)
            ck_data = ck.data
        spec = dataset or ck_data.get("dataset") or "mnist"
        data = load_dataset(spec, data_dir)
        dim = data.dim
        if len(data.validation) < 1 or len(data.test) < 1:
            raise DataError(f"{data.name}: needs validation and test rows to score "
                            f"(has {len(data.validation)} and {len(data.test)})")
        if model is not None and model.info.dim != dim:
            raise AAEError(f"{checkpoint} makes samples of D = {model.info.dim} but {spec} has D = {dim}; "
                           "drop --dataset or give the data the model was trained on")

        test_np = to_float32(np.asarray(data.test.x)).reshape(-1, dim)
        closer: Callable[[], None] = lambda: None  # noqa: E731
        if samples_file is not None:
            lo, hi = float(test_np.min()), float(test_np.max())
            pad = (hi - lo) or 1.0  # constant test data: still allow an overshoot of 1
            rows, closer = _open_samples(samples_file, dim)
            n = len(rows) if samples is None else samples
            if n > len(rows):
                raise AAEError(f"--samples {n} is more than the {len(rows)} rows of {samples_file}")

            def block(b: int, size: int) -> torch.Tensor:
                x = np.array(rows[b * SAMPLE_BLOCK:b * SAMPLE_BLOCK + size]).reshape(size, dim)  # a copy
                x = to_float32(x)
                if not np.isfinite(x).all():
                    raise DataError(f"{samples_file}: rows {b * SAMPLE_BLOCK}..{b * SAMPLE_BLOCK + size - 1} "
                                    "hold NaN or infinite values")
                # float pixels in 0-255 against data in [0, 1] score as garbage, not as an error: say so
                if x.min() < lo - pad or x.max() > hi + pad:
                    raise DataError(f"{samples_file}: rows {b * SAMPLE_BLOCK}..{b * SAMPLE_BLOCK + size - 1} "
                                    f"span [{x.min():.4g}, {x.max():.4g}], far outside the data's "
                                    f"[{lo:.4g}, {hi:.4g}]; rescale the samples to the data's range (float "
                                    "pixels of 0-255 divided by 255, or saved as uint8)")
                return torch.from_numpy(x)
        else:
            assert model is not None
            n = DEFAULT_SAMPLES if samples is None else samples
            gen = torch.Generator(device=dev)

            def block(b: int, size: int) -> torch.Tensor:
                gen.manual_seed(block_seed(seed, b))
                x = model.sample(size, gen).float().reshape(size, -1)
                if x.shape[1] != dim:
                    raise AAEError(f"{checkpoint}: samples have D = {x.shape[1]}, the data D = {dim}")
                return x

        n_blocks = math.ceil(n / SAMPLE_BLOCK)
        mine = [b for b in range(n_blocks) if b % world == rank]
        sizes = {b: min(SAMPLE_BLOCK, n - b * SAMPLE_BLOCK) for b in mine}

        def blocks() -> Iterator[torch.Tensor]:
            for b in mine:
                yield block(b, sizes[b])

        chunk_rows = math.ceil(chunk / SAMPLE_BLOCK) * SAMPLE_BLOCK
        val = torch.from_numpy(to_float32(np.asarray(data.validation.x[:N_SELECT])).reshape(-1, dim)).to(dev)
        test = torch.from_numpy(test_np).to(dev)
        progress = _Progress(sum(sizes.values()), f"parzen {n} samples", quiet=rank != 0)
        t0 = time.perf_counter()
        try:
            with torch.no_grad(), progress:
                res = parzen_evaluate(val, test, rechunk(blocks(), chunk_rows), SIGMAS,
                                      reduce=all_reduce_state if world > 1 else None,
                                      seed=None if samples_file is not None else seed, chunk=chunk_rows,
                                      on_chunk=progress.advance)
        finally:
            closer()
        seconds = time.perf_counter() - t0
    finally:
        if group is not None:
            group.close()
    if rank != 0:
        return None
    result: dict[str, Any] = {
        "mean": res.mean, "stderr": res.stderr, "sigma": res.sigma, "n_samples": res.n_samples,
        "seed": res.seed, "sigmas": res.sigmas, "val_means": res.val_means,
        # the test score at every sigma, for reference only (never chosen on): how far the grid's choice is
        # from, e.g., the sigma another N chose
        "test_means": res.test_means, "dataset": data.name,
        "n_test": res.n_test, "n_validation": res.n_validation, "seconds": round(seconds, 3),
        "chunk": chunk_rows, "source": str(samples_file if samples_file is not None else checkpoint),
        "world_size": world, "device": str(dev),
    }
    return result


def block_seed(seed: int, block: int) -> int:
    """A 63-bit seed for block `block` of the stream with seed `seed` (distinct pairs, distinct seeds)."""
    import numpy as np

    hi, lo = np.random.SeedSequence([seed, block]).generate_state(2, np.uint32)
    return ((int(hi) << 32) | int(lo)) & ((1 << 63) - 1)


def _open_samples(path: Path, dim: int) -> tuple[Any, Callable[[], None]]:
    """A sliceable (N, ...) array of samples read lazily where the format allows (.npy memory-mapped,
    .h5 by slices; .npz is read whole), and a function that closes the file."""
    import zipfile

    import numpy as np

    if not path.is_file():
        raise AAEError(f"--samples-file {path}: no such file")
    suffix = path.suffix.lower()
    closer: Callable[[], None] = lambda: None  # noqa: E731
    try:
        if suffix == ".npy":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arr = z[_pick_key(path, list(z.files))]
        elif suffix in (".h5", ".hdf5"):
            import h5py

            f = h5py.File(path, "r")
            closer = f.close
            names = [k for k in f if isinstance(f[k], h5py.Dataset)]
            arr = f[_pick_key(path, names)]
        else:
            raise AAEError(f"--samples-file {path}: unsupported file type {suffix or '(none)'}; "
                           "give .npy, .npz or .h5")
    except (OSError, ValueError, zipfile.BadZipFile, KeyError) as e:
        closer()
        raise AAEError(f"--samples-file {path}: cannot read it ({e})") from None
    shape = tuple(int(s) for s in arr.shape)
    kind = np.dtype(arr.dtype).kind
    if len(shape) < 2 or math.prod(shape[1:]) != dim or kind not in "fiu":
        closer()
        raise DataError(f"--samples-file {path}: samples of shape {shape} and dtype {arr.dtype}; expected "
                        f"numbers of shape (N, {dim}) (or (N, C, H, W) images with C*H*W = {dim}) "
                        "to match the data")
    if shape[0] < 1:
        closer()
        raise DataError(f"--samples-file {path}: holds no samples (shape {shape})")
    return arr, closer


def _pick_key(path: Path, names: list[str]) -> str:
    for k in SAMPLE_KEYS:
        if k in names:
            return k
    if len(names) == 1:
        return names[0]
    raise AAEError(f"--samples-file {path}: holds arrays {', '.join(names) or '(none)'}; name the samples "
                   f"array {' or '.join(repr(k) for k in SAMPLE_KEYS)}, or keep only one array in the file")


class _Progress(BarProgress):
    """A rich bar on a terminal, a plain line every ~5% otherwise (on stderr)."""

    def __init__(self, total: int, label: str, quiet: bool = False) -> None:
        super().__init__(quiet)
        self.total, self.label = max(total, 1), label
        self.done, self.next_line, self.t0 = 0, 0.05, time.perf_counter()
        if self.bar:
            self.task = self.bar.add_task(label, total=self.total)

    def advance(self, m: int) -> None:
        self.done += m
        if self.quiet:
            return
        if self.bar:
            self.bar.update(self.task, completed=self.done)
            return
        frac = self.done / self.total
        if frac >= self.next_line or self.done >= self.total:
            s = time.perf_counter() - self.t0
            err.print(f"{self.label}: {self.done}/{self.total} ({100 * frac:.0f}%) {s:.1f}s, "
                      f"{self.done / max(s, 1e-9):.0f} samples/s", highlight=False, soft_wrap=True)
            while self.next_line <= frac:
                self.next_line += 0.05
