"""Hot reload of a LiveHandler: stage the new code, then swap it in or re-initialise.

Nothing is swapped in until every step has succeeded: the new sources are parsed, the edited
sibling modules and handler.py are executed into fresh module objects, the class is checked
and the new instance made. On any failure the modules are put back and the last good handler
keeps serving.
"""

from __future__ import annotations

import gc
import graphlib
import html
import importlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import changes
from .errors import HandlerReloadError
from .loader import Source, StagedModules, build, handler_class, sibling_sources

if TYPE_CHECKING:
    from .live import LiveHandler

MODES = ("auto", "hot", "reinit")


@dataclass(frozen=True)
class ReloadReport:
    """What one reload did, in one line: mode, time, the rule that decided, state kept."""

    files: tuple[str, ...]
    mode: str  # "hot", "reinit" or "unchanged"
    reason: str
    seconds: float
    forced: bool = False
    changed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()

    @property
    def hot(self) -> bool:
        return self.mode == "hot"

    def __str__(self) -> str:
        files = self.files[0]
        if len(self.files) > 1:
            files = f"{', '.join(self.files[:-1])} and {self.files[-1]}"
        if self.mode == "unchanged":
            return f"{files} {self.reason}: nothing to reload"
        done = "reloaded hot" if self.hot else "re-initialised"
        forced = " (forced)" if self.forced else ""
        line = f"{files} {done}{forced} in {_duration(self.seconds)}: {self.reason}"
        if self.hot and self.kept:
            more = f" and {len(self.kept) - 6} more" if len(self.kept) > 6 else ""
            line += f"; kept {', '.join(self.kept[:6])}{more}"
        return line

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = {"hot": "#1a7f37", "reinit": "#9a6700"}.get(self.mode, "#57606a")
        return f'<div style="color:{colour};font-family:monospace">{html.escape(str(self))}</div>'


def reload(live: LiveHandler, mode: str = "auto") -> ReloadReport:
    """Reload ``live`` from its files; see the module docstring for the steps."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    started = time.perf_counter()
    importlib.invalidate_caches()  # a sibling module created a moment ago must be found
    with live._lock:
        live.discover()  # siblings imported lazily since the last look are edited too
        old = live._sources
        texts = live.current_texts()
        try:
            report = _reload(live, mode, old, texts, started)
        except BaseException:
            live._failed = live.fingerprint(texts)
            raise
        live._failed = None
        live.last_report = report
        return report


def _reload(
    live: LiveHandler,
    mode: str,
    old: dict[str, Source],
    texts: dict[str, str | None],
    started: float,
) -> ReloadReport:
    repo, entry = live.path, live.entry
    key = entry.module_key
    handler_text = texts[key]
    if handler_text is None:
        raise HandlerReloadError(f"{entry.file.name} is gone", file=entry.file)
    edited = [n for n, t in texts.items() if t != old[n].text and n != key]
    if mode == "auto" and handler_text == old[key].text and not edited:
        # After a failed reload, the files were put back as they were: say so.
        reason = "back to the last good version" if live._failed else "unchanged"
        return ReloadReport((entry.file.name,), "unchanged", reason, _since(started))

    decision = _decide(live, old, texts)
    chosen = decision.mode if mode == "auto" else mode
    reason = decision.reason
    if chosen == "hot" and not hasattr(live.instance, "__dict__"):
        chosen, reason = "reinit", f"{entry.class_name} has no __dict__ to carry over"

    staged = StagedModules()
    executed: dict[str, Source] = {}
    try:
        for name in _rerun_order(edited, texts, [n for n in old if n != key]):
            text, source = texts[name], old[name]
            if text is None:
                staged.discard(name)
                continue
            staged.execute(
                name,
                source.file,
                text,
                repo,
                HandlerReloadError,
                package=source.file.name == "__init__.py",
                attach=True,
            )
            executed[name] = Source(name, source.file, text)
        module = staged.execute(key, entry.file, handler_text, repo, HandlerReloadError)
        cls = handler_class(module, entry, handler_text, HandlerReloadError)
        if chosen == "hot":
            instance, kept = _carry_over(cls, live.instance), tuple(vars(live.instance))
        else:
            instance, kept = build(cls, repo, entry, HandlerReloadError), ()
    except BaseException:
        staged.rollback()
        raise

    # Commit: one attribute assignment swaps the instance for every caller.
    live._module, live._instance = module, instance
    sources = {key: Source(key, entry.file, handler_text)}
    live._modules_seen = len(sys.modules)  # the scan below sees every module imported so far
    for name, found in sibling_sources(repo).items():
        sources[name] = executed.get(name) or old.get(name) or found
    live._sources = sources
    live.reloads += 1
    if chosen == "reinit":
        del instance
        gc.collect()  # frees the old model now, not at some later collection
    files = (entry.file.name, *(_relative(s.file, repo) for s in executed.values()))
    return ReloadReport(
        files,
        chosen,
        reason,
        _since(started),
        forced=mode != "auto",
        changed=decision.changed,
        kept=kept,
    )


def _decide(
    live: LiveHandler, old: dict[str, Source], texts: dict[str, str | None]
) -> changes.Decision:
    files = {n: _relative(s.file, live.path) for n, s in old.items()}
    if all(texts[n] == s.text for n, s in old.items()):
        return changes.Decision("hot", "no file changed")
    try:
        return changes.decide(
            {n: s.text for n, s in old.items()},
            texts,
            live.entry.module_key,
            live.entry.class_name,
            files,
        )
    except SyntaxError as exc:
        raise HandlerReloadError(
            f"SyntaxError: {exc.msg}",
            file=live.path / (exc.filename or live.file.name),
            line=exc.lineno,
        ) from exc


def _rerun_order(edited: list[str], texts: dict[str, str | None], siblings: list[str]) -> list[str]:
    """The sibling modules to run again, dependencies first.

    An edited module runs again, and so does every sibling that imports it (directly or
    through others), so that names it took with ``from x import y`` are the new ones.
    """
    imports = {n: changes.imported_modules(texts[n] or "", n, set(siblings)) for n in siblings}
    rerun = set(edited)
    while dependents := {n for n in siblings if imports[n] & rerun} - rerun:
        rerun |= dependents
    graph = {n: imports[n] & rerun for n in rerun}
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        return sorted(rerun)


def _carry_over(cls: type, old: Any) -> Any:
    """A new-class instance sharing the old one's state: the model is not loaded again."""
    new = cls.__new__(cls)
    new.__dict__.update(vars(old))
    return new


def _relative(file: Path, repo: Path) -> str:
    try:
        return str(file.relative_to(repo))
    except ValueError:
        return str(file)


def _since(started: float) -> float:
    return time.perf_counter() - started


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"
