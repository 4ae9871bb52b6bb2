"""A prior given only by samples in a file (.npy (M, dim) or .npz with `z` and optional `labels`).

The paper's point (Section 2.1): an AAE only needs to sample p(z), so any distribution a user can
draw from works. The samples are stored in the checkpoint, so the model never depends on the file again.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from aae_cli.priors.base import Prior


class FilePrior(Prior):
    name = "file"

    def __init__(self, dim: int, samples: np.ndarray, labels: np.ndarray | None = None) -> None:
        super().__init__(dim)
        if samples.ndim != 2 or samples.shape[1] != dim or samples.shape[0] < 1:
            raise ValueError(f"prior samples must have shape (M, {dim}) to match --z-dim, "
                             f"got {samples.shape}")
        if not np.isfinite(samples).all():
            raise ValueError("prior samples contain NaN or infinite values")
        self.samples = torch.as_tensor(np.asarray(samples, dtype=np.float32))
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels, dtype=np.int64))
        if self.labels is not None:
            if self.labels.shape != (samples.shape[0],) or int(self.labels.min()) < 0:
                raise ValueError("prior labels must be one non-negative integer per sample")
            self.n_components = int(self.labels.max()) + 1
            self._by_label = [torch.nonzero(self.labels == c).flatten() for c in range(self.n_components)]

    @classmethod
    def from_path(cls, path: str | Path, dim: int) -> FilePrior:
        p = Path(path)
        try:
            if p.suffix == ".npz":
                with np.load(p, allow_pickle=False) as f:
                    key = next((k for k in ("z", "samples", "x") if k in f.files), None)
                    if key is None:
                        raise ValueError(f"{p} has no array named z (found: {', '.join(f.files)})")
                    labels = next((f[k] for k in ("labels", "y") if k in f.files), None)
                    return cls(dim, f[key], labels)
            return cls(dim, np.load(p, allow_pickle=False))
        except (OSError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"cannot read prior samples from {p}: {e}") from None

    def sample(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor:
        dev = generator.device
        m = self.samples.shape[0]
        idx = torch.randint(0, m, (n,), generator=generator, device=dev).cpu()
        if labels is not None:
            self._check_labels(labels)
            labels = labels.cpu()
            for c in labels.unique().tolist():
                if c < 0:
                    continue
                rows = (labels == c).nonzero().flatten()
                pool = self._by_label[c]
                pick = torch.randint(0, len(pool), (len(rows),), generator=generator, device=dev).cpu()
                idx[rows] = pool[pick]
        return self.samples[idx].to(dev)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"samples": self.samples.numpy()}
        if self.labels is not None:
            out["labels"] = self.labels.numpy()
        return out
