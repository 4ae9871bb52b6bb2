"""`aae train`: any model of the paper, on CPU or GPU, resumable; data-parallel under torchrun
(`torchrun --nproc-per-node K -m aae_cli train ...`: rank 0 alone prints and saves)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aae_cli.cli.common import TIME_LIMIT_HELP, cli_errors, err, parse_duration, print_result
from aae_cli.config import coerce, parse_set, read_toml, resolve
from aae_cli.errors import AAEError

Opt = typer.Option


@cli_errors
def train(
    variant: Annotated[str | None, Opt(help="model of the paper: unsupervised, ... (see README)")] = None,
    prior: Annotated[str | None, Opt(help="gaussian | mixture | swiss-roll | PATH of prior samples")] = None,
    posterior: Annotated[str | None, Opt(help="deterministic | gaussian | universal")] = None,
    z_dim: Annotated[int | None, Opt("--z-dim", help="size of the code z")] = None,
    hidden: Annotated[str | None, Opt(help="hidden layer sizes, e.g. 1000,1000")] = None,
    labels: Annotated[str | None, Opt(help="labelled examples: N (evenly across classes) or all")] = None,
    clusters: Annotated[int | None, Opt(help="categories of q(y|x) (unsup-cluster, dim-reduction)")] = None,
    dataset: Annotated[str | None, Opt(help="mnist | fashion-mnist | svhn | svhn-extra | PATH")] = None,
    data_dir: Annotated[str | None, Opt(help="folder of dataset files (else $AAE_DATA_DIR)")] = None,
    download: Annotated[bool | None, Opt("--download", help="download missing files (SVHN)")] = None,
    epochs: Annotated[int | None, Opt(help="total epochs (with --resume: train until this epoch)")] = None,
    batch_size: Annotated[int | None, Opt(help="minibatch size")] = None,
    limit: Annotated[int | None, Opt(help="train on the first N training images")] = None,
    device: Annotated[str | None, Opt(help="auto | cpu | cuda | cuda:N")] = None,
    seed: Annotated[int | None, Opt(help="seed of every random stream")] = None,
    save_every: Annotated[int | None, Opt(help="checkpoint every N epochs (and at the end)")] = None,
    config: Annotated[Path | None, Opt(help="TOML file of settings (flags override it)")] = None,
    set_: Annotated[list[str] | None, Opt("--set", help="any setting as key=value (repeatable)")] = None,
    out: Annotated[Path | None, Opt(help="checkpoint path (default: a new file under ./runs/)")] = None,
    resume: Annotated[Path | None, Opt(help="continue this checkpoint until --epochs")] = None,
    overwrite: Annotated[bool, Opt(help="allow --out to replace an existing checkpoint")] = False,
    time_limit: Annotated[str | None, Opt(help="stop training after this wall time (loading comes "
                                          "on top), saving a checkpoint that resumes exactly: "
                                          f"{TIME_LIMIT_HELP}")] = None,
    json_: Annotated[bool, Opt("--json", help="print the result as one JSON object")] = False,
) -> None:
    """Train an adversarial autoencoder (or the VAE baseline); write an HDF5 checkpoint."""
    from aae_cli.cli.progress import fit_or_exit
    from aae_cli.engine.distributed import env_rank, world_size
    from aae_cli.engine.session import Run, default_out
    from aae_cli.variants import get_variant

    limit_s = None if time_limit is None else parse_duration(time_limit)
    if world_size() > 1 and env_rank() != 0:
        # rank 0 alone prints (this worker process ends with the command); a failure while setting up on
        # another rank is reported by rank 0 (Run), any other by torchrun
        err.quiet = True

    given: dict[str, Any] = {k: v for k, v in {
        "variant": variant, "prior": prior, "posterior": posterior, "z_dim": z_dim, "hidden": hidden,
        "labels": labels, "clusters": clusters,
        "dataset": dataset, "data_dir": data_dir, "download": download, "epochs": epochs,
        "batch_size": batch_size, "limit": limit, "device": device, "seed": seed, "save_every": save_every,
    }.items() if v is not None}
    flags = {**coerce(given, "flags"), **parse_set(set_ or [])}
    file_values = read_toml(config) if config else {}
    if resume is not None:
        if out is not None and out.exists() and out.resolve() != resume.resolve() and not overwrite:
            raise AAEError(f"{out} exists; choose another --out or add --overwrite")
        run = Run.resume(resume, {**file_values, **flags}, out)
        err.print(f"resuming {resume} at epoch {run.trainer.epoch} -> {run.cfg.epochs}", highlight=False)
    else:
        name = flags.get("variant", file_values.get("variant", "unsupervised"))
        dataset_name = str(flags.get("dataset", file_values.get("dataset", "mnist")))
        cfg = resolve(get_variant(name).preset_for(dataset_name), file_values, flags)
        target = out or default_out(cfg)
        if target.exists() and not overwrite:
            raise AAEError(f"{target} exists; resume it with --resume {target}, or choose another --out "
                           "(or add --overwrite)")
        run = Run(cfg, target)
    d = run.data
    where = f"device {run.device}" + (f" x {run.world_size} processes" if run.world_size > 1 else "")
    err.print(f"{run.cfg.variant} on {d.name}: {len(d.train)} train / {len(d.validation)} validation images, "
              f"{where}, checkpoint {run.out}", highlight=False)
    finished = fit_or_exit(run, json_, f"continue with aae train --resume {run.out}", limit_s)
    if not run.is_main:
        return
    last = run.trainer.history[-1] if run.trainer.history else {}
    result = {"checkpoint": str(run.out), "metrics": str(run.metrics_path), "variant": run.cfg.variant,
              "dataset": d.name, "finished": finished, "epoch": run.trainer.epoch,
              "minibatches": run.trainer.batch,
              **{k: v for k, v in last.items()}}
    print_result("aae train", result, json_)
