"""Training progress: a bar on a terminal, plain lines in logs."""

from __future__ import annotations

import time
from typing import Any, Self

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from aae_cli.cli.common import err, is_terminal

_BOOKKEEPING = ("epoch", "step", "lr_scale", "seconds", "images_per_s")

# In a log an epoch of the 2x3000 clustering network takes minutes on a CPU: a line at most this often
# within an epoch shows the job is alive and how far it is
LOG_EVERY_S = 60.0


def epoch_line(rec: dict[str, Any], total: int) -> str:
    """Every metric of the epoch (phase losses, accuracies, held-out numbers), then the speed."""
    parts = [f"epoch {rec['epoch']}/{total}"]
    parts += [f"{k} {v:.4g}" for k, v in rec.items() if k not in _BOOKKEEPING]
    parts.append(f"{rec['seconds']:.1f}s ({rec['images_per_s']:.0f} img/s)")
    return "  ".join(parts)


class BarProgress:
    """A rich progress bar on stderr when it is a terminal (none in logs or when quiet); a context manager."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.bar: Progress | None = None
        if is_terminal() and not quiet:
            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), console=err, transient=True)

    def __enter__(self) -> Self:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()


class TrainProgress(BarProgress):
    """Callbacks for Run.fit: the bar on a terminal; in a log, a plain line every `log_every` seconds
    within an epoch and one per epoch."""

    def __init__(self, total_epochs: int, quiet: bool = False, log_every: float = LOG_EVERY_S) -> None:
        super().__init__(quiet)
        self.total = total_epochs
        self.task: Any = None
        self.log_every = log_every
        self.epoch = 0
        self.started = self.last_line = time.monotonic()

    def epoch_start(self, epoch: int, steps: int) -> None:
        self.epoch = epoch
        self.started = self.last_line = time.monotonic()
        if self.bar:
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task = self.bar.add_task(f"epoch {epoch}/{self.total}", total=steps)

    def step(self, i: int, n: int) -> None:
        if self.bar:
            if i % 10 == 0 or i == n:
                self.bar.update(self.task, completed=i)
        elif not self.quiet and i < n and (now := time.monotonic()) - self.last_line >= self.log_every:
            self.last_line = now
            err.print(f"epoch {self.epoch}/{self.total}: {i}/{n} minibatches, {now - self.started:.0f}s",
                      highlight=False)

    def epoch_end(self, rec: dict[str, Any]) -> None:
        if not self.quiet:
            err.print(epoch_line(rec, self.total), highlight=False, soft_wrap=True)


def fit_or_exit(run: Any, quiet: bool, how_to_continue: str, time_limit: float | None = None) -> bool:
    """Run.fit with progress; True when it trained to the end, False when `time_limit` seconds ran out
    first (a checkpoint that resumes exactly is saved, and the caller goes on: a scheduler's time slot
    ends with a clean save, and `aae reproduce` still measures what was trained). Ctrl-C or SIGTERM: a
    mid-epoch checkpoint is saved and the command exits 130 saying how to continue; a second Ctrl-C exits
    at once, keeping the last checkpoint."""
    from aae_cli.engine.trainer import Interrupted, OutOfTime, bf16_native

    if run.cfg.precision == "bf16" and run.is_main and not bf16_native(run.device):
        err.print(f"note: {run.device} has no native bfloat16; bf16 is emulated here, slower than fp32",
                  highlight=False)
    if run.trainer.rng_restarted and run.is_main:
        err.print(f"note: {run.out} was trained on another kind of device; its random stream (prior draws, "
                  f"noise) cannot continue on {run.device}, so a new one starts: the run goes on, but not "
                  "bitwise as it would have there", highlight=False, soft_wrap=True)
    if time_limit is not None:
        run.trainer.set_time_limit(time_limit)
    with TrainProgress(run.cfg.epochs, quiet=quiet or not run.is_main) as prog:
        try:
            run.fit(prog.epoch_start, prog.step, prog.epoch_end)
        except Interrupted as stop:
            t, out_of_time = run.trainer, isinstance(stop, OutOfTime)
            err.print(f"{'time limit reached' if out_of_time else 'interrupted'}: saved {run.out} at epoch "
                      f"{t.epoch} + {t.batch} minibatches of {run.cfg.epochs}; {how_to_continue}",
                      highlight=False)
            run.close()  # under torchrun: nobody leaves before rank 0 has saved
            if out_of_time:
                return False
            raise typer.Exit(130) from None
        except KeyboardInterrupt:
            # no waiting for the other processes here: they may be inside a collective; torchrun ends them
            err.print(f"interrupted: the last checkpoint in {run.out} is kept", highlight=False)
            raise typer.Exit(130) from None
    run.close()
    return True
