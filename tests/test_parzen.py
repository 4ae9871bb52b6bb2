"""Parzen-window log-likelihood: the streamed estimator against a direct float64 computation, its
invariances (chunk size, shards, ranks), sigma selection, and `aae eval parzen` end to end."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from typer.testing import CliRunner

from aae_cli.data import load_dataset
from aae_cli.metrics.parzen import (
    SIGMAS,
    ParzenAccumulator,
    ParzenState,
    combine,
    log_likelihood,
    parzen_evaluate,
    parzen_state,
    rechunk,
    select_sigma,
)
from tests.conftest import one_line_error
from tests.parzen_dist_runner import app as parzen_app

REPO = Path(__file__).resolve().parents[1]
SIG = [0.05, 0.1, 0.3, 1.0, 3.0]  # 0.05 puts exponents near -1000: the max shift and the floor matter



def _data(n: int = 40, m: int = 300, d: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, d)).astype(np.float32), rng.random((m, d)).astype(np.float32)


def _direct(x: np.ndarray, mu: np.ndarray, sigmas: list[float]) -> np.ndarray:
    """(n, S) log p in float64, by explicit differences and scipy's logsumexp."""
    d2 = ((x[:, None, :].astype(np.float64) - mu[None].astype(np.float64)) ** 2).sum(-1)
    d = x.shape[1]
    return np.stack([logsumexp(-d2 / (2 * s * s), axis=1) - math.log(len(mu))
                     - d * math.log(s * math.sqrt(2 * math.pi)) for s in sigmas], axis=1)


@pytest.mark.parametrize("threads", [1, 2])
def test_matches_direct_float64_computation(threads: int) -> None:
    x, mu = _data()
    st = parzen_state(torch.from_numpy(x), torch.from_numpy(mu).split(64), SIG, threads=threads,
                      query_tile=16, sample_tile=50)
    ll = log_likelihood(st, SIG, x.shape[1]).numpy()
    ref = _direct(x, mu, SIG)
    assert st.count == len(mu)
    np.testing.assert_allclose(ll, ref, rtol=1e-6, atol=1e-3)  # PROTOCOLS: ~1e-3 nats per point


def test_chunk_size_does_not_change_the_result() -> None:
    x, mu = _data(m=500)
    q, s = torch.from_numpy(x), torch.from_numpy(mu)
    small = log_likelihood(parzen_state(q, s.split(7), SIG), SIG, 30)
    large = log_likelihood(parzen_state(q, s.split(1000), SIG), SIG, 30)
    np.testing.assert_allclose(small.numpy(), large.numpy(), rtol=1e-6)


def test_combined_shards_equal_the_whole() -> None:
    x, mu = _data(m=300)
    q, s = torch.from_numpy(x), torch.from_numpy(mu)
    whole = parzen_state(q, [s], SIG, sample_tile=50)
    shards = [parzen_state(q, [s[a:b]], SIG, sample_tile=50) for a, b in [(0, 100), (100, 250), (250, 300)]]
    merged = combine(combine(shards[0], shards[1]), shards[2])
    assert merged.count == 300
    # shards cut at tile boundaries: the same float32 tiles, so only float64 rounding differs
    np.testing.assert_allclose(merged.log_sum_exp().numpy(), whole.log_sum_exp().numpy(), rtol=1e-12)
    # cut anywhere: float32 rounding within tiles only
    odd = combine(parzen_state(q, [s[:77]], SIG), parzen_state(q, [s[77:]], SIG))
    np.testing.assert_allclose(odd.log_sum_exp().numpy(), whole.log_sum_exp().numpy(), rtol=1e-6)
    # an empty state is the identity, in either order
    empty = ParzenState.empty(len(x), len(SIG))
    for c in (combine(empty, whole), combine(whole, empty)):
        assert c.count == whole.count
        np.testing.assert_array_equal(c.log_sum_exp().numpy(), whole.log_sum_exp().numpy())


def test_ranks_taking_every_kth_block_give_the_single_process_state() -> None:
    x, mu = _data(m=2500)
    q, s = torch.from_numpy(x), torch.from_numpy(mu)
    blocks = list(s.split(1000))
    single = parzen_state(q, rechunk(iter(blocks), 2000), SIG)
    ranks = [parzen_state(q, rechunk((b for i, b in enumerate(blocks) if i % 3 == r), 2000), SIG)
             for r in range(3)]
    merged = combine(combine(ranks[0], ranks[1]), ranks[2])
    np.testing.assert_allclose(merged.log_sum_exp().numpy(), single.log_sum_exp().numpy(), rtol=1e-12)


