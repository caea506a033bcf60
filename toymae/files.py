"""Writing files so that readers never see half of one, and a full disk or a missing permission is
one sentence (``WriteError``) rather than a traceback."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class WriteError(OSError):
    """A file could not be written (disk full, no permission); the message names the file and why."""


def write_atomic(path: str | Path, payload: bytes) -> Path:
    """Write via a temp file in the same folder and a rename: readers never see half a file.

    A full disk or a missing permission raises ``WriteError`` naming the file, and leaves no temp file.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise WriteError(f"cannot write {path}: {e.strerror or e}") from None
        raise
    return path


def require_writable(path: str | Path) -> Path:
    """Raise ``WriteError`` now where ``write_atomic(path, ...)`` would fail later for want of a
    writable folder: a training run learns it before it trains, not after. Creates the folder."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"cannot write {path}: it is a folder")
    _probe_folder(path.parent, path)
    return path


def require_writable_dir(folder: str | Path) -> Path:
    """As ``require_writable`` for an output folder (created if missing)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise WriteError(f"cannot write into {folder}: it is a file")
    _probe_folder(folder, folder)
    return folder


def _probe_folder(folder: Path, named: Path) -> None:
    """Create and delete a temp file in ``folder``, as ``write_atomic`` will."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".toymae-write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise WriteError(f"cannot write {named}: {e.strerror or e}") from None
