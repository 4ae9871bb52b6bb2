"""What every command shares: one-line errors, output as a table or JSON, progress on stderr."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

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


def print_result(title: str, values: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(values, default=str) + "\n")
        return
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("key")
    table.add_column("value", justify="right")
    for k, v in values.items():
        table.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    out.print(table)


def is_terminal() -> bool:
    return err.is_terminal
