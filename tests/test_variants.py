"""The contract every registered variant keeps, and what is special to each one."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from aae_cli.config import TrainConfig
from aae_cli.data import load_dataset
from aae_cli.engine.trainer import Trainer
from aae_cli.errors import ConfigError
from aae_cli.variants import VARIANTS, Batch, DataInfo, get_variant
from tests.conftest import one_line_error
from tests.test_checkpoint import assert_same_weights

SMALL = {"hidden": [32, 32], "disc_hidden": [16], "batch_size": 50, "limit": 200, "epochs": 1}
# Per-variant settings that make the tiny run meaningful (labelled subsets that fit 200 images).
EXTRA = {"label-regularized": {"labels": "50"}, "semi-supervised": {"labels": "50"},
         "dim-reduction": {"labels": "50"}, "unsup-cluster": {"clusters": 4}}
MNIST_INFO = DataInfo((1, 28, 28), 10, True)


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist", limit=200)


def make_trainer(name: str, data, **over) -> Trainer:
    from aae_cli.data.labelled import labelled_subset

    preset = get_variant(name).preset_for("mnist")
    values = {**preset, **SMALL, **EXTRA.get(name, {}), "variant": name, **over}
    cfg = TrainConfig.from_dict(values)
    use = get_variant(name).label_use(cfg)
    lab = labelled_subset(data.train.y, cfg.labels, 10, 0) if use == "subset" else None
    return Trainer(cfg, data, MNIST_INFO, torch.device("cpu"), labelled=lab)


def snapshot(model) -> dict[str, dict[str, torch.Tensor]]:
    return {n: {k: v.detach().clone() for k, v in net.state_dict().items()} for n, net in model.nets.items()}


def a_batch(t: Trainer) -> Batch:
    idx = torch.arange(50)
    b = Batch(x=t._x(idx), y=None if t.y is None else t.y[idx])
    if t.model.labelled_batches:
        lab = t._labelled_order(50)
        b.x_lab, b.y_lab = t._x(lab), t.y[lab]
    return b


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_phase_is_finite_and_updates_only_its_own_networks(name: str, mnist) -> None:
    t = make_trainer(name, mnist)
    t.model.train()
    batch = a_batch(t)
    assert t.phases, "a variant without phases trains nothing"
    for ph in t.phases:
        before = snapshot(t.model)
        loss, extras = t.run_phase(ph, batch)
        assert torch.isfinite(loss), f"{name}/{ph.name} loss is {loss}"
        assert all(torch.isfinite(torch.as_tensor(v)) for v in extras.values())
        after = snapshot(t.model)
        for net in before:
            params = dict(t.model.nets[net].named_parameters())
            changed = any(not torch.equal(before[net][k], after[net][k]) for k in params)
            if net in ph.trains and params:
                assert changed, f"{name}: phase {ph.name} did not update its own network {net}"
            elif net not in ph.trains:
                assert not changed, f"{name}: phase {ph.name} changed {net}, which it does not own"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_sample_shapes(name: str, mnist) -> None:
    model = make_trainer(name, mnist).model.eval()
    gen = torch.Generator().manual_seed(0)
    x = model.sample(7, gen)
    assert x.shape == (7, 784) and torch.isfinite(x).all()
    grid, ncol = model.sample_grid(40, gen)
    assert grid.shape[1] == 784 and len(grid) >= 1
    if ncol is not None:
        assert len(grid) % ncol == 0


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_checkpoint_round_trip_and_exact_resume(name: str, aae, tmp_path: Path) -> None:
    flags = ["--variant", name, "--limit", "200", "--hidden", "32,32", "--set", "disc_hidden=[16]",
             "--batch-size", "50"]
    flags += [f"--{k}" if k in ("labels", "clusters") else "--set" for k in EXTRA.get(name, {})]
    flags += [str(v) for v in EXTRA.get(name, {}).values()]
    straight, split = tmp_path / "a.h5", tmp_path / "b.h5"
    assert aae("train", *flags, "--epochs", "3", "--out", straight).exit_code == 0
    assert aae("train", *flags, "--epochs", "1", "--out", split).exit_code == 0
    res = aae("train", "--resume", split, "--epochs", "3")
    assert res.exit_code == 0, res.output
    assert_same_weights(straight, split, f"after resume ({name})")
    res = aae("sample", split, "--n", "20", "--out", tmp_path / "g.png")
    assert res.exit_code == 0, res.output


# -- what is special to each variant ---------------------------------------------------------------
def test_label_regularized_extra_class_and_label_matched_positives(mnist) -> None:
    t = make_trainer("label-regularized", mnist)
    m = t.model
    y = torch.tensor([3, -1, 0])
    c = m.condition(y)
    assert c.shape == (3, 11)
    assert c[0, 3] == 1 and c[1, 10] == 1 and c[2, 0] == 1 and c.sum() == 3
    # only the labelled subset's labels reach the model; the rest are -1
    known = t.y
    assert int((known >= 0).sum()) == 50
    assert torch.equal(known[known >= 0], torch.from_numpy(mnist.train.y)[known >= 0])


def test_supervised_decoder_uses_the_label(mnist) -> None:
    m = make_trainer("supervised", mnist).model.eval()
    z = torch.zeros(2, m.cfg.z_dim)
    a = m.nets["decoder"](z, m.one_hot(torch.tensor([1, 1]), 10))
    b = m.nets["decoder"](z, m.one_hot(torch.tensor([1, 7]), 10))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])
    grid, ncol = m.sample_grid(30, torch.Generator().manual_seed(0))
    assert ncol == 10 and grid.shape == (30, 784)


def test_semi_supervised_classification_phase_uses_the_labelled_minibatch(mnist) -> None:
    t = make_trainer("semi-supervised", mnist)
    lab = set(t.labelled.tolist())
    order = t._labelled_order(120)
    assert set(order.tolist()) <= lab and len(order) == 120
    # every labelled example appears before any repeats (a shuffle, not a random draw)
    assert len(set(order[:50].tolist())) == 50


def test_unsup_cluster_heads_and_no_labels(mnist) -> None:
    t = make_trainer("unsup-cluster", mnist)
    assert t.y is None and "classification" not in [p.name for p in t.phases]
    heads = t.model.eval().cluster_heads()
    assert heads.shape == (4, 784)


def test_head_distance_penalty() -> None:
    from aae_cli.variants.dim_reduction import ClusterHeads

    heads = ClusterHeads(3, 2, fixed=False)
    with torch.no_grad():
        heads.weight.copy_(torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]]))
    # pairs at distances 3, 4, 5 with eta 6: (6-3) + (6-4) + (6-5) = 6; with eta 3.5 only the pair at 3
    with torch.no_grad():
        assert math.isclose(float(heads.distance_penalty(6.0)), 6.0, rel_tol=1e-6)
        assert math.isclose(float(heads.distance_penalty(3.5)), 0.5, rel_tol=1e-6)
        assert float(heads.distance_penalty(2.0)) == 0.0
    fixed = ClusterHeads(10, 10, fixed=True)
    assert torch.equal(fixed.weight, 10 * torch.eye(10)) and not list(fixed.parameters())


def test_dim_reduction_learned_versus_fixed_heads(mnist) -> None:
    learned = make_trainer("dim-reduction", mnist)
    fixed = make_trainer("dim-reduction", mnist, z_dim=10, fixed_heads=True)
    batch = a_batch(learned)
    w0 = learned.model.nets["heads"].weight.detach().clone()
    learned.model.train()
    learned.run_phase(learned.phases[0], batch)
    assert not torch.equal(w0, learned.model.nets["heads"].weight)
    fixed.model.train()
    fixed.run_phase(fixed.phases[0], a_batch(fixed))
    assert torch.equal(fixed.model.nets["heads"].weight, 10 * torch.eye(10))
    rep = fixed.model.represent(torch.eye(10)[:2], torch.zeros(2, 10))
    assert torch.equal(rep, 10 * torch.eye(10)[:2])
    scaled = make_trainer("dim-reduction", mnist, z_dim=10, fixed_heads=True, head_scale=2.5)
    assert torch.equal(scaled.model.nets["heads"].weight, 2.5 * torch.eye(10))
    with pytest.raises(ConfigError, match="head_scale must be positive"):
        make_trainer("dim-reduction", mnist, z_dim=10, fixed_heads=True, head_scale=0.0)


def test_dim_reduction_head_input_modes(mnist) -> None:
    y = torch.tensor([[0.7, 0.2, 0.1] + [0.0] * 7, [0.1, 0.1, 0.8] + [0.0] * 7], requires_grad=True)
    z = torch.zeros(2, 10)
    soft = make_trainer("dim-reduction", mnist, z_dim=10, fixed_heads=True).model
    assert torch.allclose(soft.represent(y, z), 10 * y)  # the default feeds q(y|x) itself
    hard = 10 * torch.eye(10)[[0, 2]]
    onehot = make_trainer("dim-reduction", mnist, z_dim=10, fixed_heads=True, head_input="onehot").model
    out = onehot.represent(y, z)
    assert torch.equal(out, hard) and not out.requires_grad  # argmax: nothing flows back into q(y|x)
    st = make_trainer("dim-reduction", mnist, z_dim=10, fixed_heads=True, head_input="straight-through").model
    out = st.represent(y, z)
    assert torch.allclose(out, hard)
    (out * torch.arange(10.0)).sum().backward()  # the softmax's gradient: d/dy of sum(10 y_j j) = 10 j
    assert torch.allclose(y.grad, 10 * torch.arange(10.0).expand(2, 10))
    with pytest.raises(ConfigError, match="head_input"):
        make_trainer("dim-reduction", mnist, z_dim=10, fixed_heads=True, head_input="gumbel")


def test_dim_reduction_expected_head_weights_each_heads_error(mnist) -> None:
    m = make_trainer("dim-reduction", mnist, z_dim=2, head_input="expected").model
    q = torch.tensor([[0.7, 0.3] + [0.0] * 8, [0.0, 0.1, 0.9] + [0.0] * 7], requires_grad=True)
    z, x = torch.randn(2, 2), torch.rand(2, 784)
    loss = m.expected_error(q, z, x)
    loss.backward()
    with torch.no_grad():  # each head decoded alone: its error per image
        err = torch.stack([0.5 * (m.decode(m.one_hot(torch.full((2,), k), 10), z) - x).pow(2).sum(1)
                           for k in range(10)], dim=1)
    assert torch.allclose(loss, (q * err).sum(1).mean(), rtol=1e-5)
    assert torch.allclose(q.grad, err / 2, rtol=1e-5)  # q(y|x) learns which head reconstructs best
    assert err.std() > 0  # the heads differ, so the weights matter
    q.grad = None
    rep = m.represent(q, z)  # outside the reconstruction phase: the argmax's head, as onehot
    assert torch.equal(rep, m.nets["heads"].weight[[0, 2]] + z)
    rep.sum().backward()
    assert q.grad is None  # nothing flows back into q(y|x) there


@pytest.mark.parametrize("head_input", ["softmax", "straight-through"])
def test_dim_reduction_head_grad_scales_only_the_backward(mnist, head_input: str) -> None:
    y = torch.tensor([[0.7, 0.2, 0.1] + [0.0] * 7, [0.1, 0.1, 0.8] + [0.0] * 7], requires_grad=True)
    z = torch.randn(2, 10)
    outs, grads = [], []
    for g in (1.0, 0.1, 0.0):
        m = make_trainer("dim-reduction", mnist, z_dim=10, fixed_heads=True, head_input=head_input,
                         head_grad=g).model
        out = m.represent(y, z)
        (out * torch.arange(10.0)).sum().backward()
        outs.append(out.detach())
        grads.append(y.grad.clone())
        y.grad = None
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])  # the forward is unchanged
    assert torch.allclose(grads[1], 0.1 * grads[0]) and not grads[0].eq(0).all()
    assert grads[2].eq(0).all()
    with pytest.raises(ConfigError, match="head_grad"):
        make_trainer("dim-reduction", mnist, z_dim=10, fixed_heads=True, head_grad=-1.0)


def test_vae_kl_term(mnist) -> None:
    m = make_trainer("vae", mnist, prior_std=2.0).model
    mu, logvar = torch.zeros(4, 8), torch.full((4, 8), math.log(4.0))
    assert torch.allclose(m.kl(mu, logvar, mu), torch.zeros(4), atol=1e-6)  # q = p: KL 0
    mu2 = torch.full((4, 8), 1.0)
    # KL(N(1, 4) || N(0, 4)) per dim = 1 / (2 * 4)
    assert torch.allclose(m.kl(mu2, logvar, mu2), torch.full((4,), 8 / 8.0), atol=1e-5)
    # Monte Carlo estimate through the mixture density agrees with the mixture's own samples' scale
    mix = make_trainer("vae", mnist, prior="mixture", z_dim=2).model
    z = mix.priors["z"].sample(20000, torch.Generator().manual_seed(0))
    log_p = mix.priors["z"].log_prob(z)
    assert torch.isfinite(log_p).all()
    # density integrates to ~1: mean of p/q over q=p draws ... check via a grid sum instead
    g = torch.linspace(-8, 8, 401)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    dens = mix.priors["z"].log_prob(torch.stack([xx.flatten(), yy.flatten()], 1)).exp()
    assert abs(float(dens.sum() * (g[1] - g[0]) ** 2) - 1.0) < 0.02


def test_vae_refuses_a_prior_without_density(aae, tmp_path) -> None:
    res = aae("train", "--variant", "vae", "--prior", "swiss-roll", "--z-dim", "2", "--epochs", "1",
              "--out", tmp_path / "v.h5", "--limit", "100", "--hidden", "16")
    assert res.exit_code != 0 and "density" in res.output


@pytest.mark.parametrize(("args", "expected"), [
    (["--variant", "semi-supervised", "--labels", "100000"], "more than the"),
    (["--variant", "semi-supervised", "--labels", "105"], "not divisible by the 10 classes"),
    (["--variant", "unsup-cluster", "--clusters", "1"], "at least 2"),
    (["--variant", "unsupervised", "--labels", "100"], "does not use labels"),
])
def test_bad_label_and_cluster_options(aae, tmp_path, args, expected) -> None:
    res = aae("train", *args, "--epochs", "1", "--out", tmp_path / "x.h5", "--hidden", "16")
    assert res.exit_code != 0 and expected in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1


def test_labelled_variant_on_unlabelled_data(aae, tmp_path) -> None:
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((100, 4, 4), dtype=np.float32))
    res = aae("train", "--variant", "supervised", "--dataset", data, "--epochs", "1",
              "--out", tmp_path / "x.h5", "--hidden", "16")
    assert res.exit_code != 0 and "needs labels" in res.output


def test_random_shift_moves_each_image_by_at_most_k_pixels() -> None:
    from aae_cli.variants.semi_supervised import random_shift

    x = torch.zeros(400, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0  # one dot in the middle: its new place is the shift
    out = random_shift(x.view(400, -1), (1, 9, 9), 2, torch.Generator().manual_seed(0)).view(400, 9, 9)
    assert torch.equal(out.sum((1, 2)), torch.ones(400)), "a shift within the border keeps every pixel"
    where = out.view(400, -1).argmax(1)
    moves = {(int(i) // 9 - 4, int(i) % 9 - 4) for i in where}
    assert moves == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    assert torch.equal(random_shift(x.view(400, -1), (1, 9, 9), 0, torch.Generator()), x.view(400, -1))


@pytest.mark.parametrize("name", ["unsup-cluster", "semi-supervised", "dim-reduction"])
def test_consistency_phase_trains_the_encoder_only(mnist, name: str) -> None:
    # every variant with q(y|x) takes the phase after the paper's; it moves the encoder alone
    plain = make_trainer(name, mnist)
    t, half = (make_trainer(name, mnist, consistency=w) for w in (2.0, 1.0))
    assert [p.name for p in t.phases] == [p.name for p in plain.phases] + ["consistency"]
    losses = []
    for m in (half, t):  # the same draws: the loss is the weight times one cross-entropy
        m.model.train()
        torch.manual_seed(0)  # input dropout draws from the global stream
        before = snapshot(m.model)
        loss, extras = m.run_phase(m.phases[-1], a_batch(m))
        losses.append(float(loss))
    after = snapshot(t.model)
    assert losses[0] > 0 and math.isclose(losses[1], 2 * losses[0], rel_tol=1e-5)
    assert 0 <= float(extras["view_agreement"]) <= 1
    changed = {n for n in before if any(not torch.equal(before[n][k], after[n][k]) for k in before[n])}
    assert changed == {"encoder"}


@pytest.mark.parametrize("target", ["clean", "shift"])
def test_consistency_target_is_the_unshifted_image(mnist, target: str) -> None:
    # Session 7: with the target taken from another shifted view, a near-uniform q(y|x) for every moved
    # digit put the cross-entropy at its floor; the target must be q(y|x) of the image as it is. Replay
    # the phase's shifts from the same seed (no input dropout or noise: the shifts are its only draws).
    from aae_cli.variants.semi_supervised import batch_norm_statistics_kept, random_shift

    t = make_trainer("unsup-cluster", mnist, consistency=0.5, consistency_target=target, input_dropout=0.0,
                     init_std=0.0)
    model = t.model.train()
    x = a_batch(t).x
    with torch.no_grad():
        loss = model.consistency(a_batch(t), torch.Generator().manual_seed(3))[0]
        replay = torch.Generator().manual_seed(3)
        views = [random_shift(x, (1, 28, 28), 2, replay) for _ in range(1 if target == "clean" else 2)]
        first, second = ([x] if target == "clean" else []) + views
        with batch_norm_statistics_kept(model.nets["encoder"]):
            q_first = model.codes(first, None)[1]
            logits = model.codes(second, None)[0]
    assert not torch.equal(first, second)
    assert math.isclose(float(loss), 0.5 * float(torch.nn.functional.cross_entropy(logits, q_first)),
                        rel_tol=1e-5)


@pytest.mark.parametrize("views", ["shift", "adversarial"])
def test_consistency_phase_leaves_the_batch_norm_statistics(mnist, views: str) -> None:
    # Evaluation normalises by the running statistics; the shifted and adversarial views must not move
    # them (they did in session 5: the held-out reconstruction rose and the clustering error doubled).
    t = make_trainer("unsup-cluster", mnist, consistency=1.0, consistency_views=views)
    t.model.train()
    before = snapshot(t.model)["encoder"]
    t.run_phase(t.phases[-1], a_batch(t))
    after = snapshot(t.model)["encoder"]
    stats = [k for k in before if "running_" in k or "num_batches_tracked" in k]
    assert stats, "A.3's encoder has batch norm"
    assert all(torch.equal(before[k], after[k]) for k in stats)
    assert any(not torch.equal(before[k], after[k]) for k in before if k not in stats), "the phase learns"
    t.run_phase(t.phases[0], a_batch(t))  # the reconstruction phase, on the images as they are, moves them
    assert not torch.equal(after[stats[0]], t.model.nets["encoder"].state_dict()[stats[0]])


@pytest.mark.parametrize("name", ["consistency", "marginal_entropy"])
def test_negative_consistency_is_one_line(aae, tmp_path, name: str) -> None:
    res = aae("train", "--variant", "unsup-cluster", "--set", f"{name}=-1", "--epochs", "1",
              "--out", tmp_path / "x.h5", "--hidden", "16")
    assert name in one_line_error(res)


@pytest.mark.parametrize("name", ["unsupervised", "supervised", "vae"])
def test_consistency_needs_q_y(aae, tmp_path, name: str) -> None:
    # these variants have no q(y|x): the setting would silently do nothing
    res = aae("train", "--variant", name, "--set", "consistency=0.1", "--epochs", "1",
              "--out", tmp_path / "x.h5", "--hidden", "16")
    assert "q(y|x)" in one_line_error(res) and not (tmp_path / "x.h5").exists()


def test_consistency_shift_needs_an_image_shape(aae, tmp_path) -> None:
    # 10-wide rows are read as a 1 x 10 strip: a shifted "view" would slide features into each other
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "rows.npz", x=rng.random((60, 10), dtype=np.float32), y=np.arange(60) % 3)
    common = ("train", "--variant", "unsup-cluster", "--dataset", tmp_path / "rows.npz", "--epochs", "1",
              "--hidden", "8", "--clusters", "3", "--set", "consistency=1.0")
    res = aae(*common, "--out", tmp_path / "x.h5")
    assert "no image shape" in one_line_error(res) and not (tmp_path / "x.h5").exists()
    # views that do not shift train on the same rows; so do (N, 1, W) signals, whose shape is given
    res = aae(*common, "--set", "consistency_views=adversarial", "--out", tmp_path / "y.h5")
    assert res.exit_code == 0, res.output
    np.save(tmp_path / "signals.npy", rng.random((60, 1, 10), dtype=np.float32))
    res = aae(*common[:4], tmp_path / "signals.npy", *common[5:], "--out", tmp_path / "z.h5")
    assert res.exit_code == 0, res.output


def test_marginal_entropy_term_revives_clusters(mnist) -> None:
    # Start with one cluster winning nearly every image (its logit's batch-norm shift raised), then train
    # the term alone: the minibatch's mean q(y|x) must spread over the clusters.
    t = make_trainer("unsup-cluster", mnist, marginal_entropy=1.0, clusters=8)
    assert [p.name for p in t.phases][-1] == "consistency"
    head = t.model.nets["encoder"].y_head[-1]
    assert isinstance(head, torch.nn.BatchNorm1d)
    with torch.no_grad():
        head.bias[0] = 6.0
    t.model.train()
    torch.manual_seed(0)
    entropies = []
    for i in range(60):
        loss, extras = t.run_phase(t.phases[-1], a_batch(t))
        entropies.append(float(extras["marginal_entropy"]))
        if i == 0:  # the term is log K - H(the minibatch's mean q(y|x))
            assert math.isclose(float(loss), math.log(8) - entropies[0], rel_tol=1e-5)
    assert entropies[0] < 0.5, "one cluster dominates"
    assert entropies[-1] > math.log(8) - 0.1


def test_adversarial_view_moves_where_q_y_changes_most(mnist) -> None:
    # PyTorch's default init: N(0, 0.01) weights give a near-uniform q(y|x) whose KL is rounding noise
    t = make_trainer("unsup-cluster", mnist, consistency=1.0, consistency_views="adversarial", vat_eps=3.0,
                     init_std=0.0)
    model = t.model.eval()  # no dropout: the two moves are compared on the same function
    x = a_batch(t).x
    with torch.no_grad():
        target = model.codes(x, None)[1]
    move = model._adversarial_move(x, target, torch.Generator().manual_seed(1))
    assert torch.allclose(move.norm(dim=1), torch.full((len(x),), 3.0), rtol=1e-4)
    rand = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    rand = 3.0 * torch.nn.functional.normalize(rand)

    def kl(m: torch.Tensor) -> float:
        with torch.no_grad():
            return float(torch.nn.functional.kl_div(model.codes(x + m, None)[0].log_softmax(1), target,
                                                    reduction="batchmean"))

    assert kl(move) > 2 * kl(rand) > 0


@pytest.mark.parametrize("name", ["unsupervised", "semi-supervised"])
def test_gen_steps_repeats_only_the_generator_phases(name: str, mnist) -> None:
    t = make_trainer(name, mnist, optimizer="adam", gen_steps=3)
    t.train_epoch()
    steps = {ph.name: max(int(s["step"]) for s in t.opts[ph.name].state.values()) for ph in t.phases}
    n = t.batches()
    assert steps == {ph.name: (3 if ph.lr == "lr_gen" else 1) * n for ph in t.phases}
    with pytest.raises(ConfigError, match="gen_steps"):
        make_trainer(name, mnist, gen_steps=0)


@pytest.mark.parametrize("name", sorted(n for n in VARIANTS if n != "vae"))
def test_disc_noise_blurs_what_every_discriminator_sees_in_training_only(name: str, mnist) -> None:
    def seen(noise: float, train: bool) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        t = make_trainer(name, mnist, disc_noise=noise)
        t.model.train(train)
        inputs: dict[str, torch.Tensor] = {}
        for key, net in t.model.nets.items():
            if key.startswith("disc"):
                net.register_forward_pre_hook(lambda _m, a, key=key: inputs.update({key: a[0].detach()}))
        batch = a_batch(t)
        torch.manual_seed(1)
        t.model.discriminator(batch, torch.Generator().manual_seed(2))
        return inputs

    clean, noisy = seen(0.0, True), seen(0.5, True)
    assert clean and clean.keys() == noisy.keys()
    for key in clean:  # the same codes and prior draws, plus N(0, 0.5^2) on each entry
        noise = noisy[key] - clean[key]
        # five standard errors of a sample std: 0.5 / sqrt(2 n)
        assert abs(float(noise.std()) - 0.5) < 5 * 0.5 / math.sqrt(2 * noise.numel()), key
    evaluated, evaluated_clean = seen(0.5, False), seen(0.0, False)
    assert all(torch.equal(evaluated[k], evaluated_clean[k]) for k in evaluated)
    with pytest.raises(ConfigError, match="disc_noise"):
        make_trainer(name, mnist, disc_noise=-0.1)


@pytest.mark.parametrize("setting", ["disc_noise=0.5", "gen_steps=2"])
def test_vae_refuses_settings_of_the_adversarial_game(setting: str, aae) -> None:
    res = aae("train", "--variant", "vae", "--epochs", "1", "--limit", "200", "--set", setting)
    assert "--variant vae does not have" in one_line_error(res)
