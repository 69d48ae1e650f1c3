"""The flight record: what this process was loading, for when it ends without a word.

Some edits end the process itself before any error can be said: a segfault in an extension
module, the kernel killed for want of memory, ``os._exit`` from a thread. The notebook's kernel
dies, or the server. So before each load and reload one line goes to this process's record (in
the kit's cache, ``flight/<pid>.log``): the repository, the files being loaded and when they
were saved; after it, one more line that says it ended. Python's fault handler writes into the
same record (unless something else enabled it before), so a segfault leaves its traceback
there. A process that ends normally removes its record.

The next load of the same repository reads the records of processes that are gone and says
what the last one was loading when it ended (:func:`ended`); ``serve --reload``'s supervising
process reads its server's (:func:`record_of`).
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from ..cache import cache_dir

_FRAME = re.compile(r'^\s*File "(?P<file>.+)", line (?P<line>\d+) in (?P<name>.+)$')


def folder() -> Path:
    """Where the records are: ``<cache>/flight``."""
    return cache_dir() / "flight"


class _Recorder:
    """This process's record: opened at the first load, removed when the process ends."""

    def __init__(self) -> None:
        self.pid = 0
        self.file: TextIO | None = None
        self.lock = threading.Lock()

    def write(self, entry: dict[str, Any]) -> None:
        """Add one line, on disk at once; a record that cannot be written is given up."""
        with self.lock:
            try:
                file = self._open()
                file.write(json.dumps(entry) + "\n")
                file.flush()
            except (OSError, ValueError):
                self.file = None  # a read-only cache, a full disk: never the reload's failure

    def _open(self) -> TextIO:
        if self.file is None or self.pid != os.getpid():  # a forked process has its own
            self.pid = os.getpid()
            folder().mkdir(parents=True, exist_ok=True)
            path = folder() / f"{self.pid}.log"
            self.file = path.open("w", encoding="utf-8")  # an old process's of this pid: gone
            atexit.register(_remove, path, self.pid)  # a process that ends normally
            if not faulthandler.is_enabled():  # else someone chose where it writes
                faulthandler.enable(self.file, all_threads=True)
        return self.file


_recorder = _Recorder()


def _remove(path: Path, pid: int | None = None) -> None:
    """Remove a record (at exit: only in the process that wrote it, not a forked one)."""
    if pid is None or os.getpid() == pid:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def loading(
    repo: Path, files: list[Path], fingerprint: str, verb: str = "reloading"
) -> Iterator[None]:
    """Record that this process is ``verb`` (loading, reloading) ``files`` of ``repo``, whose
    texts have ``fingerprint``, until the block ends, however it ends."""
    saved = max((_mtime(f) for f in files), default=0.0)
    _recorder.write(
        {
            "repo": str(repo),
            "doing": f"{verb} {', '.join(f.name for f in files) or 'nothing'}",
            "saved": datetime.fromtimestamp(saved).isoformat(timespec="seconds") if saved else "",
            "fingerprint": fingerprint,
            "at": datetime.now().isoformat(timespec="seconds"),
        }
    )
    try:
        yield
    finally:
        _recorder.write({"done": True})


def _mtime(file: Path) -> float:
    try:
        return file.stat().st_mtime
    except OSError:
        return 0.0


@dataclass(frozen=True)
class Ended:
    """What a process that ended without a word was doing: its last load or reload."""

    pid: int
    repo: str
    doing: str  # "reloading handler.py"; "" when no load was running
    saved: str  # when those files were saved (ISO), or ""
    at: str  # when it started (ISO)
    fingerprint: str
    fault: tuple[str, ...] = ()  # Python's fault handler: its first line, the repository's frames

    @property
    def loading(self) -> bool:
        """Whether it ended during a load or reload (else while serving)."""
        return bool(self.doing)

    def __str__(self) -> str:
        if self.loading:
            saved = f" (saved {self.saved[11:]})" if self.saved else ""
            what = f"while {self.doing}{saved}, started {self.at[11:]}"
        else:
            what = "while serving, not loading"
        fault = f": {'; '.join(self.fault)}" if self.fault else ""
        return f"process {self.pid} ended without a word {what}{fault}"


def record_of(pid: int, repo: str | None = None) -> Ended | None:
    """What process ``pid`` was doing when it ended, from its record; None without one (or,
    given ``repo``, when its last load was of another repository)."""
    try:
        text = (folder() / f"{pid}.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    last: dict[str, Any] | None = None
    running, fault = False, []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            fault.append(line)  # the fault handler's lines
            continue
        if entry.get("done"):
            running = False
        else:
            last, running, fault = entry, True, []
    if last is None or (repo is not None and last.get("repo") != repo):
        return None
    return Ended(
        pid,
        last["repo"],
        last["doing"] if running else "",
        last.get("saved", ""),
        last.get("at", ""),
        last.get("fingerprint", ""),
        _fault(fault, last["repo"]),
    )


def forget(pid: int) -> Ended | None:
    """What process ``pid`` (ended) was doing, as ``record_of`` says, and its record removed.

    For a process that started ``pid`` and says itself how it ended (the check's worker):
    the next load would otherwise say it again, as news.
    """
    record = record_of(pid)
    _remove(folder() / f"{pid}.log")
    _remove(good_file(pid))
    return record


def _fault(lines: list[str], repo: str) -> tuple[str, ...]:
    """The fault handler's first line and the frames of ``repo`` it printed (innermost first)."""
    said = [line.strip() for line in lines if line.startswith("Fatal Python error")][:1]
    for line in lines:
        frame = _FRAME.match(line)
        if frame and Path(frame["file"]).is_relative_to(repo):
            said.append(f"{Path(frame['file']).name}:{frame['line']} in {frame['name']}")
    return tuple(said[:4])


def ended(repo: Path) -> Ended | None:
    """The last process that loaded ``repo`` and ended while loading it or with a fault, if
    any; its record is removed (said once). Records with nothing to say are removed too."""
    found: Ended | None = None
    for path in sorted(folder().glob("*.log"), key=_mtime):
        pid = int(path.stem) if path.stem.isdigit() else 0
        if not pid or pid == os.getpid() or _alive(pid):
            continue
        record = record_of(pid)
        _remove(good_file(pid))  # what a dead server kept for its supervisor: of no more use
        if (
            record is None
            or (not record.loading and not record.fault)
            or not Path(record.repo).is_dir()
        ):
            _remove(path)  # it ended quietly, was killed while idle, or its repository is gone
        elif record.repo == str(repo):
            found = record
            _remove(path)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


# --- the last good version, kept for a supervisor that starts the server again --------------------


def good_file(pid: int) -> Path:
    """Where process ``pid`` keeps the texts of its last good version (``keep_good``)."""
    return folder() / f"{pid}.good.json"


def keep_good(texts: Mapping[str, str]) -> None:
    """Keep the module texts of the version now serving, for a server started again after this
    one ended (see ``supervisor.py``); removed when the process ends normally."""
    path = good_file(os.getpid())
    try:
        folder().mkdir(parents=True, exist_ok=True)
        aside = path.with_suffix(".tmp")
        aside.write_text(json.dumps(dict(texts)), encoding="utf-8")
        aside.replace(path)  # whole or not at all: the process may die any moment
    except OSError:
        return
    if not _kept:
        _kept.append(path)
        atexit.register(_remove, path, os.getpid())


_kept: list[Path] = []


def take_good(path: str | Path) -> dict[str, str]:
    """The texts a previous server kept (``keep_good``); the file is removed."""
    path = Path(path)
    texts = json.loads(path.read_text(encoding="utf-8"))
    _remove(path)
    return texts
