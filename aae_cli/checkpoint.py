"""HDF5 checkpoints: one file rebuilds the model and resumes training exactly. No pickle anywhere.

Layout (format "aae-checkpoint", version FORMAT_VERSION):
  /            attrs: format, format_version, aae_version, written
  /json/*      config, data (dataset spec, split, provenance), history (per-epoch metrics), state
  /nets/<net>/<param>             one dataset per tensor of each sub-network's state_dict
  /optim/<phase>/param_groups     JSON; /optim/<phase>/state/<i>/<key> one dataset per tensor
  /rng/<name>                     RNG states (uint8)
  /priors/<name>/<array>          samples of file-backed priors
  /arrays/<name>                  anything else a variant must keep (e.g. labelled-subset indices)
Written to a temporary file in the same folder, flushed, fsynced, then renamed over the target.

The file's first 512 bytes (an HDF5 user block, ignored by HDF5 itself) hold a signature line:
`AAE-CHECKPOINT <version> sha256 <hex of every byte after the block>`. It is checked before the HDF5
library parses anything: fuzzing showed that a damaged HDF5 file can make the library loop forever, so
a damaged or truncated checkpoint must be caught before it reaches it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from aae_cli import __version__
from aae_cli.config import IMPLIED_BEFORE
from aae_cli.errors import CheckpointError

FORMAT = "aae-checkpoint"
FORMAT_VERSION = 2  # 2: signed user block (1: unsigned, from before the first release)
USERBLOCK = 512
_SIGNATURE = re.compile(rb"AAE-CHECKPOINT (\d+) sha256 ([0-9a-f]{64})\n")


@dataclass
class Checkpoint:
    config: dict[str, Any]
    data: dict[str, Any]
    epoch: int = 0  # completed epochs
    step: int = 0  # minibatches done in all
    batch: int = 0  # minibatches done in the interrupted epoch `epoch + 1` (0: at an epoch boundary)
    partial: dict[str, Any] = field(default_factory=dict)  # that epoch's metric sums so far
    history: list[dict[str, Any]] = field(default_factory=list)
    nets: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    optim: dict[str, dict[str, Any]] = field(default_factory=dict)
    rng: dict[str, torch.Tensor] = field(default_factory=dict)
    priors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


# -- writing ---------------------------------------------------------------------------------------
def _json(group: h5py.Group, name: str, obj: Any, sort_keys: bool = True) -> None:
    group.create_dataset(name, data=json.dumps(obj, sort_keys=sort_keys), dtype=h5py.string_dtype())


def _array(group: h5py.Group, name: str, value: Any) -> None:
    arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    group.create_dataset(name, data=arr)


def _write(f: h5py.File, ck: Checkpoint) -> None:
    f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "aae_version": __version__,
                    "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    js = f.create_group("json")
    _json(js, "config", ck.config)
    _json(js, "data", ck.data)
    # in the order the epoch logged them, so a resumed run rewrites its .jsonl log line for line
    _json(js, "history", ck.history, sort_keys=False)
    _json(js, "state", {"epoch": ck.epoch, "step": ck.step, "batch": ck.batch, "partial": ck.partial})
    for net, params in ck.nets.items():
        g = f.create_group(f"nets/{net}")
        for key, t in params.items():
            _array(g, key, t)
    for phase, sd in ck.optim.items():
        g = f.create_group(f"optim/{phase}")
        _json(g, "param_groups", sd["param_groups"])
        scalars: dict[str, dict[str, Any]] = {}
        for idx, st in sd["state"].items():
            sg = g.create_group(f"state/{idx}")
            for key, v in st.items():
                if isinstance(v, torch.Tensor):
                    _array(sg, key, v)
                else:
                    scalars.setdefault(str(idx), {})[key] = v
        _json(g, "scalars", scalars)
    for name, t in ck.rng.items():
        _array(f.require_group("rng"), name, t)
    for prior, arrays in ck.priors.items():
        g = f.create_group(f"priors/{prior}")
        for key, a in arrays.items():
            _array(g, key, a)
    for name, a in ck.arrays.items():
        _array(f.require_group("arrays"), name, a)


def save_checkpoint(path: str | Path, ck: Checkpoint) -> None:
    """Atomic: a crash at any moment leaves either the old file or the new one, never a broken one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w", userblock_size=USERBLOCK) as f:
            _write(f, ck)
        sign_file(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"cannot write checkpoint {path}: {e.strerror or e}; "
                              "free some space or choose another --out") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(USERBLOCK)
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def sign_file(path: str | Path, version: int | None = None) -> None:
    """Write the signature line into the user block of a closed checkpoint file."""
    line = f"AAE-CHECKPOINT {FORMAT_VERSION if version is None else version} sha256 {_digest(Path(path))}\n"
    with open(path, "r+b") as f:
        f.write(line.encode("ascii").ljust(USERBLOCK, b"\0"))


