"""Start or resume a training run: data, trainer, checkpoints every few epochs, a JSONL metrics log.

This is the library behind `aae train`; it prints nothing (progress goes through callbacks). Under
torchrun (WORLD_SIZE > 1) every process builds the same Run; rank 0 alone writes the checkpoint and the
log (aae_cli/engine/distributed.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aae_cli.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from aae_cli.config import TrainConfig
from aae_cli.data import load_dataset
from aae_cli.data.base import DataSplits
from aae_cli.data.labelled import labelled_subset
from aae_cli.engine.distributed import ProcessGroup
from aae_cli.engine.trainer import Interrupted, Trainer
from aae_cli.errors import AAEError, ConfigError
from aae_cli.variants import DataInfo, get_variant

# Settings a resumed run may change; everything else is fixed by the checkpoint (exact resume).
RESUMABLE = {"epochs", "save_every", "device", "data_dir", "download", "precision"}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}'; valid: auto, cpu, cuda, cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    return dev


def data_info(data: DataSplits) -> DataInfo:
    x = data.train.x
    if x.dtype == np.uint8:
        unit = True
    elif "unit_range" in data.source:  # user data: the reader checked every split
        unit = bool(data.source["unit_range"])
    else:
        unit = x.size == 0 or (float(x.min()) >= 0 and float(x.max()) <= 1)
    return DataInfo(tuple(data.image_shape), data.n_classes, unit)


def data_meta(cfg: TrainConfig, data: DataSplits, info: DataInfo) -> dict[str, Any]:
    """What the checkpoint records of its data: enough to reload the same split and rebuild the model."""
    return {"dataset": cfg.dataset, "limit": cfg.limit, "name": data.name,
            "image_shape": list(info.image_shape),
            "n_classes": info.n_classes, "unit_range": info.unit_range, "source": data.source,
            "sizes": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)}}


def info_from_meta(meta: dict[str, Any]) -> DataInfo:
    return DataInfo(tuple(meta["image_shape"]), meta["n_classes"], bool(meta["unit_range"]))


def check_writable(path: Path) -> None:
    """Fail before training, not after an hour of it, when the checkpoint cannot be written."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AAEError(f"cannot create folder {folder} for the checkpoint: {e.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise AAEError(f"cannot write to {folder}; choose another --out")
    if path.is_dir():
        raise AAEError(f"--out {path} is a folder; give a file name such as {path / 'run.h5'}")


def check_space(path: Path, needed: int) -> None:
    """A full disk is reported before training: the temporary copy needs room beside the old file."""
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise AAEError(f"not enough free space in {path.parent} for the checkpoint: about "
                       f"{needed / 2**20:.1f} MiB needed, {free / 2**20:.1f} MiB free; free some space or "
                       "choose another --out")


def default_out(cfg: TrainConfig) -> Path:
    runs = Path("runs")
    stem = f"{cfg.variant}-{Path(cfg.dataset).stem}-seed{cfg.seed}"
    i = 1
    while (runs / f"{stem}-{i}.h5").exists():
        i += 1
    return runs / f"{stem}-{i}.h5"


# Under torchrun one Ctrl-C reaches a worker twice (from the terminal, and forwarded by torchrun): a second
# signal this soon after the first is the same request.
SAME_REQUEST_S = 2.0


@contextlib.contextmanager
def stop_on_signals(trainer: Trainer) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM from a scheduler): finish the minibatch, save, stop. Second: stop now,
    keeping the last checkpoint. Under torchrun the processes agree on the stop between minibatches."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    first: list[float] = []  # when this process got its first signal

    def handler(signum: int, frame: object) -> None:
        now = time.monotonic()
        if trainer.stop_requested and (trainer.group is None or (first and now - first[0] > SAME_REQUEST_S)):
            raise KeyboardInterrupt
        if not first:
            first.append(now)
        trainer.stop_requested = True

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


