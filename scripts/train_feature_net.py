"""Train the MNIST classifier behind `aae eval samples` and write aae_cli/metrics/feature_net_mnist.npz.

Deterministic (seed 0, CPU, deterministic algorithms, fixed thread count): the same torch build on the
same kind of CPU gives the same weights and so the same sha256. Trains on the project's MNIST train
split (the first 50,000 training images), reports accuracy on validation (the last 10,000) and test, and
chooses nothing on either. Paste the printed sha256 into aae_cli/metrics/feature_net.py.

    .venv/bin/python scripts/train_feature_net.py [--out PATH] [--epochs 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from aae_cli.data import load_dataset, to_float32
from aae_cli.metrics.feature_net import WEIGHTS_PATH, FeatureNet, file_sha256, save_weights


@torch.no_grad()
def accuracy(net: FeatureNet, x: np.ndarray, y: np.ndarray) -> float:
    net.eval()
    pred = np.concatenate([net(torch.from_numpy(to_float32(x[i:i + 1000]))).argmax(1).numpy()
                           for i in range(0, len(x), 1000)])
    return float(np.mean(pred == y))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    t0 = time.time()
    data = load_dataset("mnist", args.data_dir)
    x_train = torch.from_numpy(to_float32(data.train.x))
    y_train = torch.from_numpy(data.train.y)
    print(f"train {len(data.train)}, validation {len(data.validation)}, test {len(data.test)}", flush=True)

    net = FeatureNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        if epoch == args.epochs - 1 and args.epochs > 1:
            for g in opt.param_groups:
                g["lr"] = 1e-4  # a short low-lr finish, fixed in advance
        net.train()
        order = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = torch.nn.functional.cross_entropy(net(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        val = accuracy(net, data.validation.x, data.validation.y)
        print(f"epoch {epoch + 1}: train loss {total / len(order):.4f}, validation accuracy {val:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)

    val = accuracy(net, data.validation.x, data.validation.y)
    test = accuracy(net, data.test.x, data.test.y)
    save_weights(net, args.out)
    print(f"validation accuracy {val:.4f}, test accuracy {test:.4f}, wall {time.time() - t0:.0f} s")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    print(f"sha256 {file_sha256(args.out)}")


if __name__ == "__main__":
    main()
