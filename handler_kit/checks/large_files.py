"""The rows for large files: a file over 10 MB that git LFS does not track is refused by the Hub.

Which files git LFS tracks is what git itself says (``git check-attr filter``): every
``.gitattributes`` of the repository, with git's own pattern rules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..report import Status
from .report import CheckName, Row

LFS_LIMIT = 10 * 1024 * 1024  # the Hub refuses files over 10 MB that git LFS does not track


def large_file_rows(repo: Path) -> list[Row]:
    """Warn about files over 10 MB that git LFS does not track: the Hub refuses them."""
    large = large_files(repo)
    if not large:
        return [Row(CheckName.LARGE_FILES, Status.PASS, "none over 10 MB outside git LFS")]
    tracked = lfs_tracked(repo, list(large))
    rows = []
    for relative, size in large.items():
        if tracked is not None and relative in tracked:
            continue
        if tracked is None:
            said = "(git is not here to say whether git LFS tracks it)"
        else:
            said = "and not tracked by git LFS"
        rows.append(
            Row(
                CheckName.LARGE_FILE,
                Status.WARN,
                f"{relative} is {size / 1024 / 1024:.1f} MB {said}; "
                f'the Hub refuses files over 10 MB without it: git lfs track "{relative}"',
            )
        )
    return rows or [Row(CheckName.LARGE_FILES, Status.PASS, "none over 10 MB outside git LFS")]


def large_files(repo: Path) -> dict[str, int]:
    """The files of ``repo`` over 10 MB (links and .git left out), by path, with their size."""
    found = {}
    for folder, dirs, files in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            file = Path(folder, name)
            if file.is_symlink():
                continue
            size = file.stat().st_size
            if size > LFS_LIMIT:
                found[file.relative_to(repo).as_posix()] = size
    return found


def lfs_tracked(repo: Path, paths: list[str]) -> set[str] | None:
    """Which of ``paths`` (relative to ``repo``) the repository's .gitattributes hand to git
    LFS, as git reads them; None when there is no git to ask.

    git answers for a scratch repository over ``repo`` as its work tree: the repository need
    not be a git checkout, and only the attributes it carries count (not this machine's).
    """
    git = shutil.which("git")
    if git is None:
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="handler-kit-attributes-") as scratch:
            run = {"check": True, "capture_output": True, "timeout": 60}
            subprocess.run([git, "init", "--quiet", "--bare", scratch], **run)
            done = subprocess.run(
                [
                    *(git, "-c", f"core.attributesFile={os.devnull}"),
                    *(f"--git-dir={scratch}", f"--work-tree={repo}"),
                    *("check-attr", "-z", "--stdin", "filter"),
                ],
                input="".join(f"{path}\0" for path in paths).encode("utf-8", "surrogateescape"),
                **run,
            )
    except (OSError, subprocess.SubprocessError):
        return None
    # -z: path, attribute, value, each ended by NUL.
    fields = done.stdout.decode("utf-8", "surrogateescape").split("\0")
    return {fields[i] for i in range(0, len(fields) - 2, 3) if fields[i + 2] == "lfs"}
