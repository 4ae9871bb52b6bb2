"""`aae eval parzen` as a stand-alone command, for the distributed test (python -m torch.distributed.run
runs a script; `python -m aae_cli eval parzen` does the same once the command is registered)."""

from __future__ import annotations

import typer

from aae_cli.cli.eval_parzen import parzen

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command()(parzen)

if __name__ == "__main__":
    app()
