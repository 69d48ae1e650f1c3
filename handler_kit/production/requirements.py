"""requirements.txt as pip reads it, and which distribution an import name comes from.

The one owner of both questions, for the deployment check and for the hints of a failed
import: :class:`Requirements` reads a requirements file as production's ``pip install -r``
does (``-r`` includes, ``-e`` and ``git+https://`` URLs, extras, markers, hashes);
:class:`Environment` says what an interpreter has installed (this one, or another one's,
asked in a subprocess); :func:`distribution` names the distribution that provides a module
(``cv2`` -> opencv-python) and :func:`missing_hint` says what to do about a module that is
not installed: a typo, a requirement to install here, or a package to list.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import HandlerKitError
from .image import Package, production

# Import names whose distribution has another name, for packages that may not be installed
# (what is installed is read from importlib.metadata): the usual ones in handlers. The first
# is the one to install; the others provide the same module (a requirement of any will do).
# The one such table: production.json's "imports" adds only names of the image's own
# packages that are not here (functorch -> torch), and the check's worker needs are named here.
KNOWN_DISTRIBUTIONS = {
    "cv2": (
        "opencv-python",
        "opencv-python-headless",
        "opencv-contrib-python",
        "opencv-contrib-python-headless",
    ),
    "PIL": ("pillow", "pillow-simd"),
    "sklearn": ("scikit-learn",),
    "skimage": ("scikit-image",),
    "yaml": ("PyYAML",),
    "dotenv": ("python-dotenv",),
    "bs4": ("beautifulsoup4",),
    "dateutil": ("python-dateutil",),
    "docx": ("python-docx",),
    "pptx": ("python-pptx",),
    "fitz": ("PyMuPDF",),
    "magic": ("python-magic",),
    "jwt": ("PyJWT",),
    "Crypto": ("pycryptodome",),
    "attr": ("attrs",),
    "serial": ("pyserial",),
    "zmq": ("pyzmq",),
    "git": ("GitPython",),
    "faiss": ("faiss-cpu", "faiss-gpu"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "psycopg2": ("psycopg2-binary", "psycopg2"),
    "llama_cpp": ("llama-cpp-python",),
    "whisper": ("openai-whisper",),
    "speech_recognition": ("SpeechRecognition",),
    "umap": ("umap-learn",),
    "google.protobuf": ("protobuf",),
    "Levenshtein": ("levenshtein",),
}
# Top-level packages that many distributions share (namespace packages): their import names
# keep up to three parts (``google.cloud.storage``), and a distribution is named after the
# dotted name joined with '-' (google-cloud-storage), never after the first part alone.
NAMESPACES = frozenset({"google", "pyannote", "azure", "jaraco", "zope", "backports"})
NAMESPACE_DEPTH = 3
LONG_FILE = 25  # requirement lines above which the check sums a file up in one row (a freeze)
URL = re.compile(r"^((git|hg|svn|bzr)\+[a-z]+:|https?://|file:)", re.IGNORECASE)
ARCHIVES = (".tar.gz", ".tar.bz2", ".tgz", ".zip")
PROBE_TIMEOUT = 120.0


def import_name(module: str) -> str:
    """The name that says which distribution provides ``module``: its top-level package,
    up to three parts for a namespace shared by many (``google.cloud.storage``)."""
    parts = module.split(".")
    if parts[0] in NAMESPACES and len(parts) > 1:
        return ".".join(parts[:NAMESPACE_DEPTH])
    return parts[0]


def namespace_names(module: str) -> list[str]:
    """The distribution names a namespace package's module may come from, longest first:
    ``google.cloud.storage`` -> google-cloud-storage, google-cloud; [] for other modules."""
    parts = module.split(".")
    if parts[0] not in NAMESPACES:
        return []
    return ["-".join(parts[:size]).lower() for size in range(len(parts), 1, -1)]


# --- what an interpreter has installed --------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    """What an interpreter has: its Python, installed distributions and their modules."""

    executable: str
    python: str  # "3.11.7"
    versions: dict[str, str]  # canonical distribution name -> version
    modules: dict[str, list[str]]  # top-level import name -> distributions providing it
    stdlib: frozenset[str]
    markers: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, str] | None = None  # (module, error) a module in `needs` failed with

    @classmethod
    def here(cls) -> Environment:
        """This interpreter's environment."""
        return cls.from_record(_probe_record([]))

    @classmethod
    def of(
        cls, python: str | Path, needs: Iterable[str] = (), env: dict | None = None
    ) -> Environment:
        """The environment of the interpreter ``python``, asked in a subprocess.

        Each module in ``needs`` is imported there; the first that fails is ``missing``.
        """
        command = [str(python), "-c", _PROBE, *needs]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=PROBE_TIMEOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise HandlerKitError(
                f"cannot run the Python interpreter {python}: {error}",
                hint="Pass the path of a python executable, e.g. /path/to/venv/bin/python.",
            ) from None
        lines = done.stdout.strip().splitlines()
        try:
            record = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise HandlerKitError(
                f"{python} did not answer as a Python 3 interpreter "
                f"(exit status {done.returncode}){': ' + tail if tail else ''}",
                hint="Pass the path of a Python 3.10+ executable, e.g. /path/to/venv/bin/python.",
            ) from None
        return cls.from_record(record)

    @classmethod
    def from_record(cls, record: dict) -> Environment:
        missing = record.get("missing")
        return cls(
            executable=record["executable"],
            python=record["python"],
            versions={canonicalize_name(k): v for k, v in record["versions"].items()},
            modules=record["modules"],
            stdlib=frozenset(record["stdlib"]),
            markers=record["markers"],
            missing=tuple(missing) if missing else None,
        )

    def version(self, distribution: str) -> str | None:
        """The installed version of ``distribution`` (any spelling), or None."""
        return self.versions.get(canonicalize_name(distribution))

    def provides(self, module: str) -> list[str]:
        """The installed distributions that provide ``module``: those of its top-level
        package; for a namespace package's module, those named after it (google.cloud.storage:
        google-cloud-storage), since the top-level one (google) is shared by many."""
        found = self.modules.get(module.split(".")[0], [])
        names = namespace_names(module)
        if not names:
            return found
        by_name = {canonicalize_name(name): name for name in found}
        return [by_name[name] for name in names if name in by_name]