def test_rechunk_keeps_every_row_in_order() -> None:
    blocks = [torch.arange(n * 2).reshape(n, 2) + 100 * i for i, n in enumerate([3, 5, 1, 4])]
    for size in (1, 2, 4, 100):
        chunks = list(rechunk(iter(blocks), size))
        assert all(len(c) == size for c in chunks[:-1]) and 0 < len(chunks[-1]) <= size
        assert torch.equal(torch.cat(chunks), torch.cat(blocks))


def test_sigma_is_chosen_on_validation_and_test_is_reported_there() -> None:
    sig = [0.1, 0.2, 0.3]
    val = np.array([[1.0, 5.0, 2.0], [1.0, 3.0, 2.0]])  # best mean at sigma 0.2
    test = np.array([[10.0, 1.0, 30.0], [20.0, 3.0, 40.0], [30.0, 8.0, 50.0]])  # best at 0.3: not chosen
    res = select_sigma(val, test, sig, n_samples=7, seed=3)
    assert res.sigma == 0.2 and res.sigma_index == 1
    assert res.mean == pytest.approx(4.0)
    assert res.stderr == pytest.approx(np.std([1.0, 3.0, 8.0]) / math.sqrt(3))
    assert res.val_means == pytest.approx([1.0, 4.0, 2.0])
    assert (res.n_validation, res.n_test, res.n_samples, res.seed) == (2, 3, 7, 3)


def test_evaluate_scores_validation_and_test_against_the_same_samples() -> None:
    x, mu = _data(n=60, m=400)
    q, s = torch.from_numpy(x), torch.from_numpy(mu)
    res = parzen_evaluate(q[:30], q[30:], s.split(128), SIG, n_select=20)
    ref = _direct(x, mu, SIG)
    k = int(np.argmax(ref[:20].mean(0)))
    assert res.sigma == SIG[k] and (res.n_validation, res.n_test, res.n_samples) == (20, 30, 400)
    assert res.mean == pytest.approx(ref[30:, k].mean(), abs=1e-3)
    assert res.stderr == pytest.approx(ref[30:, k].std() / math.sqrt(30), rel=1e-3)


def test_accumulator_rejects_wrong_shapes() -> None:
    acc = ParzenAccumulator(torch.zeros(3, 4), SIG)
    with pytest.raises(ValueError, match=r"\(m, 4\)"):
        acc.update(torch.zeros(5, 3))
    acc.close()


# -- the command -----------------------------------------------------------------------------------------
def _run(*args: str | Path):
    return CliRunner().invoke(parzen_app, [str(a) for a in args], catch_exceptions=False)


def test_cli_on_a_tiny_checkpoint(tiny_run: Path) -> None:
    res = _run(tiny_run, "--samples", "500", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert math.isfinite(out["mean"]) and math.isfinite(out["stderr"]) and out["stderr"] > 0
    assert any(math.isclose(out["sigma"], s) for s in SIGMAS)
    assert out["n_samples"] == 500 and out["seed"] == 0 and out["dataset"] == "mnist"
    assert (out["n_validation"], out["n_test"]) == (1000, 10000)
    assert len(out["val_means"]) == len(out["sigmas"]) == 10
    assert out["sigma"] == out["sigmas"][int(np.argmax(out["val_means"]))]
    assert out["test_means"][out["sigmas"].index(out["sigma"])] == pytest.approx(out["mean"])


@pytest.fixture(scope="module")
def mnist_train() -> np.ndarray:
    return np.asarray(load_dataset("mnist").train.x[:2500])


def test_samples_file_of_real_images_beats_noise(tmp_path: Path, mnist_train: np.ndarray) -> None:
    real, noise = tmp_path / "real.npy", tmp_path / "noise.npy"
    np.save(real, mnist_train[:1000])  # uint8: read as pixel / 255
    np.save(noise, np.random.default_rng(0).random((1000, 784), dtype=np.float32))
    r = _run("--samples-file", real, "--json")
    n = _run("--samples-file", noise, "--json")
    assert r.exit_code == 0 and n.exit_code == 0, r.output + n.output
    r, n = json.loads(r.stdout), json.loads(n.stdout)
    assert r["n_samples"] == 1000 and r["seed"] is None
    assert r["mean"] > n["mean"] + 100
    # the same samples as float32 in an .h5 (key "samples") and an .npz (the only array)
    x = mnist_train[:1000].astype(np.float32) / 255
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["samples"] = x.reshape(-1, 1, 28, 28)
    np.savez(tmp_path / "s.npz", whatever=x)
    for p in (tmp_path / "s.h5", tmp_path / "s.npz"):
        out = json.loads(_run("--samples-file", p, "--json").stdout)
        assert out["mean"] == pytest.approx(r["mean"], rel=1e-9)


@pytest.mark.parametrize("shape", [(100,), (100, 783), (10, 28, 27)])
def test_samples_file_of_the_wrong_shape(tmp_path: Path, shape: tuple[int, ...]) -> None:
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros(shape, dtype=np.float32))
    assert "784" in one_line_error(_run("--samples-file", bad))


