"""The kit's cache: what it builds once (models, venvs), kept under ``$HANDLER_KIT_CACHE``.

One rule for every entry, whoever builds it: an entry is a folder built by one process at a
time (a file lock between processes); a stamp file in it, written last, says it is complete,
so an entry without its stamp (a build that failed, was stopped or killed) is built again.
``CachedFolder.build`` is that rule. Its callers: the models (``templates.builds.cached_build``),
production's venv and the venvs with a repository's requirements (``production.venvs``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import HandlerKitError

LOCK_POLL = 0.5  # seconds between two tries of a lock another process holds


def cache_dir() -> Path:
    """Where the kit keeps what it builds: ``$HANDLER_KIT_CACHE``, default
    ``~/.cache/handler_kit``."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "handler_kit"
    return Path(os.environ.get("HANDLER_KIT_CACHE", default))


def digest(*parts: Path | str | bytes) -> str:
    """A key (sha256, hex) over ``parts``: a file's bytes, a string's UTF-8, bytes as given."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            digest.update(part.read_bytes())
        else:
            digest.update(part if isinstance(part, bytes) else part.encode())
    return digest.hexdigest()


@contextlib.contextmanager
def lock(
    file: Path,
    timeout: float | None = None,
    what: str = "this cache entry",
    error: type[HandlerKitError] = HandlerKitError,
) -> Iterator[None]:
    """Hold an exclusive lock on ``file`` between processes.

    Another holder is waited for as long as it takes, or at most ``timeout`` seconds: then
    ``error`` says that another process has been building ``what`` that long.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no flock; two builds at once only cost time
        yield
        return
    with open(file, "a+") as handle:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
                break
            except OSError:
                if deadline is not None and time.monotonic() > deadline:
                    raise error(
                        f"another process has been building {what} for over "
                        f"{timeout:.0f} s (lock {file})",
                        hint="Wait for it, or stop it and delete the lock file.",
                    ) from None
                time.sleep(LOCK_POLL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class CachedFolder:
    """A folder of the cache, built once: complete when its stamp file says so."""

    folder: Path
    stamp: str  # the stamp file's name in the folder, written last
    lock: Path  # held while the entry is checked again and built
    # Build in a staging folder whose name starts with this, beside the entry, then move it
    # into place; None: build in place, for what cannot be moved (a venv's paths are fixed).
    aside: str | None = None

    def stamped(self) -> str | None:
        """The stamp's text, or None when there is none (never built, or half-built)."""
        try:
            return (self.folder / self.stamp).read_text(encoding="utf-8")
        except OSError:
            return None

    def build(
        self,
        make: Callable[[Path], str],
        complete: Callable[[str], bool] = lambda _: True,
        timeout: float | None = None,
        what: str = "this cache entry",
        error: type[HandlerKitError] = HandlerKitError,
    ) -> Path:
        """The entry's folder, built by ``make`` unless ``complete(stamp text)`` says it is.

        ``make(folder)`` writes into an empty folder and returns the stamp's text, which is
        written after it returns; a ``make`` that raises leaves no stamp. Another process
        building the same entry is waited for (at most ``timeout`` s, then ``error`` naming
        ``what``), not duplicated.
        """
        if self._complete(complete):
            return self.folder
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        with lock(self.lock, timeout, what, error):
            if self._complete(complete):  # built by another process while this one waited
                return self.folder
            if self.aside is None:
                self._build_in_place(make)
            else:
                self._build_aside(make, self.aside)
        return self.folder

    def _complete(self, complete: Callable[[str], bool]) -> bool:
        text = self.stamped()
        return text is not None and complete(text)

    def _build_in_place(self, make: Callable[[Path], str]) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)  # half-built, or stamped otherwise
        self.folder.mkdir(parents=True)
        text = make(self.folder)
        (self.folder / self.stamp).write_text(text, encoding="utf-8")

    def _build_aside(self, make: Callable[[Path], str], prefix: str) -> None:
        parent = self.folder.parent
        for stale in parent.glob(f"{prefix}*.partial"):  # left by a build that was killed
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=prefix, suffix=".partial", dir=parent))
        try:
            text = make(staging)
            (staging / self.stamp).write_text(text, encoding="utf-8")
            shutil.rmtree(self.folder, ignore_errors=True)
            staging.rename(self.folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