# Run by `python -c` in the interpreter asked (stdlib only: it may lack everything else);
# argv: modules to import. Prints one JSON line.
_PROBE = r"""
import json, os, platform, sys
from importlib.metadata import distributions, packages_distributions

def record(needs):
    versions = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name and name not in versions:
            versions[name] = dist.version
    impl = sys.implementation.version
    markers = {
        "implementation_name": sys.implementation.name,
        "implementation_version": f"{impl.major}.{impl.minor}.{impl.micro}",
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }
    missing = None
    for module in needs:
        try:
            __import__(module)
        except (ImportError, SyntaxError) as error:
            name = getattr(error, "name", None) or module
            missing = [name, f"{type(error).__name__}: {error}"]
            break
    return {
        "executable": sys.executable,
        "python": platform.python_version(),
        "versions": versions,
        "modules": {k: sorted(set(v)) for k, v in packages_distributions().items()},
        "stdlib": sorted(getattr(sys, "stdlib_module_names", ())),
        "markers": markers,
        "missing": missing,
    }

if __name__ == "__main__":
    print(json.dumps(record(sys.argv[1:])))
"""


def _probe_record(needs: list[str]) -> dict:
    scope: dict = {"__name__": "handler_kit_probe"}
    exec(_PROBE, scope)  # the same code as in another interpreter, run here
    record = scope["record"](list(needs))
    record["markers"] = dict(default_environment())
    return record


# --- requirements.txt ---------------------------------------------------------------------------


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


# --- which distribution provides a module ------------------------------------------------------


def distribution(module: str, environment: Environment | None = None) -> str:
    """The distribution that provides ``module``: installed, in production's image, in the
    table of usual names (``cv2`` -> opencv-python), else the module's own name."""
    name = import_name(module)
    installed = (environment or Environment.here()).provides(name)
    if installed:
        return installed[0]
    image = image_provider(name)
    if image is not None:
        return image.name
    known = _known(name)
    if known:
        return known[0]
    return (namespace_names(name) or [name])[0]


def image_provider(module: str) -> Package | None:
    """The package of production's image that ``import module`` finds (``PIL`` -> pillow),
    or None."""
    image = production()
    found = image.provider(module)
    if found is not None:
        return found
    return next(filter(None, map(image.package, _known(import_name(module)))), None)


