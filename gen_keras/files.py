"""Files written whole or not at all: a temporary name in the same folder, then a rename."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path` to write to; renames it onto `path` when the block ends
    without an error, and deletes it otherwise, so a reader (or a process killed mid-write) never sees
    half a file.

    The temporary name keeps `path`'s suffix (`.tmp-<pid>-<name>`), for writers that check it (Keras's
    `save_weights` wants `*.weights.h5`, `save` wants `*.keras`).

    Args:
        path: the file to write.

    Returns:
        A context manager yielding the temporary `Path`.
    """
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: str | os.PathLike, content: str | bytes) -> Path:
    """Writes `content` (text or bytes) to `path` whole or not at all.

    Args:
        path: the file to write.
        content: `str` (written as UTF-8) or `bytes`.

    Returns:
        `path` as a `Path`.
    """
    with atomic_path(path) as tmp:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content, encoding="utf-8")
    return Path(path)
