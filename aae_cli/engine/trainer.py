"""The phase loop: on every minibatch, every phase of the variant in order, each with its own optimizer.

The engine knows nothing of any particular model: a variant declares which sub-networks each phase
trains and how its loss is computed (aae_cli/variants/base.py). Under torchrun each process trains on its
slice of every minibatch, each phase wrapped in DistributedDataParallel (aae_cli/engine/distributed.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from aae_cli.checkpoint import Checkpoint
from aae_cli.config import TrainConfig
from aae_cli.data.base import DataSplits, Split
from aae_cli.engine.distributed import ProcessGroup, wrap_phase
from aae_cli.engine.optim import lr_scale, make_optimizer
from aae_cli.errors import AAEError, ConfigError
from aae_cli.shard import sharded
from aae_cli.variants import Batch, DataInfo, Phase, Variant, get_variant

# Below this many bytes the training images live on the device as float32 (no per-batch conversion).
_FLOAT_CACHE_BYTES = 2 << 30


class Diverged(AAEError):
    """A loss became NaN or infinite."""


class Interrupted(Exception):
    """Training stopped between two minibatches at the user's request (Ctrl-C, SIGTERM)."""


class OutOfTime(Interrupted):
    """Training stopped between two minibatches because its time limit (--time-limit) was reached."""


# What stopped training, agreed over the processes as the largest code: a signal outranks the time limit.
_NO_STOP, _TIME_UP, _SIGNALLED = 0, 1, 2


def device_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    t = torch.tensor(x)  # a copy: the reader's arrays may be read-only
    if t.dtype == torch.uint8 and t.numel() * 4 < _FLOAT_CACHE_BYTES:
        return t.to(device).float().div_(255.0)
    return t.to(device)


def as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


def cfg_seed_mix(seed: int, epoch: int, stream: int) -> int:
    """A seed per (run seed, epoch, stream): shuffles need no saved state to resume exactly."""
    return (seed * 1_000_003 + epoch) * 7 + stream


