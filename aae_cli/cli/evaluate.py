"""`aae eval semi|cluster` and `aae encode`: the paper's classification numbers, and codes for users."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aae_cli.cli.common import cli_errors, print_result
from aae_cli.errors import AAEError

Opt = typer.Option
app = typer.Typer(help="The paper's numbers, measured as the paper measured them (PROTOCOLS.md).",
                  no_args_is_help=True)

Checkpoint = Annotated[Path, typer.Argument(help="a checkpoint written by aae train")]
Device = Annotated[str, Opt(help="auto | cpu | cuda")]
DataDir = Annotated[str | None, Opt(help="folder of dataset files")]
Json = Annotated[bool, Opt("--json", help="print one JSON object")]


def _load(checkpoint: Path, device: str, data_dir: str | None) -> tuple[Any, Any, Any, Any]:
    from aae_cli.data import load_dataset
    from aae_cli.engine.model_io import load_model
    from aae_cli.engine.session import resolve_device

    dev = resolve_device(device)
    model, ck = load_model(checkpoint, dev)
    # The split is the protocol's, whatever --limit the model was trained with (limit only cuts train).
    data = load_dataset(ck.data["dataset"], data_dir)
    return model, ck, data, dev


def _need_labels(data: Any, what: str) -> None:
    if data.validation.y is None or data.test.y is None:
        raise AAEError(f"{what} needs labelled validation and test data; dataset '{data.name}' has no labels")


def semi_result(model: Any, ck: Any, data: Any, dev: Any, name: str) -> dict[str, Any]:
    """Table 2's number: argmax q(y|x) error on the test set (and on validation), in percent."""
    from aae_cli.metrics.classification import class_errors, class_probabilities, error_rate

    if not model.predicts_classes:
        raise AAEError(f"{name} is a '{model.cfg.variant}' model without a class output q(y|x); "
                       "semi needs semi-supervised (or dim-reduction with --labels)")
    _need_labels(data, "eval semi")
    p_test = class_probabilities(model, data.test.x, dev)
    per_class, top = class_errors(p_test.argmax(1), data.test.y, p_test.shape[1])
    return {
        "test_error": error_rate(p_test, data.test.y),
        "validation_error": error_rate(class_probabilities(model, data.validation.x, dev), data.validation.y),
        "epoch": ck.epoch, "labels": model.cfg.labels,
        "label_seed": ck.data.get("labelled", {}).get("seed"), "n_test": len(data.test),
        "test_class_error": per_class, "test_top_confusion": top,
    }


def cluster_result(model: Any, ck: Any, data: Any, dev: Any, name: str) -> dict[str, Any]:
    """Table 3's number: each cluster takes the label of the validation image that maximises q(y_i|x)."""
    from aae_cli.metrics.classification import class_errors, class_log_odds, cluster_error, clusters_used

    if not model.has_class_output:
        raise AAEError(f"{name} is a '{model.cfg.variant}' model without q(y|x); "
                       "cluster needs unsup-cluster (or another model with a cluster output)")
    _need_labels(data, "eval cluster")
    p_val = class_log_odds(model, data.validation.x, dev)
    p_test = class_log_odds(model, data.test.x, dev)
    err, assign = cluster_error(p_val, data.validation.y, p_test, data.test.y)
    majority, majority_assign = cluster_error(p_val, data.validation.y, p_test, data.test.y, majority=True)
    # Which digits the error is made of: a digit that labels no cluster, or two digits that share clusters,
    # shows here (and the majority labels beside the paper's tell which of the two it is).
    n_classes = int(max(data.validation.y.max(), data.test.y.max())) + 1
    per_class, top = class_errors(assign[p_test.argmax(1)], data.test.y, n_classes)
    return {"test_error": err, "clusters": int(p_val.shape[1]), "epoch": ck.epoch,
            "clusters_used": clusters_used(p_test),
            "cluster_labels": assign.tolist(), "majority_label_error": majority,
            "majority_cluster_labels": majority_assign.tolist(),
            "test_class_error": per_class, "test_top_confusion": top, "n_test": len(data.test)}


@app.command()
@cli_errors
def semi(checkpoint: Checkpoint, device: Device = "auto", data_dir: DataDir = None,
         json_: Json = False) -> None:
    """Semi-supervised classification error (Table 2): argmax q(y|x) on the test set, in percent."""
    model, ck, data, dev = _load(checkpoint, device, data_dir)
    result = semi_result(model, ck, data, dev, str(checkpoint))
    print_result(f"aae eval semi — {checkpoint.name}", result, json_)


@app.command()
@cli_errors
def cluster(checkpoint: Checkpoint, device: Device = "auto", data_dir: DataDir = None,
            json_: Json = False) -> None:
    """Clustering error (Table 3): each cluster takes the label of the validation image that maximises
    q(y_i|x); each test image the label of its cluster."""
    model, ck, data, dev = _load(checkpoint, device, data_dir)
    result = cluster_result(model, ck, data, dev, str(checkpoint))
    print_result(f"aae eval cluster — {checkpoint.name}", result, json_)


@cli_errors
def encode(
    checkpoint: Checkpoint,
    out: Annotated[Path, Opt(help="the .npz to write")],
    split: Annotated[str, Opt(help="train | validation | test")] = "test",
    device: Device = "auto", data_dir: DataDir = None, json_: Json = False,
) -> None:
    """Latent codes for downstream work: arrays z, label, y_prob (q(y|x), where the model has one) and
    representation (dim-reduction: W_C y + z)."""
    import numpy as np

    from aae_cli.metrics.classification import batched

    if split not in ("train", "validation", "test"):
        raise AAEError(f"unknown split '{split}'; valid splits: train, validation, test")
    model, _ck, data, dev = _load(checkpoint, device, data_dir)
    part = getattr(data, split)
    model.eval()
    arrays: dict[str, np.ndarray] = {"z": batched(lambda m, xb: m.encode(xb, sample=False).z, model, part.x,
                                                  dev)}
    if part.y is not None:
        arrays["label"] = np.asarray(part.y)
    if model.has_class_output:
        arrays["y_prob"] = batched(lambda m, xb: m.classify(xb), model, part.x, dev)
    if hasattr(model, "represent"):
        arrays["representation"] = batched(
            lambda m, xb: m.represent(m.classify(xb), m.encode(xb, sample=False).z), model, part.x, dev)
    try:
        np.savez(out, **arrays)
    except OSError as e:
        raise AAEError(f"cannot write {out}: {e.strerror or e}") from None
    print_result("aae encode", {"out": str(out), "split": split, "n": len(part),
                                **{k: list(v.shape) for k, v in arrays.items()}}, json_)
