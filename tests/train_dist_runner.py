"""`aae train` under torchrun, for tests/test_distributed_train.py.

Runs one or more `aae train` commands (argument lists separated by `--next`) in one process group and,
after each, writes this rank's weights and how many checkpoints it saved to <out>.rank<R>.npz, so the test
can check that every rank ends with the same model and that rank 0 alone writes. `--stop-at R:S` (per
command) makes rank R alone ask to stop after global minibatch S, as a signal to that process would;
`--time-up-at R:S` makes rank R alone find its time limit spent after minibatch S.
Prints, on rank 0, one JSON line: the exit code of each command.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch.distributed as dist
import typer

from aae_cli.cli.app import app
from aae_cli.engine import session
from aae_cli.engine.trainer import Trainer

saves: Counter[str] = Counter()
stop_at: list[tuple[int, int, str]] = []  # (rank, global minibatch, "signal" | "time")


def counting_save(path: Path, ck, save=session.save_checkpoint) -> None:
    saves[str(path)] += 1
    save(path, ck)


def dump_and_close(run: session.Run, close=session.Run.close) -> None:
    arrays = {f"{net}/{k}": v.detach().cpu().numpy()
              for net, module in run.trainer.model.nets.items() for k, v in module.state_dict().items()}
    np.savez(Path(f"{run.out}.rank{dist.get_rank()}.npz"), saves=saves[str(run.out)], **arrays)
    close(run)


def stopping_epoch(self: Trainer, on_step=None, train_epoch=Trainer.train_epoch):
    def step(i: int, n: int) -> None:
        if on_step is not None:
            on_step(i, n)
        if stop_at and stop_at[0][:2] == (dist.get_rank(), self.step):
            if stop_at[0][2] == "signal":
                self.stop_requested = True
            else:
                self.deadline = float("-inf")

    return train_epoch(self, step)


def main(argv: list[str]) -> None:
    dist.init_process_group("gloo")  # one group for every command (they join it instead of creating one)
    session.Run.close = dump_and_close  # type: ignore[method-assign]
    session.save_checkpoint = counting_save  # type: ignore[assignment]
    Trainer.train_epoch = stopping_epoch  # type: ignore[method-assign]
    commands: list[list[str]] = [[]]
    for a in argv:
        if a == "--next":
            commands.append([])
        else:
            commands[-1].append(a)
    codes = []
    for args in commands:
        stop_at.clear()
        for flag, why in (("--stop-at", "signal"), ("--time-up-at", "time")):
            if flag in args:
                i = args.index(flag)
                rank, step = args[i + 1].split(":")
                stop_at.append((int(rank), int(step), why))
                del args[i:i + 2]
        try:
            code = typer.main.get_command(app).main(["train", *args], standalone_mode=False)
        except typer.Exit as e:
            code = e.exit_code
        codes.append(code or 0)
    if dist.get_rank() == 0:
        sys.stdout.write(json.dumps({"codes": codes}) + "\n")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
