"""What an interpreter has installed, and the import names that say which distribution it is.

:class:`Environment` says what an interpreter has: its Python, installed distributions and
the modules they provide (this one, or another one's, asked in a subprocess);
:func:`import_name` and :func:`namespace_names` are the rules by which a module names the
distribution that provides it (``google.cloud.storage`` -> google-cloud-storage).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import default_environment
from packaging.utils import canonicalize_name

from ..errors import HandlerKitError

# Top-level packages that many distributions share (namespace packages): their import names
# keep up to three parts (``google.cloud.storage``), and a distribution is named after the
# dotted name joined with '-' (google-cloud-storage), never after the first part alone.
NAMESPACES = frozenset({"google", "pyannote", "azure", "jaraco", "zope", "backports"})
NAMESPACE_DEPTH = 3
PROBE_TIMEOUT = 120.0


def ask(
    python: str | Path, code: str, *args: str, timeout: float = PROBE_TIMEOUT, env=None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code *args`` with no input, its output as text: one question to another
    interpreter. OSError (no such python) and TimeoutExpired reach the caller, which says what
    that means where it asked."""
    return subprocess.run(
        [str(python), "-c", code, *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
    )


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
        try:
            done = ask(python, _PROBE, *needs, env=env)
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
