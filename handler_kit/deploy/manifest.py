"""Exactly the files a deploy uploads, with their sizes, and what would break production.

The manifest is the repository folder as git would commit it: what its ``.gitignore``
files exclude is left out (pathspec, git's own rules: see ``ignore.py``), and so is what
never belongs on the Hub whatever .gitignore says: ``.git`` and ``.cache`` (huggingface_hub
refuses to commit under either), virtual environments (a folder with ``pyvenv.cfg``),
``__pycache__``, notebook checkpoints and build outputs. Two things are errors: a git LFS
pointer file in place of the file it stands for (production would load 130 bytes of text as
weights), and a file the handler opens by name (``opened.py``) that exists here but will
not be uploaded ("works here because of a file that is not pushed"). Pure: no network.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .. import style
from ..errors import HandlerKitError
from ..report import Status, count, text_table
from .ignore import GitIgnores, Rule
from .opened import Opened, opened_names

# git-lfs's specification: a pointer file is under 1024 bytes and starts with this line.
POINTER_LIMIT = 1024
POINTER = re.compile(
    rb"version https://git-lfs\.github\.com/spec/v1\n"
    rb"(?:[a-z0-9.-]+ [^\n]*\n)*?oid sha256:(?P<oid>[0-9a-f]{64})\n"
    rb"(?:[a-z0-9.-]+ [^\n]*\n)*?size (?P<size>[0-9]+)\n?"
)
HUB_REFUSES = frozenset({".git", ".cache"})  # huggingface_hub's FORBIDDEN_FOLDERS
BUILD_FOLDERS = frozenset({"build", "dist"})  # at the top of the repository
SHOWN = 40  # files listed in the text of a large manifest


class Reason(str, Enum):
    """Why a path is left out of the upload."""

    GITIGNORE = "git-ignored"
    HUB_REFUSES = "a folder the Hub refuses (.git, .cache)"
    VENV = "a virtual environment"
    PYCACHE = "Python's bytecode cache"
    CHECKPOINTS = "notebook checkpoints"
    BUILD = "a build output"
    BROKEN_LINK = "a symbolic link to nothing"


@dataclass(frozen=True)
class ManifestFile:
    """A file that will be uploaded: its path in the repository (posix) and size in bytes."""

    path: str
    size: int


@dataclass(frozen=True)
class Excluded:
    """A file, or a folder (``venv/``) with everything in it, that will not be uploaded."""

    path: str
    reason: Reason
    rule: Rule | None = None  # the .gitignore line, for GITIGNORE

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.rule}" if self.rule else self.reason.value


class ManifestError(HandlerKitError):
    """The files to upload would not serve in production as they serve here."""


class LfsPointerError(ManifestError):
    """A git LFS pointer file stands where the file it points to should be."""


class NotUploadedError(ManifestError):
    """The handler opens a file that is here but will not be uploaded."""


class ManifestProblems(ManifestError):
    """Several problems with the files to upload; ``errors`` holds each one."""

    def __init__(self, errors: Iterable[ManifestError]) -> None:
        self.errors = tuple(errors)
        said = "\n\n".join(str(error) for error in self.errors)
        super().__init__(f"{len(self.errors)} problems with the files to upload:\n\n{said}")


@dataclass
class Manifest:
    """The files a deploy of ``repo`` uploads, what it leaves out and why, and its errors."""

    repo: Path
    files: tuple[ManifestFile, ...]
    excluded: tuple[Excluded, ...] = ()
    errors: tuple[ManifestError, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def size(self) -> int:
        """Bytes to upload in all."""
        return sum(f.size for f in self.files)

    @property
    def sizes(self) -> dict[str, int]:
        """``{path: size}`` of every file, to compare with what a revision holds."""
        return {f.path: f.size for f in self.files}

    def has(self, name: str) -> bool:
        """True when ``name`` is uploaded: a file of the manifest, or a folder holding one."""
        return name in self.sizes or any(f.path.startswith(f"{name}/") for f in self.files)

    def excluded_for(self, name: str) -> list[Excluded]:
        """Why ``name`` is left out: its own entry or its folder's, else those inside it."""
        inside = []
        for entry in self.excluded:
            path = entry.path.rstrip("/")
            if name == path or name.startswith(f"{path}/"):
                return [entry]
            if path.startswith(f"{name}/"):
                inside.append(entry)
        return inside

    @property
    def left_out(self) -> str:
        """``venv/ (a virtual environment), data.csv (git-ignored: ...)``; "" for nothing."""
        return _left_out(self.excluded)

    def check(self) -> Manifest:
        """The manifest itself when it has no errors; raises its error (or all of them)."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ManifestProblems(self.errors)
        return self

    @property
    def verdict(self) -> str:
        files = f"{count(len(self.files), 'file')}, {human_size(self.size)}"
        if self.ok:
            return f"{files} to upload"
        return f"{files}; {count(len(self.errors), 'problem')}: nothing can be uploaded"

    def __str__(self) -> str:
        lines = [f"Files to upload from {self.repo}"]
        shown = self.files if len(self.files) <= SHOWN else self.files[:SHOWN]
        rows = [(human_size(f.size), f.path) for f in shown]
        lines += text_table(("size", "file"), rows, right={0})
        if len(shown) < len(self.files):
            lines.append(f"... and {len(self.files) - len(shown)} more")
        if self.excluded:
            lines.append(f"left out: {self.left_out}")
        lines += [f"error: {error.one_line()}" for error in self.errors]
        lines.append(self.verdict)
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cell = style.cell_style()
        right = style.cell_style("right")
        rows = "".join(
            f'<tr><td style="{right}">{human_size(f.size)}</td>'
            f'<td style="{cell};font-family:{style.MONOSPACE}">{html.escape(f.path)}</td></tr>'
            for f in self.files
        )
        head = f'<tr><th style="{right}">size</th><th style="{cell}">file</th></tr>'
        left = (
            f'<div style="color:{style.MUTED}">left out: {html.escape(self.left_out)}</div>'
            if self.excluded
            else ""
        )
        errors = "".join(style.error_box(error.what, error.hint or "") for error in self.errors)
        verdict = style.bold(self.verdict, (Status.PASS if self.ok else Status.FAIL).colour)
        return (
            f'<div style="color:{style.TEXT}"><b>Files to upload from '
            f"{html.escape(str(self.repo))}</b>"
            f'<table style="{style.table_style()}">{head}{rows}</table>'
            f"{left}{errors}<div>{verdict}</div></div>"
        )


def build_manifest(repo: str | Path) -> Manifest:
    """The files a deploy of ``repo`` uploads, with the errors that would break production.

    Never raises for those errors: they are in ``errors`` (``check()`` raises them), so that
    a report can show everything at once. Raises ManifestError when ``repo`` is no folder.
    """
    folder = Path(repo).expanduser().resolve()
    if not folder.is_dir():
        raise ManifestError(
            f"no such folder: {repo}",
            hint="Pass the folder of your model repository, the one that holds handler.py.",
        )
    files: list[ManifestFile] = []
    excluded: list[Excluded] = []
    _walk(folder, "", GitIgnores(folder), files, excluded, frozenset())
    manifest = Manifest(folder, tuple(files), tuple(excluded))
    errors: list[ManifestError] = [*_pointer_errors(manifest)]
    errors += _not_uploaded_errors(manifest, opened_names(folder))
    manifest.errors = tuple(errors)
    return manifest


def _walk(
    repo: Path,
    folder: str,
    ignores: GitIgnores,
    files: list[ManifestFile],
    excluded: list[Excluded],
    above: frozenset[str],
) -> None:
    """Add the files below ``folder`` (relative) to ``files``, what is left out to ``excluded``."""
    real = os.path.realpath(repo / folder)
    if real in above:
        return  # a symbolic link back up the tree
    above = above | {real}
    ignores.enter(folder)
    with os.scandir(repo / folder) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        path = f"{folder}/{entry.name}" if folder else entry.name
        is_dir = entry.is_dir()  # follows links, as huggingface_hub's upload_folder does
        if not is_dir and not entry.is_file():
            excluded.append(Excluded(path, Reason.BROKEN_LINK))
            continue
        reason = _never_uploaded(entry.name, path, is_dir, Path(entry.path))
        rule = None if reason else ignores.rule_for(path, is_dir)
        if reason or rule:
            shown = f"{path}/" if is_dir else path
            excluded.append(Excluded(shown, reason or Reason.GITIGNORE, rule))
        elif is_dir:
            _walk(repo, path, ignores, files, excluded, above)
        else:
            files.append(ManifestFile(path, entry.stat().st_size))


def _never_uploaded(name: str, path: str, is_dir: bool, full: Path) -> Reason | None:
    """Why ``path`` is never uploaded whatever .gitignore says, or None."""
    if name in HUB_REFUSES:
        return Reason.HUB_REFUSES
    if not is_dir:
        return None
    if (full / "pyvenv.cfg").is_file():
        return Reason.VENV
    if name == "__pycache__":
        return Reason.PYCACHE
    if name == ".ipynb_checkpoints":
        return Reason.CHECKPOINTS
    if (path in BUILD_FOLDERS) or name.endswith(".egg-info"):
        return Reason.BUILD
    return None


def lfs_pointer(data: bytes) -> tuple[str, int] | None:
    """``(oid, size)`` when ``data`` is a git LFS pointer file; None otherwise."""
    if len(data) >= POINTER_LIMIT:
        return None
    found = POINTER.fullmatch(data.replace(b"\r\n", b"\n"))
    return (found["oid"].decode(), int(found["size"])) if found else None


def _pointer_errors(manifest: Manifest) -> Iterable[ManifestError]:
    for file in manifest.files:
        if file.size >= POINTER_LIMIT:
            continue
        try:
            data = (manifest.repo / file.path).read_bytes()
        except OSError:
            continue
        pointer = lfs_pointer(data)
        if pointer is None:
            continue
        oid, size = pointer
        yield LfsPointerError(
            f"{file.path} is a git LFS pointer ({file.size} bytes standing for "
            f"{human_size(size)}, oid sha256:{oid[:12]}...), not the file itself: uploaded, "
            "production would read this text in place of the file",
            file=manifest.repo / file.path,
            hint=f"Fetch the real file: run `git lfs pull --include={file.path}` in "
            f"{manifest.repo} (`git lfs install` first if git says lfs is not a command), "
            "then deploy again.",
        )


def _not_uploaded_errors(manifest: Manifest, opened: list[Opened]) -> Iterable[ManifestError]:
    said: set[str] = set()
    for name in opened:
        if name.name in said or not name.name or manifest.has(name.name):
            continue
        # Only what is here and left out: a name that is nowhere (a file the handler writes,
        # or one it tests for) or an empty folder is not a file that goes missing.
        left_out = manifest.excluded_for(name.name)
        if not left_out or not (manifest.repo / name.name).exists():
            continue
        said.add(name.name)
        first = left_out[0]
        if first.path.rstrip("/").startswith(f"{name.name}/"):  # the files inside a folder
            why = f"everything in it is left out: {_left_out(left_out)}"
        else:
            why = f"{first.path} is {first}"
        yield NotUploadedError(
            f"opens `{name.name}` (`{name.code}`, by {name.by.value}), which will not be "
            f"uploaded: {why}",
            file=name.file,
            line=name.line,
            hint=_what_to_do(name, first),
        )


def _what_to_do(name: Opened, left_out: Excluded) -> str:
    if left_out.rule is not None:
        rule = left_out.rule
        return (
            f"Upload it: delete line {rule.line} of {rule.source} (or add `!{left_out.path}` "
            f"below it), or stop reading it in {name.file.name}."
        )
    return (
        f"Move it out of {left_out.path} ({left_out.reason.value} is never uploaded), or stop "
        f"reading it in {name.file.name}."
    )


def _left_out(excluded: Iterable[Excluded]) -> str:
    """``venv/ (a virtual environment), data.csv (git-ignored: .gitignore:2 (`*.csv`))``."""
    items = [f"{e.path} ({e})" for e in excluded]
    shown = ", ".join(items[:8])
    return shown + (f" and {len(items) - 8} more" if len(items) > 8 else "")


def human_size(size: float) -> str:
    """``130 B``, ``4.2 kB``, ``438.0 MB``: bytes in decimal units, as the Hub shows them."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
