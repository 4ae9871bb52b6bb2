"""Training progress: a bar on a terminal, plain lines in logs."""

from __future__ import annotations

from typing import Any, Self

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from aae_cli.cli.common import err, is_terminal

_BOOKKEEPING = ("epoch", "step", "lr_scale", "seconds", "images_per_s")


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
    """Callbacks for Run.fit."""

    def __init__(self, total_epochs: int, quiet: bool = False) -> None:
        super().__init__(quiet)
        self.total = total_epochs
        self.task: Any = None

    def epoch_start(self, epoch: int, steps: int) -> None:
        if self.bar:
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task = self.bar.add_task(f"epoch {epoch}/{self.total}", total=steps)

    def step(self, i: int, n: int) -> None:
        if self.bar and (i % 10 == 0 or i == n):
            self.bar.update(self.task, completed=i)

    def epoch_end(self, rec: dict[str, Any]) -> None:
        if not self.quiet:
            err.print(epoch_line(rec, self.total), highlight=False, soft_wrap=True)