def _verify_signature(p: Path) -> None:
    with open(p, "rb") as f:
        head = f.read(USERBLOCK)
    m = _SIGNATURE.match(head)
    if m is None:
        if head.startswith(b"\x89HDF"):
            raise CheckpointError(f"{p} is an HDF5 file without an aae signature: not an aae "
                                  "checkpoint (or an unsigned one from before format 2)")
        raise CheckpointError(f"{p} is not an aae checkpoint (no signature: empty, truncated or other data)")
    version = int(m.group(1))
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{p} has checkpoint format version {version}, newer than this aae reads "
                              f"({FORMAT_VERSION}); upgrade aae")
    if _digest(p) != m.group(2).decode():
        raise CheckpointError(f"{p} is damaged (its checksum does not match: truncated or altered); "
                              "use an earlier copy")


# -- reading ---------------------------------------------------------------------------------------
def _check_objects(group: h5py.Group, where: str) -> None:
    """Refuse links and anything but groups and plain numeric/string datasets (checkpoints are data)."""
    for name in group:
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise CheckpointError(f"{where}: refuses link /{group.name.strip('/')}/{name} "
                                  "(checkpoints must not point to other files)")
        obj = group[name]
        if isinstance(obj, h5py.Group):
            _check_objects(obj, where)
        elif isinstance(obj, h5py.Dataset):
            kind = obj.dtype.kind
            if kind not in "biufO" or (kind == "O" and h5py.check_string_dtype(obj.dtype) is None):
                raise CheckpointError(f"{where}: unexpected data type in {obj.name}")
        else:
            raise CheckpointError(f"{where}: unexpected object {name}")


def _read_json(f: h5py.File, name: str) -> Any:
    raw = f[name][()]
    return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)


def _read_group(g: h5py.Group | None) -> dict[str, np.ndarray]:
    return {} if g is None else {k: g[k][()] for k in g}


def load_checkpoint(path: str | Path) -> Checkpoint:
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist")
    if p.is_dir():
        raise CheckpointError(f"{p} is a folder, not a checkpoint file")
    try:
        _verify_signature(p)
    except OSError as e:
        raise CheckpointError(f"cannot read {p}: {e.strerror or e}") from None
    return read_hdf5(p)


def read_hdf5(p: Path) -> Checkpoint:
    """The HDF5 part alone. Only for files whose signature was checked (or that you trust)."""
    try:
        f = h5py.File(p, "r")
    except OSError:
        raise CheckpointError(f"{p} is not a readable HDF5 checkpoint (truncated or not HDF5)") from None
    try:
        with f:
            if f.attrs.get("format") != FORMAT:
                raise CheckpointError(f"{p} is an HDF5 file but not an aae checkpoint")
            version = int(f.attrs.get("format_version", -1))
            if version > FORMAT_VERSION:
                raise CheckpointError(f"{p} has checkpoint format version {version}, newer than this aae "
                                      f"reads ({FORMAT_VERSION}); upgrade aae")
            _check_objects(f, str(p))
            state = _read_json(f, "json/state")
            # settings the checkpoint predates take the value it ran with
            config = {**IMPLIED_BEFORE, **_read_json(f, "json/config")}
            ck = Checkpoint(config=config, data=_read_json(f, "json/data"),
                            epoch=int(state["epoch"]), step=int(state["step"]),
                            batch=int(state.get("batch", 0)), partial=dict(state.get("partial", {})),
                            history=_read_json(f, "json/history"))
            for net, g in f.get("nets", {}).items():
                ck.nets[net] = {k: torch.from_numpy(np.asarray(v)) for k, v in _read_group(g).items()}
            for phase, g in f.get("optim", {}).items():
                scalars = _read_json(g, "scalars")
                st: dict[int, dict[str, Any]] = {}
                for idx, sg in g.get("state", {}).items():
                    st[int(idx)] = {k: torch.from_numpy(np.asarray(v)) for k, v in _read_group(sg).items()}
                    st[int(idx)].update(scalars.get(idx, {}))
                ck.optim[phase] = {"state": st, "param_groups": _read_json(g, "param_groups")}
            ck.rng = {k: torch.from_numpy(np.asarray(v)) for k, v in _read_group(f.get("rng")).items()}
            ck.priors = {k: _read_group(g) for k, g in f.get("priors", {}).items()}
            ck.arrays = _read_group(f.get("arrays"))
            return ck
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{p} is a damaged aae checkpoint ({type(e).__name__}: {e})") from None
