"""requirements.txt as production's ``pip install -r`` reads it.

:class:`Requirements` reads a repository's requirements file as production's pip does
(``-r`` includes, ``-e`` and ``git+https://`` URLs, extras, markers, hashes, byte-order
marks), line by line, with why production's pip cannot install a line when it cannot.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .image import production

LONG_FILE = 25  # requirement lines above which the check sums a file up in one row (a freeze)
URL = re.compile(r"^((git|hg|svn|bzr)\+[a-z]+:|https?://|file:)", re.IGNORECASE)
ARCHIVES = (".tar.gz", ".tar.bz2", ".tgz", ".zip")


@dataclass(frozen=True)
class Line:
    """One requirement (or option) of a requirements file, as pip reads it."""

    file: Path
    number: int
    text: str
    name: str | None = None  # the distribution it installs; None for an option line
    requirement: Requirement | None = None
    url: str | None = None
    problem: str | None = None  # why production's pip cannot install it
    root: Path | None = None  # the repository: `where` names the file relative to it

    @property
    def where(self) -> str:
        """``requirements.txt:3``, ``requirements/base.txt:1`` for an included file."""
        if self.root is None:
            return f"{self.file.name}:{self.number}"
        # Both resolved: includes are (a symlinked folder, /var -> /private/var, would not be).
        relative = os.path.relpath(self.file.resolve(), self.root.resolve())
        return f"{Path(relative).as_posix()}:{self.number}"

    def applies(self, markers: dict[str, str] | None = None) -> bool:
        """True when its marker holds in ``markers`` (an environment; default: here)."""
        if self.requirement is None or self.requirement.marker is None:
            return True
        return self.requirement.marker.evaluate(markers)


@dataclass
class Requirements:
    """A repository's requirements.txt with the files it includes, line by line."""

    file: Path
    lines: list[Line]

    @classmethod
    def read(cls, repo: Path) -> Requirements | None:
        """The requirements.txt of ``repo`` as production's pip reads it; None without one."""
        file = repo / "requirements.txt"
        if not file.is_file():
            return None
        return cls(file, [replace(line, root=repo) for line in _read(file, set())])

    def files(self) -> list[Path]:
        """Every file pip reads for it: requirements.txt, its ``-r`` and ``-c`` files."""
        files = {self.file.resolve(), *(line.file.resolve() for line in self.lines)}
        for line in self.lines:
            option, value = _option(line.text)
            if option in ("-c", "--constraint") and (line.file.parent / value).is_file():
                files.add((line.file.parent / value).resolve())
        return sorted(files)

    def named(self) -> list[Line]:
        """The lines that install a distribution."""
        return [line for line in self.lines if line.name]

    def names(self, markers: dict[str, str] | None = None) -> set[str]:
        """Canonical names of what it installs where ``markers`` hold (default: production)."""
        markers = production().markers if markers is None else markers
        return {canonicalize_name(line.name) for line in self.named() if line.applies(markers)}

    def line_for(self, distributions: Iterable[str]) -> Line | None:
        """The first line that installs one of ``distributions``, or None."""
        wanted = {canonicalize_name(name) for name in distributions}
        return next((li for li in self.named() if canonicalize_name(li.name) in wanted), None)

    @property
    def long(self) -> bool:
        """True for a long file (a pip freeze): the check sums it up in one row."""
        return len(self.named()) > LONG_FILE


def _read(file: Path, seen: set[Path]) -> list[Line]:
    seen.add(file.resolve())
    lines = []
    try:
        logical = _logical_lines(file)
    except (OSError, UnicodeDecodeError) as error:
        why = "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else str(error)
        return [Line(file, 1, "", problem=f"{file.name} cannot be read: {why}; save it as UTF-8")]
    for number, text in logical:
        option, value = _option(text)
        if option in ("-r", "--requirement"):
            included = (file.parent / value).resolve()
            if URL.match(value):
                lines.append(Line(file, number, text, problem=f"`{text}`: not followed (a URL)"))
            elif not included.is_file():
                lines.append(
                    Line(
                        file,
                        number,
                        text,
                        problem=f"`{text}`: no {value} next to {file.name}; production's pip "
                        "stops at this line and the server does not start",
                    )
                )
            elif included not in seen:
                lines += _read(included, seen)
        elif option in ("-e", "--editable"):
            lines.append(_target(file, number, text, value))
        elif option is not None:
            lines.append(Line(file, number, text))  # index options, constraints: install nothing
        else:
            lines.append(_target(file, number, text, text))
    return lines


