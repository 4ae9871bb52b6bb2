"""Fetch one file over HTTP(S) into place, atomically and only when its md5 matches."""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from aae_cli.data.reason import reason
from aae_cli.errors import DataError

CHUNK = 1 << 20
TIMEOUT_S = 60.0


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def fetch(
    url: str,
    dest: Path,
    md5: str,
    progress: Callable[[str], None] | None = stderr_progress,
    manual_hint: str = "",
) -> None:
    """Download url to dest via a temp file in dest's folder; a wrong md5 or any failure leaves nothing.

    manual_hint is appended to failure messages (where to put the file by hand).
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise DataError(f"cannot write to {dest.parent} ({reason(e)}); choose a writable --data-dir") from e
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            got = _stream(url, out, dest.name, progress)
        if got != md5:
            raise DataError(
                f"{url}: downloaded file has md5 {got}, expected {md5}; nothing was saved. "
                f"Retry later or use another mirror{manual_hint}"
            )
        os.replace(tmp, dest)
    except DataError:
        tmp.unlink(missing_ok=True)
        raise
    except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError) as e:
        tmp.unlink(missing_ok=True)
        raise DataError(f"download of {url} failed ({reason(e)}){manual_hint}") from e
    except BaseException:  # Ctrl-C: still leave no partial file behind
        tmp.unlink(missing_ok=True)
        raise


def _stream(url: str, out: BinaryIO, label: str, progress: Callable[[str], None] | None) -> str:
    """Copy the response body to out, reporting progress about every 2 s; return the md5 hex digest."""
    h = hashlib.md5()
    done = 0
    last = time.monotonic()
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
        total = int(resp.headers.get("Content-Length") or 0)
        if progress:
            size = f" ({total / 1e6:.1f} MB)" if total else ""
            progress(f"downloading {url}{size}")
        while chunk := resp.read(CHUNK):
            out.write(chunk)
            h.update(chunk)
            done += len(chunk)
            if progress and time.monotonic() - last > 2.0:
                last = time.monotonic()
                of = f" of {total / 1e6:.1f}" if total else ""
                progress(f"  {label}: {done / 1e6:.1f}{of} MB")
        if total and done != total:
            raise http.client.IncompleteRead(b"", total - done)
    if progress:
        progress(f"  {label}: done, {done / 1e6:.1f} MB")
    return h.hexdigest()
