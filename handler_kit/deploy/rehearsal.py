"""The rehearsal: exactly the files a deploy uploads, run under production's real server first.

The manifest's files are copied into an empty folder, and ``against_production`` runs that
copy as ``check --against-production`` runs a repository: requirements.txt installed over
production's pins, production's server and the kit's endpoint side by side, every case sent
to both. A handler that works in the repository because of a file that is not uploaded fails
here, before anything leaves the machine. The cases come from the repository (or the folder
given) even when .gitignore keeps them out of the upload.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from ..cases.case import FOLDER, cases_folder
from ..production.comparison import ProductionComparison
from ..production.run import against_production
from ..production.servers import START_TIMEOUT
from ..production.toolkit import Toolkit
from .manifest import Manifest


def rehearse(
    manifest: Manifest,
    cases: str | Path | None = None,
    toolkit: str | Path | Toolkit | None = None,
    timeout: float = START_TIMEOUT,
    echo: Callable[[str], object] | None = None,
    env: Mapping[str, str] | None = None,
) -> ProductionComparison:
    """Run a copy of exactly ``manifest``'s files under production's server and the kit's.

    ``cases`` is the folder of cases (default: the repository's ``cases/``, uploaded or not);
    ``toolkit``, ``timeout`` and ``env`` (the endpoint's variables) are
    ``against_production``'s. Raises HandlerKitError when a
    server does not start (its log's tail says why: a missing file's traceback).
    """
    with tempfile.TemporaryDirectory(prefix="handler-kit-rehearsal-") as scratch:
        copy = Path(scratch) / manifest.repo.name
        copy_manifest(manifest, copy)
        if echo is not None:
            echo(f"rehearsal: {len(manifest.files)} files copied to {copy}")
        return against_production(
            copy, rehearsal_cases(manifest, cases), toolkit, timeout=timeout, echo=echo, env=env
        )


def rehearsal_cases(manifest: Manifest, cases: str | Path | None) -> Path | None:
    """The cases folder to give the copy: the one given, else the repository's when it is not
    uploaded (git-ignored), else None (the copy's own ``cases/``, or the default case)."""
    if cases is not None:
        return Path(cases).expanduser().resolve()
    own = cases_folder(manifest.repo)
    return own if own.is_dir() and not manifest.has(FOLDER) else None


def copy_manifest(manifest: Manifest, dest: Path) -> None:
    """Copy exactly the manifest's files into ``dest`` (a new folder), keeping their paths."""
    for file in manifest.files:
        target = dest / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(manifest.repo / file.path, target)
