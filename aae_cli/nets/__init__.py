"""Networks of the paper: MLP encoder (three posterior types), decoder, discriminator."""

from aae_cli.nets.decoder import Decoder
from aae_cli.nets.discriminator import Discriminator
from aae_cli.nets.encoder import POSTERIORS, Encoded, Encoder
from aae_cli.nets.mlp import init_gaussian, mlp

__all__ = ["POSTERIORS", "Decoder", "Discriminator", "Encoded", "Encoder", "init_gaussian", "mlp"]
