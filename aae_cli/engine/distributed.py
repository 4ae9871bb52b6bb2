"""Data-parallel training under torchrun: the process group and one DistributedDataParallel per phase.

`torchrun --nproc-per-node K -m aae_cli train ...` starts K processes with WORLD_SIZE=K; each joins the
group (gloo on CPU, nccl on CUDA with device cuda:LOCAL_RANK), trains on its contiguous slice of every
global minibatch, and DDP averages the gradients (losses are batch means, so the average is the gradient of
the global minibatch). Random draws inside the losses are made for the global minibatch on every process
(aae_cli/shard.py), so K processes train the model one process would, up to floating-point noise.
Rank 0 alone evaluates, prints and writes the checkpoint, which keeps the single-process format.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from aae_cli.shard import Shard


def world_size() -> int:
    """Processes of the torchrun job this process belongs to (1 when not started by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def env_rank() -> int:
    """This process's global rank from torchrun's environment (0 when not started by torchrun)."""
    return int(os.environ.get("RANK", "0") or 0)


@dataclass
class ProcessGroup:
    """This process's place in a torchrun job, and the few collectives training needs."""

    rank: int
    world: int
    device: torch.device  # cuda:LOCAL_RANK on GPUs
    owned: bool  # the group was created here, so `close` destroys it
    control: Any = None  # a gloo group for small CPU messages beside nccl (no GPU sync per minibatch)

    @classmethod
    def join(cls, device: torch.device) -> ProcessGroup | None:
        """Under torchrun (WORLD_SIZE > 1) join the default group: gloo on CPU, nccl on CUDA, where a bare
        `cuda` becomes cuda:LOCAL_RANK. None when this is a single process."""
        if world_size() <= 1:
            return None
        import torch.distributed as dist

        if device.type == "cuda":
            if device.index is None:
                device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0") or 0))
            torch.cuda.set_device(device)
        owned = not dist.is_initialized()
        if owned:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        control = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else None
        return cls(dist.get_rank(), dist.get_world_size(), device, owned, control)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        """Wait for every rank (nobody leaves before rank 0 has saved), then leave the group."""
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier(group=self.control)
            if self.owned:
                dist.destroy_process_group()  # every group
            elif self.control is not None:
                dist.destroy_process_group(self.control)

    # -- collectives (gloo takes CPU tensors, nccl device tensors) ----------------------------------
    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def max(self, value: int) -> int:
        """The largest of the ranks' values, on every rank (a CPU message: no wait for the GPU)."""
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.int32)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.control)
        return int(t.item())

    def mean(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The mean over ranks of each scalar (every rank gives the same keys)."""
        import torch.distributed as dist

        if not values:
            return {}
        keys = sorted(values)
        dev = self._comm_device()
        t = torch.stack([torch.as_tensor(values[k], dtype=torch.float64).to(dev).reshape(()) for k in keys])
        dist.all_reduce(t)
        t /= self.world
        return {k: t[i] for i, k in enumerate(keys)}

    def broadcast_bytes(self, state: torch.Tensor) -> torch.Tensor:
        """Rank 0's copy of a CPU byte tensor (a generator state) on every rank."""
        import torch.distributed as dist

        t = state.cpu().contiguous()
        dist.broadcast(t, src=0, group=self.control)
        return t

    def gather_rows(self, x: torch.Tensor) -> torch.Tensor:
        """(n, ...) on every rank -> (world * n, ...) in rank order."""
        import torch.distributed as dist

        parts = [torch.empty_like(x) for _ in range(self.world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    def gather_objects(self, obj: Any) -> list[Any]:
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj, group=self.control)
        return out

    def shard(self) -> Shard:
        return Shard(self.rank, self.world, self.gather_rows)

    def rows(self, n: int) -> slice:
        """This rank's contiguous slice of a global minibatch of n rows (n is a multiple of world)."""
        per = n // self.world
        return slice(self.rank * per, (self.rank + 1) * per)


class PhaseModule(nn.Module):
    """A phase as a module for DDP: its own networks as submodules (the variant's very objects), so DDP
    reduces the gradients of exactly the weights the phase updates; forward = the variant's loss."""

    def __init__(self, nets: dict[str, nn.Module], loss: Callable[..., Any]) -> None:
        super().__init__()
        self.nets = nn.ModuleDict(nets)
        self._loss = loss  # a bound method of the variant (not a submodule: DDP must not see its other nets)

    def forward(self, *args: Any) -> Any:
        return self._loss(*args)


def wrap_phase(nets: dict[str, nn.Module], loss: Callable[..., Any], device: torch.device,
               used: set[int]) -> nn.Module:
    """DDP around one phase; `used`: ids of the parameters the phase's loss depends on.

    The others (the z head in the semi-supervised classification phase) are left out of DDP: their
    gradient stays None, as in one process, so the optimizer leaves them alone. (find_unused_parameters
    cannot be used: the phases share the encoder, and another phase's backward would mark its weights as
    used in this phase's DDP.) Buffers (batch-norm statistics) are not synchronised after the start: each
    process normalises with its own slice's statistics and keeps its own running averages."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel as DDP

    module = PhaseModule(nets, loss)
    unused = [name for name, p in module.named_parameters() if id(p) not in used]
    DDP._set_params_and_buffers_to_ignore_for_model(module, unused)
    ids = [device.index] if device.type == "cuda" else None
    # torch >= 2.13 renames broadcast_buffers (the weights and buffers are the same on every rank at start)
    params = inspect.signature(DDP.__init__).parameters
    no_sync = {"forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers": False}
    return DDP(module, device_ids=ids, **no_sync)
