"""Data-parallel training under torchrun: 2 CPU processes (gloo on 127.0.0.1) train the model one process
trains with the same global minibatch, every rank holds the same weights, rank 0 alone prints and writes,
and a run resumes on another number of processes (the checkpoint holds global state only)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from aae_cli.checkpoint import load_checkpoint
from aae_cli.cli.app import app
from tests.test_checkpoint import weights

REPO = Path(__file__).resolve().parents[1]
# 4 minibatches of 50 per epoch: each process takes 25 rows of each. No batch norm (its statistics are
# per process, so a model with it is not the single-process one).
FLAGS = ["--limit", "200", "--hidden", "32,32", "--set", "disc_hidden=[16]", "--batch-size", "50"]
CASES = {
    # Gaussian posterior noise, Gaussian input noise, prior draws
    "gaussian": ["--posterior", "gaussian", "--set", "input_noise=0.3"],
    # noise on what the discriminator sees, prior draws and codes alike
    "disc-noise": ["--set", "disc_noise=0.5"],
    # the universal posterior's noise input, the input dropout mask (global torch generator)
    "universal": ["--posterior", "universal", "--set", "input_dropout=0.2"],
    # labelled minibatch, two adversaries, a classification phase that leaves the z head out
    "semi-supervised": ["--variant", "semi-supervised", "--labels", "50"],
    # prior draws chosen by the labels of the minibatch
    "label-regularized": ["--variant", "label-regularized", "--labels", "50"],
    # the consistency phase: random shifts (randint draws), the adversarial view's power iteration and
    # the marginal entropy of the global minibatch's mean q(y|x) (A.3's batch norm off, as everywhere here;
    # PyTorch's init, so q(y|x) starts far from uniform, where the marginal's gradient is not ~0)
    "cluster-consistency": ["--variant", "unsup-cluster", "--clusters", "4", "--set", "encoder_bn=false",
                            "--set", "consistency=0.1", "--set", "consistency_views=adversarial",
                            "--set", "marginal_entropy=1", "--set", "init_std=0"],
}
STOP_STEP = 6  # rank 1 alone asks to stop after global minibatch 6 (epoch 2, minibatch 2 of 4)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# gloo on the loopback interface; one thread per process; wide lines (rich wraps at COLUMNS)
ENV = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1", "COLUMNS": "250",
       "PYTHONUNBUFFERED": "1"}


def torchrun_cmd(*args: str | Path, nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
            "--master-addr", "127.0.0.1", "--master-port", str(free_port()), *map(str, args)]


def torchrun(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(torchrun_cmd(*args), capture_output=True, text=True, env=ENV, cwd=REPO,
                          timeout=timeout)


def one_process(*args: str | Path) -> None:
    """The reference run, on one thread like each torchrun rank: a matmul split over other threads rounds
    differently, and two epochs grow that past the tolerance (seen on an AVX-512 CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = CliRunner().invoke(app, ["train", *map(str, args)], catch_exceptions=False)
    finally:
        torch.set_num_threads(threads)
    assert res.exit_code == 0, res.output


def assert_close_to(one: Path, two: Path, what: str) -> None:
    """Weights and optimizer states equal up to float noise (the gradient of a minibatch is summed in
    another order); the random states bitwise equal (the same numbers were drawn)."""
    a, b = weights(one), weights(two)
    assert a.keys() == b.keys() and a
    for k in a:
        if k.startswith("rng/") or np.asarray(a[k]).dtype.kind not in "fc":  # also step counts, settings
            assert np.array_equal(a[k], b[k]), f"{k} differs {what}"
        else:
            np.testing.assert_allclose(b[k], a[k], rtol=1e-5, atol=1e-6, err_msg=f"{k} {what}")
    ha, hb = load_checkpoint(one).history, load_checkpoint(two).history
    assert [h["epoch"] for h in ha] == [h["epoch"] for h in hb]
    for ra, rb in zip(ha, hb, strict=True):
        for k in ("reconstruction", "discriminator", "generator", "val_recon"):
            assert rb[k] == pytest.approx(ra[k], rel=1e-4), f"{k} in the log {what}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One torchrun job of 2 processes running every 2-process command, and the 1-process references."""
    d = tmp_path_factory.mktemp("ddp")
    for name, extra in CASES.items():
        one_process(*FLAGS, *extra, "--epochs", "2", "--out", d / f"one-{name}.h5")
    gauss = [*FLAGS, *CASES["gaussian"]]
    one_process(*gauss, "--epochs", "1", "--out", d / "one-epoch1.h5")
    shutil.copy(d / "one-epoch1.h5", d / "one-then-two.h5")
    commands = [[*FLAGS, *extra, "--epochs", "2", "--out", d / f"two-{name}.h5", "--json"]
                for name, extra in CASES.items()]
    commands += [[*gauss, "--epochs", "1", "--out", d / "two-then-one.h5"],
                 ["--resume", d / "one-then-two.h5", "--epochs", "2"],
                 [*gauss, "--epochs", "2", "--out", d / "stopped.h5", "--stop-at", f"1:{STOP_STEP}"],
                 # rank 0's own limit is far off: it learns from rank 1 that the time is up
                 [*gauss, "--epochs", "2", "--out", d / "timed.h5", "--time-limit", "1h",
                  "--time-up-at", f"1:{STOP_STEP}"]]
    args: list[str | Path] = [REPO / "tests" / "train_dist_runner.py"]
    for c in commands:
        args += [*c, "--next"]
    proc = torchrun(*args[:-1])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"dir": d, "proc": proc, "n": len(commands)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_processes_train_the_one_process_model(runs: dict[str, Any], name: str) -> None:
    d = runs["dir"]
    two = d / f"two-{name}.h5"
    ranks = [np.load(f"{two}.rank{r}.npz") for r in (0, 1)]
    assert ranks[0].files == ranks[1].files
    for k in ranks[0].files:
        if k != "saves":
            assert np.array_equal(ranks[0][k], ranks[1][k]), f"{k} differs between the ranks"
    assert int(ranks[0]["saves"]) >= 1 and int(ranks[1]["saves"]) == 0  # rank 0 alone writes
    assert_close_to(d / f"one-{name}.h5", two, f"between 1 and 2 processes ({name})")
    assert len(two.with_suffix(".jsonl").read_text().splitlines()) == 2


def test_rank_zero_alone_prints(runs: dict[str, Any]) -> None:
    proc = runs["proc"]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert json.loads(lines[-1]) == {"codes": [0] * (runs["n"] - 2) + [130, 0]}
    results = [json.loads(ln) for ln in lines[:-1]]
    assert [Path(r["checkpoint"]).name for r in results] == [f"two-{n}.h5" for n in CASES]  # once each
    assert proc.stderr.count("device cpu x 2 processes") == runs["n"]  # once per command
    assert "Traceback" not in proc.stderr


def test_resume_on_another_number_of_processes(runs: dict[str, Any]) -> None:
    d = runs["dir"]
    one_process("--resume", d / "two-then-one.h5", "--epochs", "2")  # 2 processes, then 1
    assert_close_to(d / "one-gaussian.h5", d / "two-then-one.h5", "after 2 processes then 1")
    assert_close_to(d / "one-gaussian.h5", d / "one-then-two.h5", "after 1 process then 2")


def test_a_stop_on_one_rank_stops_every_rank_and_resumes(runs: dict[str, Any]) -> None:
    d = runs["dir"]
    stopped = d / "stopped.h5"
    ck = load_checkpoint(stopped)  # saved by rank 0 although rank 1 alone was asked to stop
    assert (ck.epoch, ck.batch, ck.step) == (1, STOP_STEP - 4, STOP_STEP)
    assert "interrupted: saved" in runs["proc"].stderr
    one_process("--resume", stopped)
    assert_close_to(d / "one-gaussian.h5", stopped, "after a stop on 2 processes and a resume on 1")


def test_a_time_limit_on_one_rank_stops_every_rank_for_that_reason(runs: dict[str, Any]) -> None:
    d = runs["dir"]
    timed = d / "timed.h5"
    ck = load_checkpoint(timed)  # exit 0 (above), not 130: every rank knew why it stopped
    assert (ck.epoch, ck.batch, ck.step) == (1, STOP_STEP - 4, STOP_STEP)
    assert runs["proc"].stderr.count("time limit reached: saved") == 1
    ranks = [np.load(f"{timed}.rank{r}.npz") for r in (0, 1)]
    assert all(np.array_equal(ranks[0][k], ranks[1][k]) for k in ranks[0].files if k != "saves")
    one_process("--resume", timed)
    assert_close_to(d / "one-gaussian.h5", timed, "after a time limit on 2 processes and a resume on 1")


def test_the_minibatch_must_split_evenly(tmp_path: Path) -> None:
    """`python -m aae_cli` under torchrun; one error line (then torchrun's own report of the failure)."""
    proc = torchrun("-m", "aae_cli", "train", *FLAGS[:-1], "25", "--epochs", "1", "--out", tmp_path / "x.h5")
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: a minibatch of 25 does not split evenly over 2 processes; choose a "
                      "--batch-size divisible by 2 (or another --nproc-per-node)"]
    assert "[rank" not in proc.stderr  # no worker traceback
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_ctrl_c_under_torchrun_saves_once_and_resumes(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches every worker and torchrun (which forwards it): one stop, one save."""
    out = tmp_path / "run.h5"
    cmd = torchrun_cmd("-m", "aae_cli", "train", "--limit", "2000", "--hidden", "128,128", "--batch-size",
                       "20", "--epochs", "50", "--out", out)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV,
                            cwd=REPO, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("epoch 1/"):
            break
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
    output = proc.communicate(timeout=120)[0]
    assert "interrupted: saved" in output
    ck = load_checkpoint(out)
    assert 1 <= ck.epoch < 50
    res = CliRunner().invoke(app, ["train", "--resume", str(out), "--epochs", str(ck.epoch + 1)])
    assert res.exit_code == 0, res.output
