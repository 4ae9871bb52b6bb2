"""Training throughput (images/s) of the aae engine against a straightforward PyTorch loop of the same
model, measured in the same process, alternating, so that a shared machine affects both alike.

  .venv/bin/python benchmarks/train_bench.py --model a1 --batches 100 --rounds 3
  .venv/bin/python benchmarks/train_bench.py --model a21 --batches 100 --rounds 3
  .venv/bin/python benchmarks/train_bench.py --model a3 --batches 20 --rounds 2

a1: appendix A.1 basic AAE (2x1000, 8-D code); a21: A.2.1 semi-supervised (2x1000, y 10, z 10);
a3: A.3 clustering (2x3000, batch norm in the encoder, 20% input dropout, 16 clusters, z 5).
The baseline is what a user would write: a DataLoader over a TensorDataset, the three (four) phases each
with its own forward passes, D(real) and D(fake) as two passes, plain loss.backward() and zero_grad().
Prints one JSON line: images/s of both, their matmul flops per image (FlopCounterMode, forward and
backward), and the fraction of the machine's float32 matmul rate (measured in the same run on the
networks' dominant layer shape) that the work done reaches.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import time

import torch
from torch import nn

from aae_cli.config import TrainConfig
from aae_cli.data import load_dataset
from aae_cli.engine.trainer import Trainer
from aae_cli.variants import DataInfo


def mlp(sizes: list[int], bn: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if bn:
            layers.append(nn.BatchNorm1d(b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def plain_loop(x: torch.Tensor, y: torch.Tensor, model: str, batches: int) -> float:
    """Images/s of the straightforward loop."""
    semi, labelled = model in ("a21", "a3"), model == "a21"  # semi: y and z codes; labelled: 4th phase
    z_dim, k = {"a1": (8, 0), "a21": (10, 10), "a3": (5, 16)}[model]
    h = 3000 if model == "a3" else 1000
    drop = nn.Dropout(0.2 if model == "a3" else 0.0)
    enc = nn.Sequential(drop, mlp([784, h, h, z_dim + k], bn=model == "a3"))
    dec = nn.Sequential(mlp([z_dim + k, h, h, 784]), nn.Sigmoid())
    d_z = mlp([z_dim, h, h, 1])
    d_y = mlp([k, h, h, 1]) if semi else None
    opt_ae = torch.optim.SGD([*enc.parameters(), *dec.parameters()], lr=0.01, momentum=0.9)
    opt_d = torch.optim.SGD([*d_z.parameters(), *(d_y.parameters() if d_y else [])], lr=0.1, momentum=0.1)
    opt_g = torch.optim.SGD(enc.parameters(), lr=0.1, momentum=0.1)
    opt_c = torch.optim.SGD(enc.parameters(), lr=0.1, momentum=0.9)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=100, shuffle=True)
    bce = nn.BCEWithLogitsLoss()

    def codes(xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = enc(xb)
        return (h[:, :z_dim], h[:, z_dim:].softmax(1)) if semi else (h, None)

    n, start = 0, time.perf_counter()
    for i, (xb, yb) in enumerate(loader):
        if i == batches:
            break
        z, yy = codes(xb)
        rec = 0.5 * ((dec(torch.cat([z, yy], 1) if semi else z) - xb) ** 2).sum(1).mean()
        opt_ae.zero_grad()
        rec.backward()
        opt_ae.step()
        z, yy = codes(xb)
        real = torch.randn_like(z) * (1.0 if semi else 5.0)
        loss_d = bce(d_z(real), torch.ones(len(xb), 1)) + bce(d_z(z.detach()), torch.zeros(len(xb), 1))
        if semi:
            cat = nn.functional.one_hot(torch.randint(0, k, (len(xb),)), k).float()
            ones, zeros = torch.ones(len(xb), 1), torch.zeros(len(xb), 1)
            loss_d = loss_d + bce(d_y(cat), ones) + bce(d_y(yy.detach()), zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        z, yy = codes(xb)
        loss_g = bce(d_z(z), torch.ones(len(xb), 1)) + (bce(d_y(yy), torch.ones(len(xb), 1)) if semi else 0)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if labelled:
            logits = enc(xb[:100])[:, z_dim:]
            loss_c = nn.functional.cross_entropy(logits, yb[:100])
            opt_c.zero_grad()
            loss_c.backward()
            opt_c.step()
        n += len(xb)
    return n / (time.perf_counter() - start)


def engine(data, model: str, batches: int) -> float:
    from aae_cli.variants import get_variant

    if model == "a3":
        preset = get_variant("unsup-cluster").preset_for("mnist")
        settings = {**preset, "variant": "unsup-cluster", "clusters": 16}
    else:
        variant = "semi-supervised" if model == "a21" else "unsupervised"
        settings = {"variant": variant, "labels": "100" if model == "a21" else None, "input_noise": 0.0,
                    "z_dim": 10 if model == "a21" else 8, "prior_std": 1.0 if model == "a21" else 5.0}
    cfg = TrainConfig.from_dict({**settings, "optimizer": "sgd", "limit": batches * 100})
    from aae_cli.data.labelled import labelled_subset

    lab = labelled_subset(data.train.y[: batches * 100], "100", 10, 0) if model == "a21" else None
    n = batches * 100
    train = type(data.train)(data.train.x[:n], data.train.y[:n])
    sub = dataclasses.replace(data, train=train)
    t = Trainer(cfg, sub, DataInfo((1, 28, 28), 10, True), torch.device("cpu"), labelled=lab)
    t.held_out = {"validation": None, "test": None}  # time training only
    rec = t.train_epoch()
    return rec["images_per_s"]


def flops_per_image(fn, *args, images: int) -> float:
    """Matmul flops per image (forward and backward, as torch's FlopCounterMode counts them) of fn(*args),
    which trains on `images` images."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn(*args)
    return fc.get_total_flops() / images


def matmul_gflops(h: int, reps: int = 20) -> float:
    """The machine's float32 matmul rate for the networks' dominant shape: (100 x h) @ (h x h)."""
    a, w = torch.randn(100, h), torch.randn(h, h)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ w
        best = min(best, time.perf_counter() - t)
    return 2 * 100 * h * h / best / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["a1", "a21", "a3"], default="a1")
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    data = load_dataset("mnist")
    x = torch.from_numpy(data.train.x[: args.batches * 100]).float() / 255
    y = torch.from_numpy(data.train.y[: args.batches * 100])
    h = 3000 if args.model == "a3" else 1000
    k = min(10, args.batches)  # 10 minibatches: enough images for A.2.1's 100 labels (10 per class)
    plain_flops = flops_per_image(plain_loop, x[:k * 100], y[:k * 100], args.model, k, images=k * 100)
    aae_flops = flops_per_image(engine, data, args.model, k, images=k * 100)
    ours, plain, peak = [], [], []
    for _ in range(args.rounds):  # interleaved, so that a shared machine affects all three alike
        peak.append(matmul_gflops(h))
        plain.append(plain_loop(x, y, args.model, args.batches))
        ours.append(engine(data, args.model, args.batches))
    mm = max(peak)
    print(json.dumps({"model": args.model, "batch": 100, "batches": args.batches, "threads":
                      torch.get_num_threads(), "plain_img_s": max(plain), "aae_img_s": max(ours),
                      "speedup": round(max(ours) / max(plain), 3), "matmul_gflops": round(mm, 1),
                      "plain_mflop_per_image": round(plain_flops / 1e6, 2),
                      "aae_mflop_per_image": round(aae_flops / 1e6, 2),
                      "plain_fraction_of_matmul": round(max(plain) * plain_flops / 1e9 / mm, 3),
                      "aae_fraction_of_matmul": round(max(ours) * aae_flops / 1e9 / mm, 3)}))


if __name__ == "__main__":
    main()
