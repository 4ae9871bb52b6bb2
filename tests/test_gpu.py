"""On a CUDA GPU (`pytest -m gpu`; scripts/gpu_session.sh runs them on a lent machine): training resumes
exactly there and moves to the CPU, TF32 trains, and the evaluations give the CPU's numbers.

AAE_TEST_DEVICE=cpu runs the same tests on the CPU, which checks the tests themselves where no GPU is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from aae_cli.checkpoint import load_checkpoint
from tests.conftest import TINY

DEVICE = os.environ.get("AAE_TEST_DEVICE", "cuda")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(),
                                                  reason="no CUDA GPU")]


def run_json(aae, *args) -> dict:
    res = aae(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.output.strip().splitlines()[-1])


def close_weights(a: Path, b: Path, what: str) -> None:
    """Weights and optimizer states equal up to float noise (GPU kernels may sum in another order)."""
    wa, wb = load_checkpoint(a), load_checkpoint(b)
    for net, tensors in wa.nets.items():
        for k, v in tensors.items():
            np.testing.assert_allclose(wb.nets[net][k].float().numpy(), v.float().numpy(), rtol=1e-4,
                                       atol=1e-6, err_msg=f"{net}/{k} {what}")


def test_training_resumes_on_the_device_and_moves_to_the_cpu(aae, tmp_path: Path) -> None:
    semi = [*TINY, "--variant", "semi-supervised", "--labels", "100", "--device", DEVICE]
    ref, cut = tmp_path / "ref.h5", tmp_path / "cut.h5"
    run_json(aae, "train", *semi, "--epochs", "2", "--out", ref)
    run_json(aae, "train", *semi, "--epochs", "1", "--out", cut)
    run_json(aae, "train", "--resume", cut, "--epochs", "2")
    close_weights(ref, cut, f"after a resume on {DEVICE}")
    res = aae("train", "--resume", cut, "--epochs", "3", "--device", "cpu")  # device may change on resume
    assert res.exit_code == 0, res.output
    assert load_checkpoint(cut).epoch == 3
    assert ("another kind of device" in res.output) == DEVICE.startswith("cuda")


def test_evaluations_give_the_cpu_numbers(aae, tmp_path: Path) -> None:
    ck = tmp_path / "semi.h5"
    run_json(aae, "train", *TINY, "--variant", "semi-supervised", "--labels", "100", "--epochs", "2",
             "--device", DEVICE, "--out", ck)
    here, there = (run_json(aae, "eval", "semi", ck, "--device", d) for d in (DEVICE, "cpu"))
    assert abs(here["test_error"] - there["test_error"]) <= 0.02  # at most 2 of 10,000 argmax ties flip
    samples = tmp_path / "samples.npy"
    np.save(samples, np.random.default_rng(0).random((2000, 784), dtype=np.float32))
    p_here, p_there = (run_json(aae, "eval", "parzen", "--samples-file", samples, "--device", d)
                       for d in (DEVICE, "cpu"))
    assert p_here["sigma"] == p_there["sigma"]
    assert p_here["mean"] == pytest.approx(p_there["mean"], abs=1e-3)  # PROTOCOLS.md: float32 distances


@pytest.mark.skipif(not DEVICE.startswith("cuda"), reason="TF32 is a CUDA setting")
def test_tf32_trains_close_to_fp32(aae, tmp_path: Path) -> None:
    runs = {p: run_json(aae, "train", *TINY, "--epochs", "2", "--device", DEVICE, "--set", f"precision={p}",
                        "--out", tmp_path / f"{p}.h5") for p in ("fp32", "tf32")}
    assert runs["tf32"]["val_recon"] == pytest.approx(runs["fp32"]["val_recon"], rel=0.05)
