"""Where the engines keep their files, and the lock that makes one writer at a time across processes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings


class IndexLockTimeout(TimeoutError):
    """Another process held the index's writer lock longer than ``SEARCH_INDEX_LOCK_TIMEOUT``."""


class IndexCorrupt(RuntimeError):
    """An index's files exist but cannot be read: rebuild it from the database."""


def engine_dir(engine: str, domain_id: int) -> Path:
    return Path(settings.SEARCH_INDEX_DIR) / engine / f"domain-{int(domain_id)}"


class DomainIndexFiles:
    """Where an engine keeps a domain's index and its writer lock (``<engine>/domain-<id>`` and
    ``<engine>/domain-<id>.lock``); the keyword and vector engines share the layout."""

    engine: str

    def path(self, domain_id: int) -> Path:
        return engine_dir(self.engine, domain_id)

    def lock_path(self, domain_id: int) -> Path:
        return self.path(domain_id).with_suffix(".lock")


@contextlib.contextmanager
def writer_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing), waited for up to ``timeout`` seconds.

    flock is released by the kernel when the holder dies, so a killed worker never leaves
    the index locked."""
    timeout = settings.SEARCH_INDEX_LOCK_TIMEOUT if timeout is None else timeout
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexLockTimeout(f"{path} stayed locked for {timeout:g} s") from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def mtime_ns(path: Path) -> int:
    """The file's modification time, 0 when it does not exist (a cheap "did another process commit?")."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0
