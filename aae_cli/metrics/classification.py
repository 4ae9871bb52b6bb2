"""Classification and clustering errors exactly as the paper measured them (PROTOCOLS.md)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import logsumexp

from aae_cli.data.base import to_float32


@torch.no_grad()
def batched(fn, model, x: np.ndarray, device: torch.device, batch: int = 1000) -> np.ndarray:
    """Apply fn(model, x_batch in model space) over rows of x (uint8 or float), stacking the results."""
    out = []
    for i in range(0, len(x), batch):
        xb = model.to_model(torch.from_numpy(to_float32(x[i:i + batch])).to(device))
        out.append(fn(model, xb).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def class_probabilities(model, x: np.ndarray, device: torch.device) -> np.ndarray:
    """(N, K) q(y|x) on clean inputs (no input noise, eval mode: the paper's test-time setting)."""
    model.eval()
    return batched(lambda m, xb: m.classify(xb), model, x, device)


def log_odds(logits: np.ndarray) -> np.ndarray:
    """(N, K) log q(y_i|x) / (1 - q(y_i|x)) of softmax(logits), in float64. Per entry it orders images as
    q(y_i|x) does, but it does not saturate: a trained clustering model puts q(y_i|x) at exactly 1.0 in
    float32 for hundreds of validation images per cluster, and the argmax over such ties is the first
    image in data order, not the most confident one."""
    z = np.asarray(logits, np.float64)
    out = np.empty_like(z)
    for i in range(z.shape[1]):
        out[:, i] = z[:, i] - logsumexp(np.delete(z, i, axis=1), axis=1)
    return out


def class_log_odds(model, x: np.ndarray, device: torch.device) -> np.ndarray:
    """(N, K) log-odds of q(y|x) on clean inputs in eval mode, from the logits (see `log_odds`)."""
    model.eval()
    return log_odds(batched(lambda m, xb: m.representation(xb)[1], model, x, device))


def error_rate(probs: np.ndarray, labels: np.ndarray) -> float:
    """Percentage of rows whose argmax is not the label."""
    return float(100.0 * np.mean(probs.argmax(1) != labels))


def class_errors(pred: np.ndarray, labels: np.ndarray, k: int) -> tuple[list[float], dict[str, int]]:
    """Error % within each true class, and the commonest mistake (true -> predicted, its count, the class's
    size): one number can hide two classes merged into one (a 9 % error that is half the 4s called 9)."""
    conf = np.zeros((k, k), np.int64)
    np.add.at(conf, (labels, pred), 1)
    sizes = conf.sum(1)
    wrong = sizes - np.diag(conf)
    per_class = [round(100.0 * int(w) / int(n), 2) if n else 0.0 for w, n in zip(wrong, sizes, strict=True)]
    off = conf - np.diag(np.diag(conf))
    t, p = np.unravel_index(int(off.argmax()), off.shape)
    return per_class, {"true": int(t), "predicted": int(p), "count": int(off[t, p]), "of": int(sizes[t])}


def cluster_labels(probs_val: np.ndarray, y_val: np.ndarray) -> np.ndarray:
    """(K,) for each cluster i, the label of the validation example that maximises q(y_i|x) (Section 6).
    The cluster functions take q(y|x) or anything in the same order per entry: pass `class_log_odds`,
    since float32 q(y|x) ties at 1.0 (see `log_odds`)."""
    return y_val[probs_val.argmax(0)]


def majority_cluster_labels(probs_val: np.ndarray, y_val: np.ndarray) -> np.ndarray:
    """(K,) for each cluster, the most common label of the validation images it wins (argmax q(y|x)); a
    cluster that wins none keeps its Section 6 label. Uses every validation label, so it is a diagnostic
    of cluster purity, not Table 3's protocol (which uses K labels)."""
    assign = cluster_labels(probs_val, y_val).copy()
    won = probs_val.argmax(1)
    for i in np.unique(won):
        assign[i] = np.bincount(y_val[won == i]).argmax()
    return assign


def clusters_used(probs: np.ndarray) -> int:
    """How many clusters win at least one row (argmax q(y|x)): fewer than K means dead clusters."""
    return int(np.unique(probs.argmax(1)).size) if len(probs) else 0


def cluster_error(probs_val: np.ndarray, y_val: np.ndarray, probs_test: np.ndarray,
                  y_test: np.ndarray, majority: bool = False) -> tuple[float, np.ndarray]:
    """Test error (%) when each test image takes the label of its cluster argmax_i q(y_i|x): the paper's
    labelling of the clusters, or with `majority` the diagnostic one."""
    assign = (majority_cluster_labels if majority else cluster_labels)(probs_val, y_val)
    return float(100.0 * np.mean(assign[probs_test.argmax(1)] != y_test)), assign


def cluster_errors(probs_val: np.ndarray, y_val: np.ndarray, probs_test: np.ndarray,
                   y_test: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Table 3's test error and cluster labels, and beside them the majority labelling's error: the
    paper's labelling rests on one validation image per cluster, the majority tells that noise from
    impure clusters."""
    err, assign = cluster_error(probs_val, y_val, probs_test, y_test)
    return err, assign, cluster_error(probs_val, y_val, probs_test, y_test, majority=True)[0]