def _option(text: str) -> tuple[str | None, str]:
    if not text.startswith("-"):
        return None, ""
    match = re.match(r"^(--[a-z-]+)(?:[=\s]+(.*))?$", text)
    if match:
        return match.group(1), (match.group(2) or "").strip()
    return text[:2], text[2:].strip()  # -r file, -rfile


def _target(file: Path, number: int, text: str, target: str) -> Line:
    """A line naming what to install: a requirement, a URL or a path."""
    if URL.match(target) or _is_path(target):
        name = url_distribution(target)
        local = target.lower().startswith("file:") or _is_path(target)
        problem = _local_problem(target) if local else None
        if name is None and problem is None:
            problem = f"`{target}`: the distribution is not named; add #egg=NAME to the URL"
        return Line(file, number, text, name=name, url=target, problem=problem)
    try:
        requirement = Requirement(target)
    except InvalidRequirement as error:
        return Line(file, number, text, problem=f"not a requirement pip understands: {error}")
    url = requirement.url
    problem = _local_problem(target) if url and url.lower().startswith("file:") else None
    return Line(file, number, text, requirement.name, requirement, url, problem)


def _local_problem(target: str) -> str:
    path = target.split("@", 1)[-1].strip() if " @ " in target else target
    if not path.lower().startswith("file:") and not re.match(r"^([/~\\]|[A-Za-z]:)", path):
        # pip takes a relative path from where it runs: production's image runs it in /app.
        return (
            f"`{target}` is a path relative to where pip runs, and production runs pip in its "
            "own folder (/app), not in the repository: it is not found and the server does not "
            "start; install it from a URL (git+https://...) or put its modules next to "
            "handler.py (the repository is on sys.path)"
        )
    return (
        f"`{target}` is a file of this machine: production's pip cannot reach it and the "
        "server does not start (write `name==version`; `pip list --format=freeze` does)"
    )


def _is_path(target: str) -> bool:
    return (
        target in (".", "..")
        or target.startswith(("./", "../", "/", "~", ".\\"))
        or bool(re.match(r"^[A-Za-z]:[\\/]", target))
        or target.endswith((".whl", *ARCHIVES))
    )


def url_distribution(url: str) -> str | None:
    """The distribution a URL installs: its ``#egg=``, else its archive's or project's name."""
    parts = urlsplit(url)
    egg = re.search(r"(?:^|&)egg=([^&\[]+)", parts.fragment)
    if egg:
        return egg.group(1)
    # github.com/<owner>/<project>/archive/<ref>.zip: the archive is named after the ref.
    github = re.match(r"^/[^/]+/([^/]+)/archive/", parts.path)
    if parts.hostname in ("github.com", "www.github.com") and github:
        return github.group(1)
    last = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if last.endswith(".whl"):
        return last.split("-")[0]
    for suffix in ARCHIVES:
        if last.endswith(suffix):
            return re.sub(r"-\d.*$", "", last[: -len(suffix)]) or None
    last = last.split("@")[0].removesuffix(".git")
    return last or None


# Byte-order marks pip recognises (`pip freeze > requirements.txt` in PowerShell writes UTF-16).
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _text(file: Path) -> str:
    """A requirements file's text, decoded as pip decodes it: by its byte-order mark, else
    UTF-8 (production's locale)."""
    data = file.read_bytes()
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return data.decode(encoding)
    return data.decode("utf-8")


def _logical_lines(file: Path) -> list[tuple[int, str]]:
    """``(line number, text)`` of a requirements file, without comments, blanks and hashes."""
    found = []
    pending, start = "", 0
    for number, raw in enumerate(_text(file).splitlines(), 1):
        # pip's rule: `#` starts a comment at the line's start or after whitespace
        # (so `#egg=` in a URL is not one).
        text = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not pending:
            start = number
        if text.endswith("\\"):  # a continued line
            pending += text[:-1] + " "
            continue
        text = (pending + text).strip()
        pending = ""
        if text:
            # Per-requirement options (`--hash=...`) do not change what is installed.
            found.append((start, text if text.startswith("-") else text.split(" --")[0].strip()))
    return found
