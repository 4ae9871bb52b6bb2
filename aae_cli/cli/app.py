"""The `aae` command. Each command lives in its own module; torch is imported inside commands so
`aae --help` stays fast."""

from __future__ import annotations

import typer

from aae_cli import __version__
from aae_cli.cli import evaluate, viz
from aae_cli.cli.eval_parzen import parzen
from aae_cli.cli.eval_samples import samples
from aae_cli.cli.reproduce import reproduce
from aae_cli.cli.sample import sample
from aae_cli.cli.train import train

app = typer.Typer(help="Adversarial Autoencoders (Makhzani et al., 2015): train, sample, evaluate.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.command()(train)
app.command()(sample)
evaluate.app.command("parzen")(parzen)
evaluate.app.command("samples")(samples)
app.add_typer(evaluate.app, name="eval")
app.command()(evaluate.encode)
app.add_typer(viz.app, name="viz")
app.command()(reproduce)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aae {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    pass


def main() -> None:
    app()
