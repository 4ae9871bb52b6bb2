"""What every command shares: one-line errors, output as a table or JSON, progress on stderr."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aae_cli.errors import AAEError

out = Console()  # results
err = Console(stderr=True)  # progress, notes, errors

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def cli_errors(fn: F) -> F:
    """Bad input gets one clear line and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AAEError as e:
            raise fail(str(e)) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
TIME_LIMIT_HELP = "duration such as 90m, 2h, 1h30m or 3600 (seconds)"


def parse_duration(text: str, option: str = "--time-limit") -> float:
    """'90m', '2h', '1h30m', '45s', '3600' (seconds) -> seconds; one clear error otherwise."""
    s = text.strip().lower()
    parts = list(_DURATION.finditer(s))
    if not s or "".join(p.group(0) for p in parts) != s or (len(parts) > 1 and not all(p[2] for p in parts)):
        raise AAEError(f"{option} must be a {TIME_LIMIT_HELP}, got {text!r}")
    seconds = sum(float(p[1]) * _UNIT_S[p[2]] for p in parts)
    if seconds <= 0:
        raise AAEError(f"{option} must be more than zero, got {text!r}")
    return seconds


def print_result(title: str, values: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(values, default=str) + "\n")
        return
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("key")
    table.add_column("value", justify="right")
    for k, v in values.items():  # Text, not markup: "[bold]x" or "[np.float64(1.0)]" would be read as a tag
        table.add_row(k, Text(f"{v:.4g}" if isinstance(v, float) else str(v)))
    print_table(table)


def print_table(table: Table) -> None:
    """A table on a terminal fits its width; piped or in a log it takes the width it needs, because rich
    would assume 80 columns there and cut names to 'dimred…' in the very files results are kept in."""
    # print(width=) is capped at the console's width, so a wide console of its own
    (out if out.is_terminal or "COLUMNS" in os.environ else Console(width=1000)).print(table)


def is_terminal() -> bool:
    return err.is_terminal