def usual_distribution(module: str) -> str:
    """The distribution to install for ``module`` by the usual names alone (``PIL`` ->
    pillow), without asking what is installed."""
    name = import_name(module)
    return (_known(name) or namespace_names(name) or [name])[0]


def _known(name: str) -> tuple[str, ...]:
    """The usual distributions of ``name`` or of its longest dotted prefix in the table."""
    parts = name.split(".")
    for size in range(len(parts), 0, -1):
        found = KNOWN_DISTRIBUTIONS.get(".".join(parts[:size]))
        if found:
            return found
    return ()


def candidates(module: str, environment: Environment) -> list[str]:
    """Every distribution name that may provide ``module`` (for matching requirement lines)."""
    name = import_name(module)
    found = [*environment.provides(name), distribution(module, environment), name]
    return found + namespace_names(name) + list(_known(name))


def typo_of(module: str, environment: Environment, own: Iterable[str] = ()) -> str | None:
    """The installed (or own) module that ``module`` is a typo of, or None; a standard
    module only when two adjacent letters are swapped (``jsno``)."""
    top = module.split(".")[0]
    if top in KNOWN_DISTRIBUTIONS or environment.provides(top) or image_provider(top):
        return None  # a real package, just not installed here
    # Short names are close to many real packages (timm/time, ujson/json5, redis/dis): a typo
    # is one slip away from an installed or own module (a letter swapped, missing, extra or
    # wrong), and only two adjacent letters swapped (jsno) from a standard one.
    known = sorted((set(environment.modules) | set(own)) - {top})
    found = [name for name in known if _one_slip(top, name)]
    found += [name for name in sorted(environment.stdlib) if _swapped(top, name)]
    return found[0] if found else None


def _swapped(typed: str, name: str) -> bool:
    """True when ``typed`` is ``name`` with two adjacent letters swapped."""
    if len(typed) != len(name) or typed == name:
        return False
    differ = [i for i, (a, b) in enumerate(zip(typed, name, strict=True)) if a != b]
    return (
        len(differ) == 2
        and differ[1] == differ[0] + 1
        and typed[differ[0]] == name[differ[1]]
        and typed[differ[1]] == name[differ[0]]
    )


def _one_slip(typed: str, name: str) -> bool:
    """True when ``typed`` (4 letters or more) is ``name`` with one letter swapped with the
    next, missing, extra or wrong."""
    if len(typed) < 4 or typed == name or abs(len(typed) - len(name)) > 1:
        return False
    if len(typed) == len(name):
        differ = sum(a != b for a, b in zip(typed, name, strict=True))
        return differ == 1 or _swapped(typed, name)
    short, long = sorted((typed, name), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def pip_command(python: str | None = None) -> str:
    """How to run the pip of ``python`` (default: this interpreter): ``pip`` when that is the
    ``pip`` found first on PATH, else ``/path/to/python -m pip`` (a kernel's venv that is not
    activated, the interpreter given to the check)."""
    python = python or sys.executable
    found = shutil.which("pip")
    try:
        if found and os.path.samefile(Path(found).parent, Path(python).parent):
            return "pip"
    except OSError:  # a folder that is gone
        pass
    return f"{python} -m pip"


def missing_hint(
    module: str,
    environment: Environment | None = None,
    requirements: Requirements | None = None,
    own: Iterable[str] = (),
) -> str:
    """What to do when ``import module`` fails because it is not installed here."""
    environment = environment or Environment.here()
    top = module.split(".")[0]
    pip = pip_command(environment.executable)
    if requirements is not None:
        line = requirements.line_for(candidates(module, environment))
        if line is not None:
            return (
                f"{line.where} lists {line.name}, which is not installed here: install it here "
                f"({pip} install -r {requirements.file})."
            )
    typo = typo_of(module, environment, own)
    if typo is not None:
        return f"Did you mean {typo}? ({top} is not installed here, {typo} is.)"
    image = image_provider(import_name(module))
    if image is not None:
        pin = f"=={image.version}" if image.version else ""
        return (
            f"Production's image has {image.name}{pin}; install it here to test with it "
            f"({pip} install '{image.name}{pin}')."
        )
    name = distribution(module, environment)
    return (
        f"Install it here ({pip} install {name}) and list {name} in requirements.txt, "
        "which production installs before start-up."
    )
