"""Small file facts every stage uses: a file's SHA-256, the UTC time stamp of a document, and a path's
resolved form (what the output policy and its locks compare)."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO


def sha256_stream(
    handle: BinaryIO, digest: hashlib._Hash | None = None, chunk: int = 1 << 20
) -> hashlib._Hash:
    """`digest` (a new SHA-256 when None) updated with the rest of `handle`, read in chunks."""
    digest = digest if digest is not None else hashlib.sha256()
    while block := handle.read(chunk):
        digest.update(block)
    return digest


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks (large rasters never sit in memory whole)."""
    with Path(path).open("rb") as handle:
        return sha256_stream(handle).hexdigest()


def utc_now() -> str:
    """The `created` / `updated` stamp of every cfipt document: UTC, whole seconds, ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def resolved(path: str | os.PathLike[str]) -> Path:
    """The absolute path with links and `.` / `..` resolved (also when it does not exist yet)."""
    return Path(os.path.abspath(os.fspath(path))).resolve()
