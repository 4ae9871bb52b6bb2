"""The phase loop: on every minibatch, every phase of the variant in order, each with its own optimizer.

The engine knows nothing of any particular model: a variant declares which sub-networks each phase
trains and how its loss is computed (aae_cli/variants/base.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from aae_cli.checkpoint import Checkpoint
from aae_cli.config import TrainConfig
from aae_cli.data.base import DataSplits
from aae_cli.engine.optim import lr_scale, make_optimizer
from aae_cli.errors import AAEError
from aae_cli.variants import Batch, DataInfo, Variant, get_variant

# Below this many bytes the training images live on the device as float32 (no per-batch conversion).
_FLOAT_CACHE_BYTES = 2 << 30


class Diverged(AAEError):
    """A loss became NaN or infinite."""


def device_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    t = torch.tensor(x)  # a copy: the reader's arrays may be read-only
    if t.dtype == torch.uint8 and t.numel() * 4 < _FLOAT_CACHE_BYTES:
        return t.to(device).float().div_(255.0)
    return t.to(device)


def as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


class Trainer:
    def __init__(self, cfg: TrainConfig, data: DataSplits, info: DataInfo, device: torch.device,
                 ckpt: Checkpoint | None = None) -> None:
        self.cfg, self.data, self.info, self.device = cfg, data, info, device
        torch.manual_seed(cfg.seed)  # global stream: dropout and anything else not given a generator
        prior_arrays = ckpt.priors.get("z") if ckpt else None
        self.model: Variant = get_variant(cfg.variant)(cfg, info, prior_arrays).to(device)
        self.phases = self.model.phases
        self.opts = {}
        for ph in self.phases:
            params = [p for net in ph.trains for p in self.model.nets[net].parameters()]
            self.opts[ph.name] = make_optimizer(cfg, params, getattr(cfg, ph.lr), getattr(cfg, ph.momentum))
        self.base_lr = {ph.name: getattr(cfg, ph.lr) for ph in self.phases}
        self.gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)  # prior draws, noise
        self.x = device_tensor(data.train.x, device)
        self.y = None if data.train.y is None else torch.from_numpy(data.train.y).to(device)
        self.x_val = device_tensor(data.validation.x[:10000], device) if len(data.validation) else None
        self.epoch, self.step, self.history = 0, 0, []
        if ckpt is not None:
            self.restore(ckpt)

    # -- one epoch ---------------------------------------------------------------------------------
    def batches(self) -> int:
        return max(1, len(self.x) // self.cfg.batch_size)

    def train_epoch(self, on_step: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        cfg, model = self.cfg, self.model
        scale = lr_scale(cfg, self.epoch)
        for ph in self.phases:
            for group in self.opts[ph.name].param_groups:
                group["lr"] = self.base_lr[ph.name] * scale
        model.train()
        # The shuffle depends only on (seed, epoch): resuming needs no shuffle state.
        shuffle = torch.Generator().manual_seed(cfg.seed * 100003 + self.epoch)
        perm = torch.randperm(len(self.x), generator=shuffle)
        perm = perm.to(self.device)
        n_batches, bs = self.batches(), min(cfg.batch_size, len(self.x))
        sums: dict[str, torch.Tensor] = {}
        start = time.perf_counter()
        for i in range(n_batches):
            idx = perm[i * bs:(i + 1) * bs]
            batch = Batch(x=as_float(self.x[idx]), y=None if self.y is None else self.y[idx])
            for ph in self.phases:
                loss, extras = getattr(model, ph.loss)(batch, self.gen)
                opt = self.opts[ph.name]
                opt.zero_grad(set_to_none=True)
                # inputs=: gradients only for the weights this phase owns (no wasted work, no leaks)
                params = [p for g in opt.param_groups for p in g["params"]]
                loss.backward(inputs=params)
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                for k, v in {ph.name: loss, **extras}.items():  # summed on the device: no sync per step
                    sums[k] = sums.get(k, 0) + v.detach()
            self.step += 1
            if on_step is not None:
                on_step(i + 1, n_batches)
        seconds = time.perf_counter() - start
        record: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step}
        for k, v in sums.items():
            record[k] = float(v) / n_batches
        bad = [ph.name for ph in self.phases if not np.isfinite(record[ph.name])]
        if bad:
            raise Diverged(f"training diverged in epoch {self.epoch + 1}: the {bad[0]} phase loss is "
                           f"{record[bad[0]]}; the last good checkpoint is kept; lower the learning "
                           "rates or set grad_clip (--set grad_clip=5)")
        if self.x_val is not None:
            model.eval()
            record.update({f"val_{k}": v for k, v in model.evaluate(self.x_val).items()})
        record.update({"lr_scale": scale, "seconds": round(seconds, 3),
                       "images_per_s": round(n_batches * bs / max(seconds, 1e-9), 1)})
        self.epoch += 1
        self.history.append(record)
        return record

    # -- checkpoint state --------------------------------------------------------------------------
    def to_checkpoint(self, data_meta: dict[str, Any]) -> Checkpoint:
        import dataclasses

        nets = {name: dict(net.state_dict()) for name, net in self.model.nets.items()}
        rng = {"torch_cpu": torch.get_rng_state(), "generator": self.gen.get_state()}
        if torch.cuda.is_available() and self.device.type == "cuda":
            rng["torch_cuda"] = torch.cuda.get_rng_state(self.device)
        return Checkpoint(config=dataclasses.asdict(self.cfg), data=data_meta, epoch=self.epoch,
                          step=self.step, history=list(self.history), nets=nets,
                          optim={k: o.state_dict() for k, o in self.opts.items()}, rng=rng,
                          priors={k: a for k, p in self.model.priors.items() if (a := p.arrays())})

    def restore(self, ck: Checkpoint) -> None:
        for name, net in self.model.nets.items():
            net.load_state_dict(ck.nets[name])
        for name, opt in self.opts.items():
            opt.load_state_dict(ck.optim[name])
        torch.set_rng_state(ck.rng["torch_cpu"])
        self.gen.set_state(ck.rng["generator"])
        if "torch_cuda" in ck.rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(ck.rng["torch_cuda"], self.device)
        self.epoch, self.step, self.history = ck.epoch, ck.step, list(ck.history)
