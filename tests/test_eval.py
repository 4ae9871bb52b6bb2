"""aae eval semi / cluster and aae encode: the protocols, on hand-built cases and on real checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from aae_cli.metrics.classification import cluster_error, cluster_labels, clusters_used, error_rate, log_odds

TINY_Y = ["--limit", "200", "--hidden", "32,32", "--set", "disc_hidden=[16]", "--batch-size", "50",
          "--epochs", "1"]


def test_error_rate() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert error_rate(probs, np.array([0, 1, 1, 1])) == 25.0


def test_cluster_protocol_on_a_hand_built_case() -> None:
    # 3 clusters. Validation: the most confident example of cluster 0 is labelled 7, of cluster 1 is
    # labelled 2, of cluster 2 is labelled 7 (two clusters may share a label).
    p_val = np.array([[0.9, 0.1, 0.0],   # label 7: cluster 0's best
                      [0.5, 0.5, 0.0],   # label 3: never a maximum
                      [0.1, 0.8, 0.1],   # label 2: cluster 1's best
                      [0.0, 0.1, 0.9]])  # label 7: cluster 2's best
    y_val = np.array([7, 3, 2, 7])
    assert cluster_labels(p_val, y_val).tolist() == [7, 2, 7]
    # test images fall in clusters 0, 1, 2, 1 -> predicted 7, 2, 7, 2
    p_test = np.eye(3)[[0, 1, 2, 1]]
    err, assign = cluster_error(p_val, y_val, p_test, np.array([7, 2, 1, 2]))
    assert err == 25.0 and assign.tolist() == [7, 2, 7]
    # the test images use all three clusters; without the third image cluster 2 is dead
    assert clusters_used(p_test) == 3 and clusters_used(p_test[[0, 1, 3]]) == 2


def test_majority_labelling_of_clusters() -> None:
    # Cluster 0 wins all five validation images, labelled 3, 3, 3, 5, 1; its most confident one is the 5.
    # The paper's labelling says 5, the majority 3. Cluster 1 wins none and keeps its most confident
    # image's label (1).
    p_val = np.array([[0.6, 0.4], [0.7, 0.3], [0.8, 0.2], [0.95, 0.05], [0.55, 0.45]])
    y_val = np.array([3, 3, 3, 5, 1])
    p_test = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y_test = np.array([3, 3, 1])
    assert cluster_error(p_val, y_val, p_test, y_test)[0] == pytest.approx(200 / 3)
    err, assign = cluster_error(p_val, y_val, p_test, y_test, majority=True)
    assert assign.tolist() == [3, 1] and err == 0.0


def test_cluster_labels_from_log_odds_where_float32_probabilities_tie() -> None:
    # Both validation images have q(y_0|x) == 1.0 in float32; the second is the more confident (larger
    # logit margin), so Section 6 labels cluster 0 with its label. On the probabilities the argmax is
    # the first of the tie.
    logits = np.array([[30.0, 0.0], [40.0, 0.0], [0.0, 5.0]], np.float32)
    y_val = np.array([3, 8, 1])
    probs = torch.from_numpy(logits).softmax(1).numpy()
    assert probs[0, 0] == probs[1, 0] == 1.0 and cluster_labels(probs, y_val)[0] == 3
    scores = log_odds(logits)
    assert cluster_labels(scores, y_val).tolist() == [8, 1]
    # log-odds keep each image's cluster (the row argmax) and equal log(q / (1 - q)) where q is exact
    assert (scores.argmax(1) == probs.argmax(1)).all()
    q = torch.from_numpy(logits).double().softmax(1).numpy()[2]
    assert scores[2] == pytest.approx(np.log(q / (1 - q)))


@pytest.fixture(scope="module")
def semi_run(tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from aae_cli.cli.app import app

    out = tmp_path_factory.mktemp("semi") / "semi.h5"
    res = CliRunner().invoke(app, ["train", "--variant", "semi-supervised", "--labels", "50", *TINY_Y,
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_eval_semi_json(aae, semi_run: Path) -> None:
    res = aae("eval", "semi", semi_run, "--json")
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert 0 <= r["test_error"] <= 100 and 0 <= r["validation_error"] <= 100
    assert r["n_test"] == 10000 and r["labels"] == "50" and r["label_seed"] == 0
    # the number equals the one the training history recorded for the same epoch
    from aae_cli.checkpoint import load_checkpoint

    assert r["test_error"] == pytest.approx(load_checkpoint(semi_run).history[-1]["test_error"], abs=1e-6)
    # the per-digit errors, weighted by the test set's digit counts, make up the overall error
    from aae_cli.data import load_dataset

    counts = np.bincount(load_dataset("mnist").test.y, minlength=10)
    assert len(r["test_class_error"]) == 10
    assert np.dot(r["test_class_error"], counts) / counts.sum() == pytest.approx(r["test_error"], abs=0.01)
    top = r["test_top_confusion"]
    assert top["true"] != top["predicted"] and top["of"] == counts[top["true"]]
    assert 0 <= top["count"] <= top["of"]


def test_eval_semi_table_shows_lists(aae, semi_run: Path) -> None:
    # the table prints the per-digit errors in full, the same values as --json
    res = aae("eval", "semi", semi_run)
    assert res.exit_code == 0, res.output
    row = next(line for line in res.stdout.splitlines() if "test_class_error" in line)
    per_class = json.loads(aae("eval", "semi", semi_run, "--json").stdout)["test_class_error"]
    assert f"[{per_class[0]}," in row and all(str(v) in res.stdout for v in per_class)


def test_class_errors_name_the_merged_class() -> None:
    from aae_cli.metrics.classification import class_errors

    labels = np.array([0, 0, 1, 1, 1, 2])
    pred = np.array([0, 1, 1, 0, 0, 2])
    per_class, top = class_errors(pred, labels, 3)
    assert per_class == [50.0, 66.67, 0.0]
    assert top == {"true": 1, "predicted": 0, "count": 2, "of": 3}


def test_eval_cluster_json(aae, tmp_path: Path) -> None:
    out = tmp_path / "c.h5"
    assert aae("train", "--variant", "unsup-cluster", "--clusters", "4", *TINY_Y, "--out", out).exit_code == 0
    res = aae("eval", "cluster", out, "--json")
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["clusters"] == 4 and len(r["cluster_labels"]) == 4 and 0 <= r["test_error"] <= 100
    # the training history holds the same measurement after every epoch (the clustering curve)
    from aae_cli.checkpoint import load_checkpoint

    last = load_checkpoint(out).history[-1]
    assert last["test_cluster_error"] == pytest.approx(r["test_error"], abs=1e-6)
    assert last["test_majority_error"] == pytest.approx(r["majority_label_error"], abs=1e-6)
    assert 1 <= r["clusters_used"] <= 4 and last["test_clusters_used"] == r["clusters_used"]
    # the per-digit errors add up to the test error; the commonest mistake names a real class and its size
    from aae_cli.data import load_dataset

    y = load_dataset("mnist").test.y
    sizes = np.bincount(y, minlength=10)
    assert len(r["test_class_error"]) == 10 and len(r["majority_cluster_labels"]) == 4
    wrong = sum(e * n / 100 for e, n in zip(r["test_class_error"], sizes, strict=True))
    assert wrong / len(y) * 100 == pytest.approx(r["test_error"], abs=0.02)
    top = r["test_top_confusion"]
    assert top["of"] == sizes[top["true"]]
    assert top["count"] == 0 or top["true"] != top["predicted"]


def test_encode_writes_codes(aae, semi_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "codes.npz"
    res = aae("encode", semi_run, "--split", "validation", "--out", out)
    assert res.exit_code == 0, res.output
    with np.load(out) as f:
        assert f["z"].shape == (10000, 10) and f["label"].shape == (10000,)
        assert np.allclose(f["y_prob"].sum(1), 1, atol=1e-5)


def test_eval_refuses_models_without_q_y(aae, tiny_run: Path) -> None:
    for cmd in ("semi", "cluster"):
        res = aae("eval", cmd, tiny_run)
        assert res.exit_code == 2 and "without" in res.output
        assert len(res.output.strip().splitlines()) == 1


def test_eval_refuses_unlabelled_data(aae, tmp_path: Path) -> None:
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((200, 4, 4), dtype=np.float32))
    out = tmp_path / "c.h5"
    res = aae("train", "--variant", "unsup-cluster", "--clusters", "3", "--dataset", data, "--epochs", "1",
              "--hidden", "8", "--set", "disc_hidden=[8]", "--batch-size", "20", "--out", out)
    assert res.exit_code == 0, res.output
    res = aae("eval", "cluster", out)
    assert res.exit_code == 2 and "no labels" in res.output


def test_encode_bad_split(aae, tiny_run: Path, tmp_path: Path) -> None:
    res = aae("encode", tiny_run, "--split", "holdout", "--out", tmp_path / "c.npz")
    assert res.exit_code == 2 and "valid splits" in res.output