def bf16_native(device: torch.device) -> bool:
    """Whether bfloat16 matmuls run natively here (on a CPU without AVX512-BF16/AMX they are emulated:
    measured 20x slower than float32 on the 2-core EPYC of docs/PERFORMANCE.md)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class Trainer:
    def __init__(self, cfg: TrainConfig, data: DataSplits, info: DataInfo, device: torch.device,
                 ckpt: Checkpoint | None = None, labelled: np.ndarray | None = None,
                 group: ProcessGroup | None = None) -> None:
        self.cfg, self.data, self.info, self.device = cfg, data, info, device
        self.group = group  # None: one process
        if group is not None:
            bs = min(cfg.batch_size, len(data.train))
            if bs % group.world:
                raise ConfigError(f"a minibatch of {bs} does not split evenly over {group.world} processes; "
                                  f"choose a --batch-size divisible by {group.world} (or another "
                                  "--nproc-per-node)")
        torch.manual_seed(cfg.seed)  # global stream: dropout and anything else not given a generator
        if cfg.precision == "tf32":  # CUDA only (Run checks): matmuls in TF32, as many GPU codes do
            torch.backends.cuda.matmul.allow_tf32 = True
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
        if cfg.standardize and ckpt is None:
            self.model.nets["scaler"].fit(self.x)
        if self.x.dtype != torch.uint8:  # float on the device: standardise once, not per batch
            self.x = self.model.to_model(self.x)
        self.y = self._labels_given(data, labelled)
        self.labelled = None if labelled is None else torch.from_numpy(labelled).to(device)
        main = group is None or group.is_main  # under torchrun rank 0 alone evaluates
        self.held_out = {split: self._held_out(getattr(data, split)) if main else None
                         for split in ("validation", "test")}
        self.epoch, self.step, self.history = 0, 0, []
        # Position inside an interrupted epoch: batches done, their metric sums and seconds.
        self.batch, self.partial, self.partial_seconds = 0, {}, 0.0
        self.stop_requested = False  # set from a signal handler; checked between minibatches
        self.deadline: float | None = None  # time.monotonic() at which training stops and saves
        self.deadline_step = 0  # the step when the deadline was set (set_time_limit)
        self.rng_restarted = False  # resumed on another kind of device: the random draws differ from here
        if ckpt is not None:
            self.restore(ckpt)
        # One DDP per phase, around that phase's own networks (the variant's objects, shared): its
        # gradients are averaged over the processes before the phase's optimizer step.
        self.ddp = {} if group is None else self._wrap_phases()

    def _labels_given(self, data: DataSplits, labelled: np.ndarray | None) -> torch.Tensor | None:
        """(N,) the labels the model may see: all, those of the labelled subset (-1 elsewhere), or none."""
        use = self.model.label_use(self.cfg)
        if use == "none" or data.train.y is None:
            return None
        y = torch.from_numpy(np.asarray(data.train.y, dtype=np.int64))
        if use == "subset" and labelled is not None:
            known = torch.full_like(y, -1)
            known[labelled] = y[labelled]
            y = known
        return y.to(self.device)

    def _held_out(self, split: Split) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        if not len(split):
            return None
        x = self.model.to_model(as_float(device_tensor(split.x[:10000], self.device)))
        y = None if split.y is None else torch.from_numpy(np.asarray(split.y[:10000])).to(self.device)
        return x, y

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
        shuffle = torch.Generator().manual_seed(cfg_seed_mix(cfg.seed, self.epoch, 0))
        perm = torch.randperm(len(self.x), generator=shuffle)
        perm = perm.to(self.device)
        n_batches, bs = self.batches(), min(cfg.batch_size, len(self.x))
        lab_order = self._labelled_order(n_batches * bs) if model.labelled_batches else None
        sums = {k: torch.tensor(v, device=self.device) for k, v in self.partial.items()}
        start = time.perf_counter() - self.partial_seconds
        # Every process: the same permutation, its own contiguous slice of each global minibatch.
        mine = slice(None) if self.group is None else self.group.rows(bs)
        with sharded(None if self.group is None else self.group.shard()):
            for i in range(self.batch, n_batches):
                idx = perm[i * bs:(i + 1) * bs][mine]
                batch = Batch(x=self._x(idx), y=None if self.y is None else self.y[idx])
                if lab_order is not None:
                    lab = lab_order[i * bs:(i + 1) * bs][mine]
                    batch.x_lab, batch.y_lab = self._x(lab), self.y[lab]
                for ph in self.phases:
                    # gen_steps: the generator phases repeat (a fresh loss each step); the last is logged
                    for _ in range(cfg.gen_steps - 1 if ph.lr == "lr_gen" else 0):
                        self.run_phase(ph, batch)
                    loss, extras = self.run_phase(ph, batch)
                    for k, v in {ph.name: loss, **extras}.items():  # summed on the device: no sync per step
                        sums[k] = sums.get(k, 0) + v.detach()
                self.step += 1
                self.batch = i + 1
                if on_step is not None:
                    on_step(i + 1, n_batches)
                if self.batch < n_batches and (stop := self.stop_agreed()) is not None:
                    self.partial = {k: float(v) for k, v in self.across_ranks(sums).items()}
                    self.partial_seconds = time.perf_counter() - start
                    raise stop
        sums = self.across_ranks(sums)
        seconds = time.perf_counter() - start
        self.batch, self.partial, self.partial_seconds = 0, {}, 0.0
        record: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step}
        for k, v in sums.items():
            record[k] = float(v) / n_batches
        bad = [ph.name for ph in self.phases if not np.isfinite(record[ph.name])]
        if bad:
            raise Diverged(f"training diverged in epoch {self.epoch + 1}: the {bad[0]} phase loss is "
                           f"{record[bad[0]]}; nothing from this epoch was saved (a checkpoint already "
                           "written is kept); lower the learning rates or set grad_clip (--set grad_clip=5)")
        model.eval()
        for split, prefix in (("validation", "val_"), ("test", "test_")):
            if self.held_out[split] is not None:
                metrics = model.evaluate(*self.held_out[split])
                # test: only the paper's reported number (error), never used to choose anything
                keep = [k for k in metrics if split == "validation" or k == "error"]
                record.update({prefix + k: metrics[k] for k in keep})
        record.update(self._cluster_metrics())
        record.update({"lr_scale": scale, "seconds": round(seconds, 3),
                       "images_per_s": round(n_batches * bs / max(seconds, 1e-9), 1)})
        if self.group is not None:
            self.sync_rng()
        self.epoch += 1
        self.history.append(record)
        return record

    @torch.no_grad()
    def _cluster_metrics(self) -> dict[str, float]:
        """For a model whose q(y|x) is clusters, not classes (unsup-cluster): Table 3's test error, each
        cluster labelled as Section 6 does from the validation images, the majority labelling's, and how
        many clusters the test images use (dead clusters show there), so the history holds the clustering
        curve as it holds the semi-supervised error curve."""
        from aae_cli.metrics.classification import cluster_errors, clusters_used, log_odds

        model, val, test = self.model, self.held_out["validation"], self.held_out["test"]
        if model.predicts_classes or not model.has_class_output or val is None or test is None \
                or val[1] is None or test[1] is None:
            return {}

        def scores(x: torch.Tensor) -> np.ndarray:  # log-odds: float32 q(y|x) ties at 1.0
            parts = [model.representation(x[i:i + 1000])[1] for i in range(0, len(x), 1000)]
            return log_odds(torch.cat(parts).float().cpu().numpy())

        p_val, p_test = scores(val[0]), scores(test[0])
        err, _, majority = cluster_errors(p_val, val[1].cpu().numpy(), p_test, test[1].cpu().numpy())
        return {"test_cluster_error": err, "test_majority_error": majority,
                "test_clusters_used": clusters_used(p_test)}

    # -- several processes -------------------------------------------------------------------------
    def _wrap_phases(self) -> dict[str, torch.nn.Module]:
        nets, used, model = self.model.nets, self._params_used(), self.model
        return {ph.name: wrap_phase({n: nets[n] for n in ph.trains}, getattr(model, ph.loss), self.device,
                                    used[ph.name]) for ph in self.phases}

    def _params_used(self) -> dict[str, set[int]]:
        """Per phase, the ids of its own parameters its loss depends on: one loss and gradient on two
        training rows, in eval mode (no batch-norm statistics updated) with a throwaway generator and the
        global random state put back, so training is not affected."""
        idx = torch.arange(min(2, len(self.x)), device=self.device)
        batch = Batch(x=self._x(idx), y=None if self.y is None else self.y[idx])
        if self.model.labelled_batches and self.labelled is not None and self.y is not None:
            lab = self.labelled[:2]
            batch.x_lab, batch.y_lab = self._x(lab), self.y[lab]
        gen = torch.Generator(device=self.device).manual_seed(0)
        devices = [self.device] if self.device.type == "cuda" else []
        used = {}
        was_training = self.model.training
        with torch.random.fork_rng(devices=devices):
            self.model.eval()
            try:
                for ph in self.phases:
                    params = [p for net in ph.trains for p in self.model.nets[net].parameters()]
                    loss, _ = getattr(self.model, ph.loss)(batch, gen)
                    grads = torch.autograd.grad(loss, params, allow_unused=True)
                    used[ph.name] = {id(p) for p, g in zip(params, grads, strict=True) if g is not None}
            finally:
                self.model.train(was_training)
        return used

    def set_time_limit(self, seconds: float) -> None:
        """Stop and save after `seconds` of wall time from now, but not before one more minibatch."""
        self.deadline, self.deadline_step = time.monotonic() + seconds, self.step

    def stop_agreed(self) -> Interrupted | None:
        """The exception to stop with when a stop was requested or the time limit is reached (on any
        process, under torchrun: all stop after the same minibatch, for the same reason); else None."""
        code = _SIGNALLED if self.stop_requested else _NO_STOP
        # The time runs out only once this call trained a minibatch: on a busy machine the setup alone can
        # outlast a short limit, and the same command repeated must still make progress.
        if code == _NO_STOP and self.deadline is not None and self.step > self.deadline_step \
                and time.monotonic() >= self.deadline:
            code = _TIME_UP
        if self.group is not None:
            code = self.group.max(code)
        self.stop_requested = self.stop_requested or code == _SIGNALLED
        return None if code == _NO_STOP else OutOfTime() if code == _TIME_UP else Interrupted()

    def across_ranks(self, sums: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-process metric sums -> their mean over processes (each a mean over an equal slice), so the
        logged numbers mean what they mean in one process."""
        return sums if self.group is None else self.group.mean(sums)

    def sync_rng(self) -> None:
        """Rank 0's random states everywhere: only rank 0 evaluated, and evaluation may draw from the
        global generator (the universal posterior's noise input)."""
        assert self.group is not None
        torch.set_rng_state(self.group.broadcast_bytes(torch.get_rng_state()))
        self.gen.set_state(self.group.broadcast_bytes(self.gen.get_state()))
        if self.device.type == "cuda":
            state = torch.cuda.get_rng_state(self.device)
            torch.cuda.set_rng_state(self.group.broadcast_bytes(state), self.device)

    def run_phase(self, ph: Phase, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One optimizer step of one phase: its loss, gradients for its own weights only, the update."""
        ddp = self.ddp.get(ph.name)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.precision == "bf16"):
            if ddp is not None:  # the same loss; backward also averages the gradients over the processes
                loss, extras = ddp(batch, self.gen)
            else:
                loss, extras = getattr(self.model, ph.loss)(batch, self.gen)
        opt = self.opts[ph.name]
        opt.zero_grad(set_to_none=True)
        params = [p for g in opt.param_groups for p in g["params"]]
        # inputs=: no gradient work for weights another phase owns (the generator phase runs through
        # the discriminator but must not touch it)
        loss.backward(inputs=params)
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        opt.step()
        return loss.detach(), extras

    def _x(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.x[idx]
        return self.model.to_model(as_float(x)) if x.dtype == torch.uint8 else x

    def _labelled_order(self, n: int) -> torch.Tensor:
        """n indices cycling through shuffles of the labelled subset; depends only on (seed, epoch)."""
        assert self.labelled is not None and self.y is not None, "variant needs a labelled subset"
        g = torch.Generator().manual_seed(cfg_seed_mix(self.cfg.seed, self.epoch, 1))
        reps = -(-n // len(self.labelled))
        order = torch.cat([torch.randperm(len(self.labelled), generator=g) for _ in range(reps)])[:n]
        return self.labelled[order.to(self.device)]

    def checkpoint_bytes(self) -> int:
        """An upper estimate of a checkpoint's size: weights, buffers and optimizer slots, in float32."""
        weights = sum(t.numel() * t.element_size() for t in self.model.state_dict().values())
        slots = 2 if self.cfg.optimizer == "adam" else 1
        return int(weights * (1 + slots) * 1.1) + (256 << 10)  # + HDF5 metadata, config, history

    # -- checkpoint state --------------------------------------------------------------------------
    def to_checkpoint(self, data_meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Checkpoint:
        import dataclasses

        nets = {name: dict(net.state_dict()) for name, net in self.model.nets.items()}
        rng = {"torch_cpu": torch.get_rng_state(), "generator": self.gen.get_state()}
        if torch.cuda.is_available() and self.device.type == "cuda":
            rng["torch_cuda"] = torch.cuda.get_rng_state(self.device)
        return Checkpoint(config=dataclasses.asdict(self.cfg), data=data_meta, epoch=self.epoch,
                          step=self.step, batch=self.batch, partial={"sums": self.partial,
                                                                    "seconds": self.partial_seconds},
                          history=list(self.history), nets=nets,
                          optim={k: o.state_dict() for k, o in self.opts.items()}, rng=rng,
                          priors={k: a for k, p in self.model.priors.items() if (a := p.arrays())},
                          arrays=arrays)

    def restore(self, ck: Checkpoint) -> None:
        for name, net in self.model.nets.items():
            net.load_state_dict(ck.nets[name])
        for name, opt in self.opts.items():
            opt.load_state_dict(ck.optim[name])
        torch.set_rng_state(ck.rng["torch_cpu"])
        if ck.rng["generator"].numel() == self.gen.get_state().numel():
            self.gen.set_state(ck.rng["generator"])
        else:
            # trained on another kind of device (CUDA's Philox state is 16 bytes, the CPU's Mersenne
            # Twister 5056): that stream cannot go on here, so a new one starts, seeded by the position
            self.gen.manual_seed(cfg_seed_mix(self.cfg.seed, ck.step, 2))
            self.rng_restarted = True
        if "torch_cuda" in ck.rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(ck.rng["torch_cuda"], self.device)
        self.epoch, self.step, self.history = ck.epoch, ck.step, list(ck.history)
        self.batch = ck.batch
        self.partial = dict(ck.partial.get("sums", {}))
        self.partial_seconds = float(ck.partial.get("seconds", 0.0))
