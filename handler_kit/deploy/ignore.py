"""A folder tree's .gitignore rules, applied as git applies them (pathspec's gitignore).

Each ``.gitignore`` holds for its own folder and those below it; the deepest one that says
anything about a path decides (a ``!pattern`` there re-includes it), then the ones above it,
then ``.git/info/exclude``. A folder that is ignored is not entered: what is below it stays
out whatever a later pattern says, as in git. The user's global excludes file is not read:
the manifest is the same on every machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

# The group pathspec's gitignore patterns name the slash after a matched folder with.
DIR_MARK = "ps_d"
IGNORE_FILE = ".gitignore"
EXCLUDE_FILE = ".git/info/exclude"


@dataclass(frozen=True)
class Rule:
    """The line of an ignore file that excludes a path: ``sub/.gitignore:3`` and its text."""

    source: str  # the ignore file, relative to the repository
    line: int  # 1-based
    pattern: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line} `{self.pattern}`"


@dataclass(frozen=True)
class _IgnoreFile:
    folder: str  # where its patterns are rooted, relative to the repository ("" at the top)
    source: str
    lines: tuple[str, ...]
    spec: GitIgnoreSpec

    @classmethod
    def read(cls, repo: Path, folder: str, source: str) -> _IgnoreFile | None:
        try:
            text = (repo / source).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        lines = tuple(text.splitlines())
        # pathspec drops empty lines but keeps comments as patterns that match nothing: a
        # comment in their place keeps a pattern's index equal to its line's.
        spec = GitIgnoreSpec.from_lines([line or "#" for line in lines])
        return cls(folder, source, lines, spec)

    def decides(self, path: str, is_dir: bool) -> tuple[bool, Rule] | None:
        """(ignored, rule) when a pattern of this file matches ``path``; None otherwise.

        The last pattern that matches the path itself decides. pathspec's patterns also
        match a file through one of its folders (``build/x.py`` by ``build/``); those
        matches are not this path's: the walk has asked about each folder on the way.
        """
        inner = path[len(self.folder) + 1 :] if self.folder else path
        found = None
        for index, pattern in enumerate(self.spec.patterns):
            if pattern.include is not None and _matches(pattern.regex, inner, is_dir):
                found = pattern.include, Rule(self.source, index + 1, self.lines[index].strip())
        return found


def _matches(regex: re.Pattern[str] | None, path: str, is_dir: bool) -> bool:
    """True when ``regex`` (a pathspec gitignore pattern) matches ``path`` itself."""
    if regex is None:
        return False
    match = regex.match(path)
    if match is not None:
        mark = match.groupdict().get(DIR_MARK)
        if mark is None or match.start(DIR_MARK) == len(path):
            return True
    if not is_dir:
        return False
    # A folder is also matched by a pattern for folders only (`build/`), which pathspec
    # writes as a match of the folder's name followed by its slash (the dir mark group).
    match = regex.match(f"{path}/")
    return (
        match is not None
        and match.groupdict().get(DIR_MARK) is not None
        and match.start(DIR_MARK) == len(path)
    )


class GitIgnores:
    """The ignore files read so far in a walk of ``repo``, and what they exclude."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._files: dict[str, _IgnoreFile] = {}
        self._exclude = (
            _IgnoreFile.read(repo, "", EXCLUDE_FILE) if (repo / ".git").is_dir() else None
        )

    def enter(self, folder: str) -> None:
        """Read ``folder``'s .gitignore (``""``: the repository's own), when it has one."""
        source = f"{folder}/{IGNORE_FILE}" if folder else IGNORE_FILE
        found = _IgnoreFile.read(self.repo, folder, source)
        if found is not None:
            self._files[folder] = found

    def rule_for(self, path: str, is_dir: bool = False) -> Rule | None:
        """The rule that ignores ``path`` (relative, posix), or None when it is not ignored.

        The folders of ``path`` must have been entered, top down, as a walk does.
        """
        parts = path.split("/")[:-1]
        folders = ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]
        candidates = [self._files[f] for f in folders if f in self._files]
        if self._exclude is not None:
            candidates.append(self._exclude)
        for ignore_file in candidates:
            decided = ignore_file.decides(path, is_dir)
            if decided is not None:
                ignored, rule = decided
                return rule if ignored else None
        return None
