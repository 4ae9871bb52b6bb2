"""Parzen-window benchmark (run by hand, not part of the tests).

    .venv/bin/python benchmarks/parzen_bench.py protocol            # (a) the 10K protocol vs the matmul floor
    .venv/bin/python benchmarks/parzen_bench.py throughput -n 200000 # (b) samples/s, peak RSS, 10M projection
    .venv/bin/python benchmarks/parzen_bench.py full CHECKPOINT -n 10000000   # (c) a real run, wall + RSS

(a) times the whole protocol (1,000 validation + 10,000 test MNIST queries, 10,000 samples, all ten sigmas,
sigma selection) against one float32 torch.mm of the same shapes, (11000 x 784) @ (784 x 10000): the
distance work that no exact method avoids. Runs alternate (floor, parzen, floor, ...) and the best of each
is kept, so a machine shared with other jobs affects both alike; the floor is the faster of the default
thread count and one thread.
(b) and (c) run in a subprocess so that its peak RSS (ru_maxrss) is measured alone.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from aae_cli.data import load_dataset, to_float32
from aae_cli.metrics.parzen import SAMPLE_BLOCK, SIGMAS, parzen_evaluate, rechunk

HERE = Path(__file__).resolve()


def _queries() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    d = load_dataset("mnist")
    val = torch.from_numpy(to_float32(np.asarray(d.validation.x[:1000])))
    test = torch.from_numpy(to_float32(np.asarray(d.test.x)))
    train = torch.from_numpy(to_float32(np.asarray(d.train.x[:10000])))  # stand-in samples
    return val, test, train


def protocol(rounds: int) -> dict:
    val, test, samples = _queries()
    q = torch.cat([val, test])
    default_threads = torch.get_num_threads()

    def floor(threads: int) -> float:
        torch.set_num_threads(threads)
        t = time.perf_counter()
        torch.mm(q, samples.T)
        dt = time.perf_counter() - t
        torch.set_num_threads(default_threads)
        return dt

    def run() -> tuple[float, float, float]:
        t = time.perf_counter()
        res = parzen_evaluate(val, test, samples.split(10_000), SIGMAS)
        return time.perf_counter() - t, res.mean, res.sigma

    floor(default_threads)  # warm-up
    f_def, f_one, runs = [], [], []
    for _ in range(rounds):
        f_def.append(floor(default_threads))
        f_one.append(floor(1))
        runs.append(run())
    best_floor = min(min(f_def), min(f_one))
    best = min(r[0] for r in runs)
    return {"bench": "protocol-10k", "queries": len(q), "samples": len(samples), "dim": q.shape[1],
            "floor_mm_s_default_threads": round(min(f_def), 3), "floor_mm_s_1_thread": round(min(f_one), 3),
            "floor_gflops": round(2 * len(q) * len(samples) * q.shape[1] / best_floor / 1e9, 1),
            "parzen_s": round(best, 3), "ratio": round(best / best_floor, 2),
            "all_parzen_s": [round(r[0], 2) for r in runs],
            "all_floor_s": [round(x, 2) for x in f_def + f_one],
            "mean": runs[0][1], "sigma": runs[0][2], "threads": default_threads}


def throughput_child(n: int, chunk: int) -> dict:
    """Random uniform samples, drawn in blocks as the CLI does, scored against the real queries."""
    val, test, _ = _queries()
    gen = torch.Generator().manual_seed(0)

    def blocks():
        for b in range(0, n, SAMPLE_BLOCK):
            yield torch.rand(min(SAMPLE_BLOCK, n - b), 784, generator=gen)

    t = time.perf_counter()
    res = parzen_evaluate(val, test, rechunk(blocks(), chunk), SIGMAS)
    dt = time.perf_counter() - t
    return {"n": n, "seconds": round(dt, 2), "samples_per_s": round(n / dt, 1), "sigma": res.sigma}


def in_child(argv: list[str]) -> tuple[dict, float]:
    """Run this script with argv in a subprocess: its last JSON line, and its peak RSS in MiB."""
    proc = subprocess.run([sys.executable, str(HERE), *argv], capture_output=True, text=True, check=True)
    rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB, max over children
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]), rss_kib / 1024


def throughput(n: int, chunk: int) -> dict:
    out, rss = in_child(["_throughput", "-n", str(n), "--chunk", str(chunk)])
    proj = 10_000_000 / out["samples_per_s"]
    return {"bench": "throughput", **out, "chunk": chunk, "peak_rss_mib": round(rss, 1),
            "projected_10m_s": round(proj), "projected_10m_min": round(proj / 60, 1)}


def full(checkpoint: str, n: int, chunk: int) -> dict:
    t = time.perf_counter()
    out, rss = in_child(["_cli", checkpoint, "--samples", str(n), "--chunk", str(chunk), "--json"])
    wall = time.perf_counter() - t
    return {"bench": "full", "n": n, "wall_s": round(wall, 1), "peak_rss_mib": round(rss, 1),
            "mean": out["mean"], "stderr": out["stderr"], "sigma": out["sigma"], "seconds": out["seconds"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("protocol")
    a.add_argument("--rounds", type=int, default=3)
    b = sub.add_parser("throughput")
    b.add_argument("-n", type=int, default=200_000)
    b.add_argument("--chunk", type=int, default=10_000)
    c = sub.add_parser("full")
    c.add_argument("checkpoint")
    c.add_argument("-n", type=int, default=10_000_000)
    c.add_argument("--chunk", type=int, default=10_000)
    t = sub.add_parser("_throughput")
    t.add_argument("-n", type=int)
    t.add_argument("--chunk", type=int)
    if len(sys.argv) > 1 and sys.argv[1] == "_cli":  # the command itself, whether or not `aae eval` has it
        import typer

        from aae_cli.cli.eval_parzen import parzen

        app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        app.command()(parzen)
        sys.argv = [sys.argv[0], *sys.argv[2:]]
        app()
        return
    args = p.parse_args()
    if args.cmd == "protocol":
        res = protocol(args.rounds)
    elif args.cmd == "throughput":
        res = throughput(args.n, args.chunk)
    elif args.cmd == "full":
        res = full(args.checkpoint, args.n, args.chunk)
    else:
        res = throughput_child(args.n, args.chunk)
    res.setdefault("machine", f"{platform.machine()}, {torch.get_num_threads()} threads, "
                   f"torch {torch.__version__}")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
