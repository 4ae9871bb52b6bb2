"""Training configuration: one typed dataclass; field help strings double as documentation.

Resolution order (later wins): dataclass defaults < the variant's paper preset < TOML file < flags.
The resolved config is stored as JSON inside every checkpoint, so a model can always be rebuilt.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aae_cli.errors import ConfigError


def _f(default: Any, help: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    # what to train
    variant: str = _f("unsupervised", "model of the paper (aae train --help lists them)")
    dataset: str = _f("mnist", "registered dataset name or a path to .npy/.npz/.h5/an image folder")
    data_dir: str | None = _f(None, "where dataset files live (else $AAE_DATA_DIR, else ~/.cache/aae)")
    download: bool = _f(False, "download missing dataset files (SVHN) with checksum verification")
    limit: int | None = _f(None, "train on the first N training images only")
    # latent code and prior (Section 2)
    prior: str = _f("gaussian", "gaussian | mixture | swiss-roll | PATH to .npy/.npz prior samples")
    prior_std: float = _f(5.0, "std of the Gaussian prior (paper A.1: 5 for MNIST)")
    mixture_components: int = _f(10, "components of the 2-D Gaussian mixture prior")
    z_dim: int = _f(8, "size of the code z (paper A.1: 8 for MNIST)")
    posterior: str = _f("deterministic", "q(z|x): deterministic | gaussian | universal")
    noise_dim: int = _f(16, "size of the noise input eta of the universal-approximator posterior")
    # labels and clusters (Sections 2.3, 5-7)
    labels: str | None = _f(None, "labelled training examples: N (drawn evenly across classes) or all")
    label_seed: int | None = _f(None, "seed of the labelled-subset draw (default: --seed); record it")
    clusters: int = _f(16, "categories of q(y|x) for unsup-cluster and dim-reduction (paper: 16, 30; 20)")
    head_distance: float = _f(6.0, "dim-reduction: cluster heads closer than this are pushed apart (eta)")
    fixed_heads: bool = _f(False, "dim-reduction: fix the cluster heads W_C to 10 I (n = m = 10, Fig. 11d)")
    head_scale: float = _f(10.0, "dim-reduction: with fixed_heads, W_C = head_scale * I (paper: 10)")
    head_input: str = _f("softmax", "dim-reduction: what picks the cluster head W_C y: softmax (q(y|x) "
                         "itself) | onehot (argmax q(y|x), no gradient into q(y|x) through the head) | "
                         "straight-through (one-hot forward, the softmax's gradient) | expected (departure: "
                         "every head decoded, each reconstruction error weighted by q(y|x))")
    head_grad: float = _f(1.0, "dim-reduction: multiplies the gradient that reaches q(y|x) through the "
                          "heads, for head_input softmax or straight-through (1: unchanged; 0: none; "
                          "the forward pass is unchanged)")
    consistency: float = _f(0.0, "models with q(y|x) (semi-supervised, dim-reduction, unsup-cluster), a "
                            "departure from the paper: weight of a phase that makes q(y|x) of a shifted view "
                            "of each image agree with the image's (lr_semi, momentum_semi); 0 = off")
    consistency_shift: int = _f(2, "models with q(y|x): the consistency phase shifts each view by up to this "
                                "many pixels in each direction")
    consistency_views: str = _f("shift", "models with q(y|x): the consistency phase's second view: shift (a "
                                "shifted copy) | adversarial (the first view moved by vat_eps in the "
                                "direction that changes q(y|x) most, as in virtual adversarial training)")
    consistency_target: str = _f("clean", "models with q(y|x): the consistency phase's target q(y|x) comes "
                                 "from: clean (the unshifted image) | shift (another shifted view, as in "
                                 "sessions 6-7; it has a degenerate solution, docs/RESULTS.md)")
    marginal_entropy: float = _f(0.0, "models with q(y|x), a departure from the paper: weight of log K - "
                                 "H(the minibatch's mean q(y|x)), a term of the consistency phase that "
                                 "pushes every category into use (IMSAT's marginal entropy); 0 = off")
    vat_eps: float = _f(2.0, "models with q(y|x): L2 length of the adversarial move (data in [0, 1])")
    # networks (appendix A: two hidden layers of 1000 ReLU units, N(0, 0.01) weights)
    hidden: list[int] = _f([1000, 1000], "hidden layer sizes of encoder and decoder")
    disc_hidden: list[int] = _f([1000, 1000], "hidden layer sizes of the discriminator")
    output: str = _f("auto", "decoder output: sigmoid | linear | auto (sigmoid for data in [0, 1])")
    encoder_bn: bool = _f(False, "batch norm in every encoder layer incl. the heads (A.2.2 SVHN, A.3)")
    decoder_bn: bool = _f(False, "batch norm in the decoder's hidden layers (A.2.2 SVHN)")
    input_dropout: float = _f(0.0, "dropout rate on the encoder's input (A.2.2, A.3: 0.2)")
    standardize: bool = _f(False, "standardise each input dimension with the training mean and std (A.2.2)")
    init_std: float = _f(0.01, "std of the Gaussian weight init (paper: 0.01); 0 = PyTorch default init")
    # optimisation (appendix A.2.1 schedule shape: per-phase lr and momentum, step decay)
    epochs: int = _f(5, "total epochs (with --resume: train until this epoch)")
    batch_size: int = _f(100, "minibatch size (paper: 100)")
    optimizer: str = _f("adam", "sgd (momentum, as in the paper) | adam")
    lr_recon: float = _f(1e-3, "learning rate of the reconstruction phase")
    lr_disc: float = _f(2e-4, "learning rate of the discriminator step of the regularization phase")
    lr_gen: float = _f(2e-4, "learning rate of the generator step of the regularization phase")
    momentum_recon: float = _f(0.9, "SGD momentum of the reconstruction phase (Adam: beta1)")
    momentum_adv: float = _f(0.1, "SGD momentum of the adversarial phases (Adam: beta1)")
    lr_semi: float = _f(0.1, "learning rate of the semi-supervised classification phase (A.2.1: 0.1)")
    momentum_semi: float = _f(0.9, "SGD momentum of the classification phase (Adam: beta1)")
    lr_decay_epochs: list[int] = _f([50, 1000], "epochs after which every learning rate is divided")
    lr_decay_factor: float = _f(0.1, "factor applied to every learning rate at each decay epoch")
    input_noise: float = _f(0.0, "std of Gaussian noise added to the input at training time (A.2.1: 0.3)")
    disc_noise: float = _f(0.0, "std of Gaussian noise added to every code the discriminator sees, prior "
                           "draws and encoder codes alike, at training time (a stabiliser; the paper: 0)")
    gen_steps: int = _f(1, "generator steps per minibatch in every regularization phase (a stabiliser some "
                        "implementations use; the paper: 1)")
    grad_clip: float | None = _f(None, "clip each phase's gradient norm to this value")
    precision: str = _f("fp32", "fp32 | bf16 (autocast of the training phases; inexact, see "
                        "PERFORMANCE.md) | tf32 (CUDA matmuls in TF32)")
    # bookkeeping
    seed: int = _f(0, "seed of every random stream (init, shuffling, prior, noise)")
    device: str = _f("auto", "auto | cpu | cuda | cuda:N")
    save_every: int = _f(1, "write the checkpoint every N epochs (and always at the end)")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @property
    def consistency_phase(self) -> bool:
        """Either term of the consistency phase is on, so a model with q(y|x) runs the phase."""
        return self.consistency > 0 or self.marginal_entropy > 0

    @property
    def consistency_shifts(self) -> bool:
        """The consistency phase moves images: one of its two views (target or second view) is a shift."""
        return (self.consistency > 0 and self.consistency_shift > 0
                and "shift" in (self.consistency_views, self.consistency_target))

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "config") -> TrainConfig:
        cfg = cls(**coerce(values, where))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Impossible settings fail here, before any data is read."""
        for name, valid in CHOICES.items():
            value = getattr(self, name)
            if value not in valid:
                raise ConfigError(f"unknown {name} '{value}'; valid {name}s: {', '.join(valid)}")
        for name in ("z_dim", "batch_size", "save_every", "mixture_components", "noise_dim", "gen_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")
        if self.epochs < 0:
            raise ConfigError(f"--epochs must be 0 or more, got {self.epochs}")
        if not self.hidden or min(self.hidden + self.disc_hidden, default=1) < 1 or not self.disc_hidden:
            raise ConfigError("hidden and disc_hidden need at least one layer, each of at least 1 unit")
        if min(self.lr_recon, self.lr_disc, self.lr_gen, self.lr_semi) <= 0:
            raise ConfigError("learning rates must be positive")
        if min(self.input_noise, self.disc_noise) < 0:
            raise ConfigError(f"input_noise and disc_noise must be 0 or more, got {self.input_noise} and "
                              f"{self.disc_noise}")
        if self.clusters < 2:
            raise ConfigError(f"--clusters must be at least 2, got {self.clusters}")
        if self.head_scale <= 0:
            raise ConfigError(f"head_scale must be positive, got {self.head_scale}")
        if self.head_grad < 0:
            raise ConfigError(f"head_grad must be 0 or more, got {self.head_grad}")
        if min(self.consistency, self.consistency_shift, self.marginal_entropy) < 0 or self.vat_eps <= 0:
            raise ConfigError("consistency, consistency_shift and marginal_entropy must be 0 or more and "
                              f"vat_eps positive, got {self.consistency}, {self.consistency_shift}, "
                              f"{self.marginal_entropy} and {self.vat_eps}")
        if not 0 <= self.input_dropout < 1:
            raise ConfigError(f"input_dropout must be in [0, 1), got {self.input_dropout}")
        if self.labels is not None and self.labels != "all":
            try:
                n = int(self.labels)
            except ValueError:
                raise ConfigError(f"--labels must be a number or 'all', got {self.labels!r}") from None
            if n < 1:
                raise ConfigError(f"--labels must be at least 1, got {n}")


