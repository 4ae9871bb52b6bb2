"""Parzen-window log-likelihood, streamed over model samples (PROTOCOLS.md, paper Table 1).

log p(x) = logmeanexp_j(-||x - mu_j||^2 / (2 sigma^2)) - d log(sigma sqrt(2 pi)), for every sigma of a grid
at once. Samples arrive in chunks and are never kept: per query and per sigma the state is a running max
and a float64 sum of exp(value - max), so memory does not grow with the number of samples, and two
states of disjoint sample sets combine exactly (`combine`), which is how distributed ranks merge.

Numerics: squared distances by the expansion ||x||^2 + ||mu||^2 - 2 x.mu, with the data centred on the
queries' mean first (distances do not change; the terms get smaller), the cross term as one float32
matmul per tile (TF32/reduced precision switched off), the norms in float64, negative distances clamped
at 0. The exponentials of a tile are float32 (exp2 of a max-shifted argument floored at -100, far below
anything that can matter), summed in float32 within a tile of at most `sample_tile` samples and merged
into the float64 state.

CPU: the work is split by blocks of queries over `threads` Python threads, each running single-threaded
torch ops on its own rows (no per-op thread barriers, so a busy machine does not stall it); the
per-query result does not depend on the number of threads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch

SIGMAS = np.logspace(-1, 0, 10)  # the protocol's grid: 0.1 .. 1.0
N_SELECT = 1000  # sigma is chosen on the first 1,000 validation images
SAMPLE_BLOCK = 1000  # samples are drawn (and shared out to ranks) in blocks of this many
EXP2_FLOOR = -100.0  # 2**-100 ~ 8e-31: terms below this are dropped (exp2 is slow on denormals)
LOG2E = math.log2(math.e)
LN2 = math.log(2.0)


# -- state ---------------------------------------------------------------------------------------------
@dataclass
class ParzenState:
    """For n queries and S sigmas: max[i, k] and sum[i, k] = sum_j exp(v_ijk - max[i, k]) with
    v_ijk = -||x_i - mu_j||^2 / (2 sigma_k^2), over the `count` samples mu_j seen so far."""

    max: torch.Tensor  # (n, S) float64, -inf before any sample
    sum: torch.Tensor  # (n, S) float64
    count: int = 0

    @classmethod
    def empty(cls, n: int, n_sigmas: int, device: torch.device | str = "cpu") -> ParzenState:
        return cls(torch.full((n, n_sigmas), -math.inf, dtype=torch.float64, device=device),
                   torch.zeros((n, n_sigmas), dtype=torch.float64, device=device), 0)

    def log_sum_exp(self) -> torch.Tensor:
        """(n, S) log sum_j exp(v_ijk)."""
        return self.max + self.sum.log()

    def rows(self, start: int, stop: int) -> ParzenState:
        return ParzenState(self.max[start:stop], self.sum[start:stop], self.count)


def combine(a: ParzenState, b: ParzenState) -> ParzenState:
    """The state of the union of two disjoint sample sets (exact up to float64 rounding)."""
    if a.max.shape != b.max.shape:
        raise ValueError(f"states of different shapes: {tuple(a.max.shape)} and {tuple(b.max.shape)}")
    m = torch.maximum(a.max, b.max)
    return ParzenState(m, _rescale(a, m) + _rescale(b, m), a.count + b.count)


def _rescale(s: ParzenState, m: torch.Tensor) -> torch.Tensor:
    # sum * exp(max - m), with empty entries (max = -inf) contributing 0 rather than nan
    return torch.where(s.max == -math.inf, torch.zeros_like(s.sum), s.sum * (s.max - m).exp())


def log_likelihood(state: ParzenState, sigmas: Iterable[float], dim: int) -> torch.Tensor:
    """(n, S) float64 log p(x_i) at each sigma: logmeanexp - d log(sigma sqrt(2 pi))."""
    if state.count < 1:
        raise ValueError("no samples were accumulated")
    sig = torch.as_tensor(np.asarray(list(sigmas), dtype=np.float64), device=state.max.device)
    return state.log_sum_exp() - math.log(state.count) - dim * torch.log(sig * math.sqrt(2 * math.pi))


# -- the streaming estimator ---------------------------------------------------------------------------
@contextmanager
def _exact_float32_matmul() -> Iterator[None]:
    """No TF32 / bf16 for the distance matmuls (PROTOCOLS.md: they cost tenths of a nat)."""
    prev = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(prev)


@contextmanager
def _intra_op_threads(n: int) -> Iterator[None]:
    prev = torch.get_num_threads()
    if prev != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if prev != n:
            torch.set_num_threads(prev)


class ParzenAccumulator:
    """Scores fixed queries against a stream of sample chunks, for every sigma of the grid at once.

    `update(samples)` takes an (m, D) chunk; the state after any sequence of chunks depends only on the
    samples and their order (up to float32 rounding within tiles of `sample_tile` samples; chunks that
    start at multiples of `sample_tile` give bitwise the same tiles whatever their size).
    """

    def __init__(self, queries: torch.Tensor, sigmas: Iterable[float] = SIGMAS, *, threads: int | None = None,
                 query_tile: int | None = None, sample_tile: int | None = None) -> None:
        if queries.ndim != 2 or queries.shape[0] < 1:
            raise ValueError(f"queries must be a non-empty (n, D) matrix, got shape {tuple(queries.shape)}")
        self.sigmas = np.asarray(list(sigmas), dtype=np.float64)
        if self.sigmas.ndim != 1 or len(self.sigmas) < 1 or not np.all(self.sigmas > 0):
            raise ValueError("sigmas must be a non-empty list of positive numbers")
        self.device = queries.device
        self.dim = int(queries.shape[1])
        q64 = queries.to(torch.float64)
        self.center = q64.mean(0)  # distances are translation invariant; centred terms are smaller
        qc = q64 - self.center
        self.queries = qc.float().contiguous()
        self.query_sq = qc.pow(2).sum(1)  # float64
        self.center = self.center.float()
        a = 1.0 / (2.0 * self.sigmas**2)
        self.neg_a = torch.as_tensor(-a, dtype=torch.float64, device=self.device)
        self.c2 = (a * LOG2E).tolist()  # exp(-a e) = exp2(-a log2(e) e)
        self.state = ParzenState.empty(len(queries), len(self.sigmas), self.device)
        cpu = self.device.type == "cpu"
        self.threads = max(1, threads if threads is not None else (torch.get_num_threads() if cpu else 1))
        n = len(queries)
        self.query_tile = query_tile or (256 if cpu else n)
        self.sample_tile = sample_tile or (500 if cpu else SAMPLE_BLOCK)
        self._pool = ThreadPoolExecutor(self.threads) if cpu and self.threads > 1 else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> ParzenAccumulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, samples: torch.Tensor) -> None:
        """Add an (m, D) chunk of samples (any float dtype; moved to the queries' device)."""
        if samples.ndim != 2 or samples.shape[1] != self.dim:
            raise ValueError(f"samples must be (m, {self.dim}), got shape {tuple(samples.shape)}")
        m = int(samples.shape[0])
        if m == 0:
            return
        mu = samples.to(self.device, torch.float32) - self.center
        mu_sq = torch.cat([t.double().pow_(2).sum(1) for t in mu.split(SAMPLE_BLOCK)]).float()
        starts = range(0, len(self.queries), self.query_tile)
        with _exact_float32_matmul():
            if self.device.type != "cpu":
                for i in starts:
                    self._score(i, mu, mu_sq)
            else:  # single-threaded ops (one per worker thread): no per-op thread barriers
                with _intra_op_threads(1):
                    if self._pool is None:
                        for i in starts:
                            self._score(i, mu, mu_sq)
                    else:
                        list(self._pool.map(lambda i: self._score(i, mu, mu_sq), starts))
        self.state.count += m

    def _score(self, i0: int, mu: torch.Tensor, mu_sq: torch.Tensor) -> None:
        """Fold the chunk into the state of queries i0 .. i0 + query_tile (rows no other task touches)."""
        x = self.queries[i0:i0 + self.query_tile]
        x_sq = self.query_sq[i0:i0 + self.query_tile]
        big_m, big_s = self.state.max[i0:i0 + len(x)], self.state.sum[i0:i0 + len(x)]
        q, tile = len(x), self.sample_tile
        r_buf = torch.empty(q, min(tile, len(mu)), device=self.device)
        e_buf = torch.empty_like(r_buf)
        for t0 in range(0, len(mu), tile):
            mt = mu[t0:t0 + tile]
            w = len(mt)
            r, e = (r_buf, e_buf) if w == r_buf.shape[1] else (r_buf[:, :w], e_buf[:, :w])
            # r = ||mu||^2 - 2 x.mu = ||x - mu||^2 - ||x||^2: the row minimum shifts the exponentials
            torch.addmm(mu_sq[t0:t0 + w], x, mt.T, beta=1, alpha=-2, out=r)
            r_min = r.amin(1, keepdim=True)
            torch.sub(r_min, r, out=r)  # -(d2 - min d2) <= 0, in place
            s = self._tile_sums(r, e)  # (q, S) float64: sum_j exp(v_j - row max) per sigma
            d2_min = (x_sq + r_min[:, 0].double()).clamp_(min=0)  # nearest squared distance, >= 0
            t_max = d2_min[:, None] * self.neg_a[None, :]  # (q, S)
            new = torch.maximum(big_m, t_max)
            big_s.mul_((big_m - new).exp_()).add_(s * (t_max - new).exp_())
            big_m.copy_(new)

    def _tile_sums(self, d: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """(q, S) float64: per row of d = -(d2 - row min) <= 0 and per sigma k, sum_j exp2(c_k d_j), each
        term floored at 2**-100 (exp2 is many times slower where its result would be denormal or 0).

        Dense on purpose: summing only the entries a small sigma needs (a few % of a tile) was measured
        slower here, since torch's masked_select / nonzero cost more than the exponentials they save."""
        s = torch.empty(len(self.c2), d.shape[0], device=d.device)
        for k, ck in enumerate(self.c2):
            torch.mul(d, ck, out=e)  # log2 of each term relative to the row's largest
            e.clamp_(min=EXP2_FLOOR)
            e.exp2_()
            torch.sum(e, 1, out=s[k])
        return s.T.double()

    def log_likelihood(self) -> torch.Tensor:
        """(n, S) float64 log p of each query at each sigma."""
        return log_likelihood(self.state, self.sigmas, self.dim)


def parzen_state(queries: torch.Tensor, chunks: Iterable[torch.Tensor], sigmas: Iterable[float] = SIGMAS,
                 **kwargs: int | None) -> ParzenState:
    """The state of `queries` after all `chunks` (keyword arguments go to ParzenAccumulator)."""
    with ParzenAccumulator(queries, sigmas, **kwargs) as acc:  # type: ignore[arg-type]
        for c in chunks:
            acc.update(c)
        return acc.state


def rechunk(blocks: Iterable[torch.Tensor], size: int) -> Iterator[torch.Tensor]:
    """Regroup a stream of (b_i, D) blocks into (size, D) chunks (the last one shorter); only one chunk
    plus one block is held at a time."""
    if size < 1:
        raise ValueError(f"chunk size must be positive, got {size}")
    held: list[torch.Tensor] = []
    n = 0
    for b in blocks:
        while len(b):
            take = b[:size - n]
            held.append(take)
            n += len(take)
            b = b[len(take):]
            if n == size:
                yield held[0] if len(held) == 1 else torch.cat(held)
                held, n = [], 0
    if n:
        yield held[0] if len(held) == 1 else torch.cat(held)


# -- sigma selection and the reported numbers ----------------------------------------------------------
@dataclass
class ParzenResult:
    mean: float  # mean log p over the test queries at the chosen sigma (nats)
    stderr: float  # std(ddof=0) / sqrt(n_test)
    sigma: float
    sigma_index: int
    n_samples: int
    sigmas: list[float]
    val_means: list[float]  # mean log p of the selection (validation) queries at each sigma
    test_means: list[float]  # for reference only: sigma is never chosen on these
    n_validation: int
    n_test: int
    seed: int | None = None
    chunk: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def select_sigma(val_ll: torch.Tensor | np.ndarray, test_ll: torch.Tensor | np.ndarray,
                 sigmas: Iterable[float], n_samples: int, seed: int | None = None,
                 chunk: int | None = None) -> ParzenResult:
    """sigma = argmax of the mean validation log-likelihood; report the test mean and its standard error
    at that sigma. val_ll: (n_val, S), test_ll: (n_test, S)."""
    v = _numpy64(val_ll)
    t = _numpy64(test_ll)
    sig = [float(s) for s in sigmas]
    if v.ndim != 2 or t.ndim != 2 or v.shape[1] != len(sig) or t.shape[1] != len(sig):
        raise ValueError(f"log-likelihoods must be (n, {len(sig)}), got {v.shape} and {t.shape}")
    val_means = v.mean(0)
    k = int(np.argmax(val_means))
    col = t[:, k]
    return ParzenResult(mean=float(col.mean()), stderr=float(col.std(ddof=0) / math.sqrt(len(col))),
                        sigma=sig[k], sigma_index=k, n_samples=int(n_samples), sigmas=sig,
                        val_means=[float(x) for x in val_means], test_means=[float(x) for x in t.mean(0)],
                        n_validation=len(v), n_test=len(t), seed=seed, chunk=chunk)


def _numpy64(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def parzen_evaluate(validation: torch.Tensor, test: torch.Tensor, chunks: Iterable[torch.Tensor],
                    sigmas: Iterable[float] = SIGMAS, *, n_select: int = N_SELECT,
                    reduce: Callable[[ParzenState], ParzenState] | None = None,
                    seed: int | None = None, chunk: int | None = None,
                    on_chunk: Callable[[int], None] | None = None, **kwargs: int | None) -> ParzenResult:
    """The protocol in one pass over the samples: the first `n_select` validation rows and all test rows
    are scored against the same chunks at every sigma; `reduce` merges the state across processes
    (e.g. `all_reduce_state`) before sigma is chosen; `on_chunk(m)` is called after each chunk."""
    sel = validation[:n_select]
    queries = torch.cat([sel, test.to(sel.device, sel.dtype)])
    with ParzenAccumulator(queries, sigmas, **kwargs) as acc:  # type: ignore[arg-type]
        for c in chunks:
            acc.update(c)
            if on_chunk is not None:
                on_chunk(len(c))
        state = acc.state if reduce is None else reduce(acc.state)
        ll = log_likelihood(state, acc.sigmas, acc.dim)
        nv = len(sel)
        return select_sigma(ll[:nv], ll[nv:], acc.sigmas, state.count, seed=seed, chunk=chunk)


def all_reduce_state(state: ParzenState, group: object | None = None) -> ParzenState:
    """Combine the states of all ranks of torch.distributed, in rank order (every rank gets the result,
    identical on all ranks)."""
    import torch.distributed as dist

    world = dist.get_world_size(group)
    if world == 1:
        return state
    maxes = [torch.empty_like(state.max) for _ in range(world)]
    sums = [torch.empty_like(state.sum) for _ in range(world)]
    counts = [torch.zeros(1, dtype=torch.float64, device=state.max.device) for _ in range(world)]
    dist.all_gather(maxes, state.max.contiguous(), group=group)
    dist.all_gather(sums, state.sum.contiguous(), group=group)
    dist.all_gather(counts, torch.tensor([float(state.count)], dtype=torch.float64,
                                          device=state.max.device), group=group)
    out = ParzenState(maxes[0], sums[0], int(counts[0].item()))
    for r in range(1, world):
        out = combine(out, ParzenState(maxes[r], sums[r], int(counts[r].item())))
    return out
