"""Load a handler repository exactly as the production inference toolkit does.

Production imports ``<repo>/handler.py`` from its file under the module key
``handler.EndpointHandler``, puts the repository first on ``sys.path`` and builds
``EndpointHandler(repo_dir)`` with the path passed positionally; a legacy ``pipeline.py``
with ``PreTrainedPipeline`` is used when there is no handler.py.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import Abandoned, HandlerKitError, describe, user_location, user_trace
from .repository import Entry, Repository


def prepare(repository: Repository) -> None:
    """Make the process look as production's does before it imports the entry."""
    put_first_on_sys_path(repository.path)
    forget_other_repositories(repository)


def put_first_on_sys_path(repo: Path) -> None:
    """Put the repository first on sys.path, as production does, without duplicates."""
    entry = str(repo)
    if sys.path[:1] != [entry]:
        while entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)


def forget_other_repositories(repository: Repository) -> None:
    """Forget modules of another handler repository that this one's files would shadow.

    Production starts one repository per process. In a kernel that loaded repository A
    before, ``import utils`` from B's handler.py would find A's ``utils`` in sys.modules;
    forgetting it lets B import its own, as a fresh process would. Only modules that sit
    next to another repository's handler.py or pipeline.py are forgotten.
    """
    importlib.invalidate_caches()  # files created a moment ago must be found
    for name in repository.shadowed():
        del sys.modules[name]


def handler_class(
    module: ModuleType,
    entry: Entry,
    text: str,
    error: type[HandlerKitError],
    check_init: bool = True,
) -> type:
    """The handler class of an executed entry module, checked against production's contract.

    ``check_init``: also check that ``__init__`` takes the path (not needed for a hot swap,
    which does not call it).
    """
    cls = module.__dict__.get(entry.class_name)
    if not isinstance(cls, type):
        found = [
            name
            for name, value in module.__dict__.items()
            if isinstance(value, type) and value.__module__ == module.__name__
        ]
        listed = ", ".join(found) if found else "none"
        what = "is not a class" if cls is not None else "is missing"
        raise error(
            f"class {entry.class_name} {what} in {entry.file.name} "
            f"(classes defined there: {listed})",
            file=entry.file,
            hint=f"Production looks for exactly `class {entry.class_name}` in {entry.file.name}.",
        )
    if not any("__call__" in vars(klass) for klass in cls.__mro__[:-1]):
        raise error(
            f"{entry.class_name} has no __call__ method",
            file=entry.file,
            line=_class_line(text, entry.class_name),
            hint="Production calls handler(data) for every request: add "
            "`def __call__(self, data): ...` returning a list or dict.",
        )
    if not check_init:
        return cls
    try:
        inspect.signature(cls).bind("path")
    except TypeError as exc:
        init = cls.__dict__.get("__init__")
        line = getattr(getattr(init, "__code__", None), "co_firstlineno", None)
        raise error(
            f"{entry.class_name}.__init__ cannot take the repository path as its one "
            f"positional argument ({exc})",
            file=entry.file,
            line=line or _class_line(text, entry.class_name),
            hint=f"Production calls {entry.class_name}(path): declare "
            '`def __init__(self, path="")`.',
        ) from None
    except ValueError:
        pass  # no signature to inspect (a C type): let the call itself decide
    return cls


def build(cls: type, repo: Path, entry: Entry, error: type[HandlerKitError]) -> Any:
    """Build the handler as production does: ``cls(repo_dir)``, path passed positionally."""
    try:
        with quiet_progress_bars():
            return cls(str(repo))
    except Abandoned:
        raise
    except BaseException as exc:  # SystemExit and KeyboardInterrupt in __init__ too
        where, line = user_location(exc, repo)
        raise error(
            f"{describe(exc)} (in {entry.class_name}.__init__)",
            file=where or entry.file,
            line=line,
            trace=user_trace(exc.__traceback__, repo),
        ) from exc


@contextlib.contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """transformers' own progress bars off for a while (put back after).

    transformers 5 draws a "Loading weights" bar at every ``from_pretrained``: a line of noise
    in every cell, command and reload that builds a handler, however small its model. Only
    when transformers is already imported (the handler's module imported it): importing it
    here would cost a handler that does not use it a second and more.
    """
    logging = sys.modules.get("transformers.utils.logging")
    if logging is None or not logging.is_progress_bar_enabled():
        yield
        return
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.enable_progress_bar()


def _class_line(text: str, name: str) -> int | None:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node.lineno
    return None
