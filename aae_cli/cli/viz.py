"""`aae viz`: the paper's figures from a checkpoint (codes, manifolds, style, clusters, training curves).

This module only parses options, calls aae_cli.viz and prints; torch and matplotlib are imported inside
the commands so `aae --help` stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aae_cli.cli.common import cli_errors, print_result
from aae_cli.errors import AAEError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from aae_cli.viz.codes import RunInfo

Opt = typer.Option

app = typer.Typer(help="Figures of the paper from a checkpoint: latent codes, manifolds, style, clusters, "
                       "training curves.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)

Checkpoint = Annotated[Path, typer.Argument(help="a checkpoint written by aae train")]
Out = Annotated[Path | None, Opt(help="PNG to write (default: beside the checkpoint, <stem>-<command>.png)")]
Seed = Annotated[int, Opt(help="seed of every random draw in the figure")]
Split = Annotated[str, Opt(help="train | validation | test (held-out codes by default)")]
Device = Annotated[str, Opt(help="auto | cpu | cuda")]
DataDir = Annotated[str | None, Opt(help="folder of dataset files (else $AAE_DATA_DIR)")]
Json = Annotated[bool, Opt("--json", help="print the result as one JSON object")]


def _ints(text: str | None, option: str) -> tuple[int, ...] | None:
    """'0,1,2' -> (0, 1, 2)."""
    if text is None:
        return None
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise AAEError(f"{option} takes comma-separated integers such as 0,1; got '{text}'") from None


def _model(checkpoint: Path, device: str) -> tuple[Any, Any, RunInfo]:
    from aae_cli.engine.model_io import load_model
    from aae_cli.engine.session import resolve_device
    from aae_cli.viz.codes import RunInfo

    model, ck = load_model(checkpoint, resolve_device(device))
    return model, ck, RunInfo.of(ck, checkpoint)


def _done(command: str, fig: Figure, meta: dict[str, Any], checkpoint: Path, out: Path | None,
          as_json: bool) -> None:
    from aae_cli.viz.figure import save_figure

    path = save_figure(fig, out or checkpoint.with_name(f"{checkpoint.stem}-{command}.png"))
    print_result(f"aae viz {command}", {"figure": str(path), **meta}, as_json)


@app.command()
@cli_errors
def latent(
    checkpoint: Checkpoint,
    n: Annotated[int, Opt("--n", help="at most this many images (the first N of the split)")] = 5000,
    prior_samples: Annotated[int, Opt(help="overlay N draws of the prior (grey)")] = 0,
    split: Split = "test",
    out: Out = None,
    seed: Seed = 0,
    device: Device = "auto",
    data_dir: DataDir = None,
    json_: Json = False,
) -> None:
    """Codes of held-out images coloured by label (Figs. 2a-d, 4a/c, 11). Codes over 2-D: PCA, or for
    dim-reduction with fixed heads the map that puts the cluster heads on a circle (Fig. 11d)."""
    from aae_cli.viz.codes import load_split
    from aae_cli.viz.latent import latent as draw

    if n < 1 or prior_samples < 0:
        raise AAEError(f"--n must be at least 1 and --prior-samples at least 0 (got {n}, {prior_samples})")
    model, ck, run = _model(checkpoint, device)
    x, y = load_split(ck, split, data_dir)
    fig, meta = draw(model, run, x, y, split=split, n=n, prior_samples=prior_samples, seed=seed)
    _done("latent", fig, meta, checkpoint, out, json_)


@app.command()
@cli_errors
def manifold(
    checkpoint: Checkpoint,
    n: Annotated[int | None, Opt("--n", help="images along each side of a grid (default 20; 10 for "
                                            "several mixture panels)")] = None,
    axes: Annotated[str | None, Opt(help="the two dimensions of z to vary, e.g. 0,1 (others at 0)")] = None,
    components: Annotated[str | None, Opt(help="mixture prior: one panel per component, e.g. 0,1,2")] = None,
    label: Annotated[int | None, Opt(help="class/cluster input of conditional models (default 0)")] = None,
    out: Out = None,
    seed: Seed = 0,
    device: Device = "auto",
    json_: Json = False,
) -> None:
    """Decoded images at Gaussian percentiles along two axes of z (Fig. 2e); per mixture component (Fig.
    4b); along the swiss roll (Fig. 4d); the style manifold of one class for conditional models."""
    from aae_cli.viz.manifold import manifold as draw

    axes_t, comps = _ints(axes, "--axes"), _ints(components, "--components")
    if axes_t is not None and len(axes_t) != 2:
        raise AAEError(f"--axes takes two dimensions such as 0,1; got '{axes}'")
    model, _, run = _model(checkpoint, device)
    fig, meta = draw(model, run, n=n, axes=axes_t, components=comps,  # type: ignore[arg-type]
                     label=label, seed=seed)
    _done("manifold", fig, meta, checkpoint, out, json_)


@app.command()
@cli_errors
def style(
    checkpoint: Checkpoint,
    rows: Annotated[int, Opt(help="styles drawn from the prior, one per row")] = 10,
    out: Out = None,
    seed: Seed = 0,
    device: Device = "auto",
    json_: Json = False,
) -> None:
    """Supervised and semi-supervised models: each row one style z, each column one class (Fig. 7)."""
    from aae_cli.viz.style import style as draw

    model, _, run = _model(checkpoint, device)
    fig, meta = draw(model, run, rows=rows, seed=seed)
    _done("style", fig, meta, checkpoint, out, json_)


@app.command()
@cli_errors
def clusters(
    checkpoint: Checkpoint,
    per_row: Annotated[int, Opt(help="images shown per cluster")] = 10,
    split: Split = "test",
    out: Out = None,
    seed: Seed = 0,
    device: Device = "auto",
    data_dir: DataDir = None,
    json_: Json = False,
) -> None:
    """Unsup-cluster (or dim-reduction without labels): per cluster its head, then images assigned to it by
    argmax q(y|x) (Fig. 9)."""
    from aae_cli.viz.clusters import check_cluster_model
    from aae_cli.viz.clusters import clusters as draw
    from aae_cli.viz.codes import load_split

    model, ck, run = _model(checkpoint, device)
    check_cluster_model(model, run)  # before reading any data
    x, _ = load_split(ck, split, data_dir)
    fig, meta = draw(model, run, x, split=split, per_row=per_row, seed=seed)
    _done("clusters", fig, meta, checkpoint, out, json_)


@app.command()
@cli_errors
def history(
    checkpoint: Checkpoint,
    out: Out = None,
    json_: Json = False,
) -> None:
    """Training curves: phase losses, discriminator accuracies, errors (%), held-out reconstruction."""
    from aae_cli.checkpoint import load_checkpoint
    from aae_cli.viz.codes import RunInfo
    from aae_cli.viz.history import history_figure

    ck = load_checkpoint(checkpoint)
    run = RunInfo.of(ck, checkpoint)
    fig, meta = history_figure(ck.history, run.title("training history"))
    _done("history", fig, meta, checkpoint, out, json_)