def test_bad_parzen_input(tmp_path: Path) -> None:
    assert "CHECKPOINT" in one_line_error(_run("--samples", "10"))
    assert "no such file" in one_line_error(_run("--samples-file", tmp_path / "none.npy"))
    two = tmp_path / "two.npz"
    np.savez(two, a=np.zeros((2, 784)), b=np.zeros((2, 784)))
    assert "'samples'" in one_line_error(_run("--samples-file", two))
    ok = tmp_path / "ok.npy"
    np.save(ok, np.zeros((5, 784), dtype=np.float32))
    assert "more than the 5 rows" in one_line_error(_run("--samples-file", ok, "--samples", "6"))


def test_samples_file_outside_the_datas_range(tmp_path: Path, mnist_train: np.ndarray) -> None:
    pixels = tmp_path / "pixels.npy"
    np.save(pixels, mnist_train[:1000].astype(np.float32))  # 0-255 as float: not read as pixel / 255
    msg = one_line_error(_run("--samples-file", pixels))
    assert "far outside the data's [0, 1]" in msg and "255" in msg
    edge = tmp_path / "edge.npy"  # a linear decoder's overshoot is not refused
    np.save(edge, np.full((1000, 784), -0.5, dtype=np.float32))
    assert _run("--samples-file", edge, "--json").exit_code == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_give_the_single_process_result(tmp_path: Path, mnist_train: np.ndarray) -> None:
    f = tmp_path / "s.npy"
    np.save(f, mnist_train[:2500])  # blocks 0 and 2 (500 rows) on rank 0, block 1 on rank 1
    single = _run("--samples-file", f, "--chunk", "2000", "--json")
    assert single.exit_code == 0, single.output
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
         "--master-port", str(_free_port()), str(REPO / "tests" / "parzen_dist_runner.py"),
         "--samples-file", str(f), "--json", "--chunk", "2000"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, proc.stdout  # rank 0 alone prints
    dist_out, one = json.loads(lines[0]), json.loads(single.stdout)
    assert dist_out["world_size"] == 2 and dist_out["n_samples"] == one["n_samples"] == 2500
    assert dist_out["sigma"] == one["sigma"]
    assert dist_out["mean"] == pytest.approx(one["mean"], rel=1e-12)
    assert dist_out["stderr"] == pytest.approx(one["stderr"], rel=1e-9)
    np.testing.assert_allclose(dist_out["val_means"], one["val_means"], rtol=1e-12)


def test_parzen_centres_script(tmp_path: Path, tiny_run: Path, mnist_train: np.ndarray) -> None:
    from aae_cli.engine.model_io import load_model

    script = Path(__file__).resolve().parents[1] / "scripts" / "parzen_centres.py"

    def centres(*args: str | Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), "--n", "1000", *map(str, args)],
                              capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})

    rec, train = tmp_path / "rec.npy", tmp_path / "train.npy"
    assert centres("--kind", "train", "--out", train).returncode == 0
    assert np.array_equal(np.load(train), mnist_train[:1000].astype(np.float32) / 255)
    done = centres("--kind", "reconstruction", "--checkpoint", tiny_run, "--out", rec)
    assert done.returncode == 0, done.stderr
    model, _ = load_model(tiny_run, torch.device("cpu"))
    with torch.no_grad():
        want = model.reconstruct(torch.from_numpy(np.load(train)[:5])).numpy()
    got = np.load(rec)
    assert got.shape == (1000, 784) and np.allclose(got[:5], want, atol=1e-6)
    assert not np.allclose(got, np.load(train), atol=0.05)  # a tiny model does not copy the images
    out = json.loads(_run("--samples-file", rec, "--json").stdout)
    assert out["n_samples"] == 1000 and math.isfinite(out["mean"])
    assert "needs --checkpoint" in centres("--kind", "reconstruction", "--out", rec).stderr
