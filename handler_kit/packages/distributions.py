"""Which distribution provides a module, and what to do about one that is not installed.

The one owner of both questions, for the deployment check and for the hints of a failed
import: :func:`distribution` names the distribution that provides a module (``cv2`` ->
opencv-python), from what is installed, production's image and the usual names;
:func:`missing_hint` says what to do about a module that is not installed: a typo, a
requirement to install here, or a package to list.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

from packaging.utils import canonicalize_name

from .environment import Environment, import_name, namespace_names
from .image import Package, production
from .requirements import Requirements

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


def distribution_typo(name: str, environment: Environment) -> str | None:
    """The known distribution that the requirement ``name`` is a typo of, or None: one slip
    (see :func:`typo_of`) from a distribution installed here, in production's image or in the
    table of usual names, while ``name`` itself is none of those.

    pip installs whatever a requirement names: a name one slip from a known package may be
    a look-alike published to catch that typo, so it is never a package to install.
    """
    typed = canonicalize_name(name)
    known = {canonicalize_name(n): n for names in KNOWN_DISTRIBUTIONS.values() for n in names}
    known |= {key: package.name for key, package in production().packages.items()}
    known |= {key: key for key in environment.versions}
    if typed in known:
        return None  # a real package, just not installed here
    found = sorted(known[key] for key in known if _one_slip(typed, key))
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
    # A typo first: a requirements.txt that lists the same typo is no reason to install it.
    typo = typo_of(module, environment, own)
    if typo is not None:
        return f"Did you mean {typo}? ({top} is not installed here, {typo} is.)"
    if requirements is not None:
        line = requirements.line_for(candidates(module, environment))
        if line is not None:
            return (
                f"{line.where} lists {line.name}, which is not installed here: install it here "
                f"({pip} install -r {requirements.file})."
            )
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
