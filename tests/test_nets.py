"""Posterior types and network shapes."""

from __future__ import annotations

import pytest
import torch

from aae_cli.nets import Decoder, Discriminator, Encoder


@pytest.mark.parametrize("posterior", ["deterministic", "gaussian", "universal"])
def test_posterior_shapes_and_stochasticity(posterior: str) -> None:
    enc = Encoder(784, [32, 32], 8, posterior=posterior, noise_dim=4, y_dim=10)
    x = torch.rand(5, 784)
    a = enc(x, torch.Generator().manual_seed(0))
    b = enc(x, torch.Generator().manual_seed(1))
    assert a.z.shape == (5, 8) and a.y_logits.shape == (5, 10)
    # only the deterministic posterior gives the same code for different noise
    assert torch.equal(a.z, b.z) == (posterior == "deterministic")
    # the posterior mean is noise-free for every type
    m1, m2 = enc(x, sample=False), enc(x, sample=False)
    assert torch.equal(m1.z, m2.z)
    if posterior == "gaussian":
        assert a.mu.shape == a.logvar.shape == (5, 8)
        assert torch.equal(m1.z, a.mu)


def test_gaussian_posterior_reparametrisation_passes_gradients() -> None:
    enc = Encoder(10, [16], 3, posterior="gaussian")
    out = enc(torch.rand(4, 10), torch.Generator().manual_seed(0))
    out.z.sum().backward()
    assert all(p.grad is not None for p in enc.parameters())


def test_unknown_posterior_is_refused() -> None:
    with pytest.raises(ValueError, match="valid posteriors"):
        Encoder(10, [16], 3, posterior="magic")


def test_decoder_and_discriminator_conditioning() -> None:
    dec = Decoder(8, [16], 784, cond_dim=10)
    x_hat = dec(torch.randn(3, 8), torch.eye(10)[:3]).detach()
    assert x_hat.shape == (3, 784) and float(x_hat.min()) >= 0 and float(x_hat.max()) <= 1
    disc = Discriminator(2, [16], cond_dim=11)
    assert disc(torch.randn(3, 2), torch.eye(11)[:3]).shape == (3,)
