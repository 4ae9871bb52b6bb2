"""Shared fixtures: run the real `aae` command in-process on small data with small networks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from aae_cli.cli.app import app

# Small networks and data so that a real training run takes about a second.
TINY = ["--limit", "300", "--hidden", "64,64", "--set", "disc_hidden=[32,32]", "--batch-size", "50"]


def one_line_error(res: Result) -> str:
    """Bad input: a non-zero exit and exactly one line of output, no traceback; returns that line."""
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    lines = [x for x in res.output.strip().splitlines() if x.strip()]
    assert len(lines) == 1, res.output
    return lines[0]


@pytest.fixture
def aae() -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str | Path) -> Result:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def tiny_run(tmp_path: Path, aae: Callable[..., Result]) -> Path:
    """A checkpoint of the basic AAE trained for 2 epochs on 300 MNIST images."""
    out = tmp_path / "tiny.h5"
    res = aae("train", "--epochs", "2", "--out", out, *TINY)
    assert res.exit_code == 0, res.output
    return out