class Run:
    """A training run bound to its checkpoint path."""

    def __init__(self, cfg: TrainConfig, out: Path, ckpt: Checkpoint | None = None) -> None:
        get_variant(cfg.variant)  # unknown names fail before any data is read
        cfg.validate()
        self.cfg, self.out = cfg, out
        self.device = resolve_device(cfg.device)
        if cfg.precision == "tf32" and self.device.type != "cuda":
            raise ConfigError("precision tf32 is a CUDA setting; on this device use fp32 (or bf16)")
        self.group = ProcessGroup.join(self.device)  # None unless started by torchrun with WORLD_SIZE > 1
        if self.group is None:
            self._setup(ckpt)
            return
        self.device = self.group.device
        try:  # every process learns of a failure on any of them (data missing on one node, ...)
            self._setup(ckpt)
            failure = None
        except AAEError as e:
            failure = str(e)
        failures = [(r, f) for r, f in enumerate(self.group.gather_objects(failure)) if f is not None]
        if failures:
            rank, message = failures[0]
            self.group.close()
            raise AAEError(message if rank == self.group.rank else f"on rank {rank}: {message}")

    def _setup(self, ckpt: Checkpoint | None) -> None:
        cfg, out = self.cfg, self.out
        if self.is_main:
            check_writable(out)
        self.data = load_dataset(cfg.dataset, cfg.data_dir, download=cfg.download, limit=cfg.limit)
        self.info = data_info(self.data)
        strip = self.data.source.get("image_shape_guessed") and self.info.image_shape[1] == 1
        if cfg.consistency_shifts and strip:
            # rows read as a 1 x D strip for want of an image shape: a shift slides features into each other
            raise ConfigError(f"the consistency phase shifts images, but these data are {self.info.dim}-wide "
                              "rows with no image shape; give images as (N, H, W) or (N, H, W, C) arrays, or "
                              "--set consistency_views=adversarial, or --set consistency_shift=0")
        self.meta = data_meta(cfg, self.data, self.info)
        self.arrays = dict(ckpt.arrays) if ckpt else {}
        labelled = self._labelled_subset(ckpt)
        if labelled is not None:
            self.arrays["labelled"] = labelled
            self.meta["labelled"] = {"count": len(labelled), "seed": self.label_seed, "spec": cfg.labels}
        self.trainer = Trainer(cfg, self.data, self.info, self.device, ckpt, labelled, self.group)
        if self.is_main:
            check_space(out, self.trainer.checkpoint_bytes())

    @property
    def is_main(self) -> bool:
        """This process writes the checkpoint and the log (the only one, or rank 0 under torchrun)."""
        return self.group is None or self.group.is_main

    @property
    def world_size(self) -> int:
        return 1 if self.group is None else self.group.world

    def close(self) -> None:
        """Under torchrun: wait until every process is here (rank 0 has saved), then leave the group."""
        if self.group is not None:
            self.group.close()

    @property
    def label_seed(self) -> int:
        return self.cfg.seed if self.cfg.label_seed is None else self.cfg.label_seed

    def _labelled_subset(self, ckpt: Checkpoint | None) -> np.ndarray | None:
        """Which training labels the model sees; a resumed run keeps the subset it started with."""
        cfg = self.cfg
        use = get_variant(cfg.variant).label_use(cfg)
        if use == "none":
            if cfg.labels is not None:
                raise ConfigError(f"variant '{cfg.variant}' does not use labels; drop --labels")
            return None
        if self.data.n_classes is None or self.data.train.y is None:
            raise ConfigError(f"variant '{cfg.variant}' needs labels but dataset '{cfg.dataset}' has none; "
                              "give a labelled dataset (npz/h5 with y, or class subfolders)")
        if use == "all":
            return None
        if cfg.labels is None:
            raise ConfigError(f"variant '{cfg.variant}' needs --labels N (or all)")
        if ckpt is not None and "labelled" in ckpt.arrays:
            return np.asarray(ckpt.arrays["labelled"], dtype=np.int64)
        return labelled_subset(self.data.train.y, cfg.labels, self.data.n_classes, self.label_seed)

    @classmethod
    def resume(cls, path: Path, overrides: dict[str, Any], out: Path | None = None) -> Run:
        ck = load_checkpoint(path)
        fixed = {k: v for k, v in overrides.items() if k not in RESUMABLE and ck.config.get(k) != v}
        if fixed:
            raise ConfigError(f"cannot change {', '.join(sorted(fixed))} when resuming (fixed by {path}); "
                              f"a resumed run may only change: {', '.join(sorted(RESUMABLE))}")
        cfg = TrainConfig.from_dict({**ck.config, **overrides}, where=str(path))
        return cls(cfg, out or path, ck)

    @property
    def metrics_path(self) -> Path:
        return self.out.with_suffix(".jsonl")

    def save(self) -> None:
        if self.is_main:
            save_checkpoint(self.out, self.trainer.to_checkpoint(self.meta, self.arrays))

    def fit(self, on_epoch_start: Callable[[int, int], None] | None = None,
            on_step: Callable[[int, int], None] | None = None,
            on_epoch_end: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """Train until cfg.epochs; checkpoint every save_every epochs and at the end."""
        t, cfg = self.trainer, self.cfg
        # The log is rewritten from the checkpoint's history, so a resumed run never duplicates lines. A
        # fresh run starts with none (epochs append it), so one that fails in epoch 1 leaves no empty log.
        if self.is_main:
            if t.history:
                with open(self.metrics_path, "w", encoding="utf-8") as log:
                    for rec in t.history:
                        log.write(json.dumps(rec) + "\n")
            else:
                self.metrics_path.unlink(missing_ok=True)  # a stale log of an earlier run at this path
        new = []
        with stop_on_signals(t):
            while t.epoch < cfg.epochs:
                if (stop := t.stop_agreed()) is not None:  # it came during the end-of-epoch work
                    self.save()
                    raise stop
                if on_epoch_start:
                    on_epoch_start(t.epoch + 1, t.batches())
                try:
                    rec = t.train_epoch(on_step)
                except Interrupted:
                    self.save()  # mid-epoch, exactly resumable
                    raise
                new.append(rec)
                self._log_and_save(rec)
                if on_epoch_end:
                    on_epoch_end(rec)
        if self.is_main and not self.out.exists():  # e.g. --epochs equal to the checkpoint's epoch
            self.save()
        return new

    def _log_and_save(self, rec: dict[str, Any]) -> None:
        if self.is_main:
            with open(self.metrics_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(rec) + "\n")
        epoch, cfg = self.trainer.epoch, self.cfg
        if epoch % cfg.save_every == 0 or epoch == cfg.epochs:
            self.save()

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.cfg)
