"""The MNIST classifier whose features `aae eval samples` compares (FD, KD, precision and recall).

The project trains and ships it (feature_net_mnist.npz beside this file; no download, no pickles):

    conv 5x5 1->32, ReLU, max-pool 2   (28 -> 24 -> 12)
    conv 5x5 32->64, ReLU, max-pool 2  (12 -> 8 -> 4)
    FC 1024 -> 128, ReLU               <- the features: 128 penultimate activations
    FC 128 -> 10                       (class logits)

Inputs are rows (N, 784) of pixels in [0, 1] (value / 255), reshaped to (N, 1, 28, 28) and standardised
with the usual MNIST constants (mean 0.1307, std 0.3081) inside the net.

Training (scripts/train_feature_net.py; deterministic, CPU, seed 0):

    .venv/bin/python scripts/train_feature_net.py

3 epochs of Adam (lr 1e-3, 1e-4 in the last epoch), batch 128, on the first 50,000 MNIST training images
(the project's train split); nothing is chosen on the test set. Result of the shipped file:

    epoch 1: train loss 0.1812, validation accuracy 0.9809
    epoch 2: train loss 0.0498, validation accuracy 0.9889
    epoch 3: train loss 0.0219, validation accuracy 0.9899
    validation accuracy 0.9899 (the last 10,000 training images), test accuracy 0.9921 (t10k)

875 s wall time on 2 CPU cores shared with other jobs (load average ~8; torch 2.13 CPU, 2 threads).
Weights: float32, 184,586 parameters, 740,222 bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aae_cli.errors import AAEError

WEIGHTS_PATH = Path(__file__).with_name("feature_net_mnist.npz")
# sha256 of the shipped weights file, printed by scripts/train_feature_net.py.
WEIGHTS_SHA256 = "dc4e90003e19b47780e630998e9fe5ae6dd876dbc803a85e244fbdab37a16a3a"
FEATURE_DIM = 128
INPUT_SHAPE = (1, 28, 28)
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class FeatureNet(nn.Module):
    """LeNet-style MNIST classifier; features() gives the 128 penultimate (post-ReLU) activations."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5)
        self.conv2 = nn.Conv2d(32, 64, 5)
        self.fc1 = nn.Linear(64 * 4 * 4, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 784) pixels in [0, 1] -> (N, 128)."""
        h = ((x.reshape(-1, *INPUT_SHAPE) - MNIST_MEAN) / MNIST_STD).float()
        h = nn.functional.max_pool2d(torch.relu(self.conv1(h)), 2)
        h = nn.functional.max_pool2d(torch.relu(self.conv2(h)), 2)
        return torch.relu(self.fc1(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 784) pixels in [0, 1] -> (N, 10) class logits."""
        return self.fc2(self.features(x))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_feature_net(device: torch.device | str = "cpu", path: str | Path | None = None) -> FeatureNet:
    """The shipped classifier in eval mode on `device`; the file's sha256 must be the recorded one
    (`path` replaces the shipped file, for tests)."""
    path = Path(path) if path is not None else WEIGHTS_PATH
    if not path.is_file():
        raise AAEError(f"the feature classifier's weights {path} are missing; reinstall aae-cli "
                       "(or rebuild them with scripts/train_feature_net.py)")
    sha = file_sha256(path)
    if sha != WEIGHTS_SHA256:
        raise AAEError(f"{path}: sha256 {sha[:16]}... is not the recorded {WEIGHTS_SHA256[:16]}...; the "
                       "feature classifier's weights were changed or corrupted; reinstall aae-cli")
    net = FeatureNet()
    try:
        with np.load(path, allow_pickle=False) as arrays:
            state = {k: torch.from_numpy(np.asarray(arrays[k], dtype=np.float32)) for k in arrays.files}
        net.load_state_dict(state)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise AAEError(f"{path}: cannot read the feature classifier's weights ({e})") from None
    return net.to(device).eval()


@torch.no_grad()
def compute_features(net: FeatureNet, x: np.ndarray, device: torch.device | str = "cpu",
                     batch: int = 1000) -> np.ndarray:
    """(N, 128) float64 features of rows x (N, 784): uint8 (value / 255) or float in [0, 1]."""
    from aae_cli.data.base import to_float32

    out = []
    for i in range(0, len(x), batch):
        xb = to_float32(x[i:i + batch])
        xb = torch.from_numpy(xb if xb.flags.writeable else xb.copy())
        out.append(net.features(xb.to(device)).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))


def save_weights(net: FeatureNet, path: str | Path) -> None:
    """Write the state dict as an .npz whose bytes depend on the weights only (fixed zip timestamps), so
    the same training gives the same sha256."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, t in net.state_dict().items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w") as f:
                np.lib.format.write_array(f, t.detach().cpu().numpy().astype(np.float32),
                                          allow_pickle=False)