CHOICES: dict[str, tuple[str, ...]] = {
    "posterior": ("deterministic", "gaussian", "universal"),
    "optimizer": ("sgd", "adam"),
    "output": ("auto", "sigmoid", "linear"),
    "precision": ("fp32", "bf16", "tf32"),
    "consistency_views": ("shift", "adversarial"),
    "consistency_target": ("clean", "shift"),
    "head_input": ("softmax", "onehot", "straight-through", "expected"),
}
# Settings added after checkpoints were written with them implied: load_checkpoint fills them in, so an
# old checkpoint resumes as it ran.
IMPLIED_BEFORE = {"consistency_target": "shift"}


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)


def _coerce_one(name: str, value: Any, where: str) -> Any:
    hint = _HINTS[name]
    args = typing.get_args(hint)
    optional = isinstance(hint, types.UnionType) and type(None) in args
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: '{name}' cannot be empty")
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    origin = typing.get_origin(base)
    try:
        if origin is list:
            (inner,) = typing.get_args(base)
            items = value.split(",") if isinstance(value, str) else list(value)
            return [inner(v) for v in items if str(v).strip() != ""]
        if base is bool:
            if isinstance(value, str):
                if value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                    raise ValueError(value)
                return value.lower() in {"true", "1", "yes"}
            return bool(value)
        if base is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return base(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: '{name}' must be {_type_name(hint)}, got {value!r}") from None


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def coerce(values: dict[str, Any], where: str) -> dict[str, Any]:
    """Check names and types of user-given settings; unknown names are an error, not ignored."""
    out = {}
    for name, value in values.items():
        key = name.replace("-", "_")
        if key not in FIELDS:
            raise ConfigError(f"{where}: unknown setting '{name}'; valid settings: {', '.join(FIELDS)}")
        out[key] = _coerce_one(key, value, where)
    return out


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file of settings (flat, or under a [train] table)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"config file {p} is not valid TOML ({e}); fix it or drop --config") from None
    data = data.get("train", data)
    return coerce(data, str(p))


def parse_set(items: list[str]) -> dict[str, Any]:
    """--set key=value pairs; values are TOML literals (numbers, true/false, [lists]) or bare strings."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        out[key.strip()] = value
    return coerce(out, "--set")


def resolve(preset: dict[str, Any], file_values: dict[str, Any], flags: dict[str, Any]) -> TrainConfig:
    merged: dict[str, Any] = {}
    for layer in (preset, file_values, flags):
        merged.update({k: v for k, v in layer.items()})
    return TrainConfig.from_dict(merged)
