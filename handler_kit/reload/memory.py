"""How much memory a handler's model takes, and how much is free: for choosing a re-init.

A re-init normally builds the new handler before it lets go of the old one (nothing is lost
if ``__init__`` fails), so for a moment two models are in memory. When there is no room for a
second model, the old one is freed first. The model's size is what building the handler added
to this process (resident memory, and memory allocated on each CUDA device torch sees).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import FrameType, ModuleType
from typing import Any, TypeVar

from ..choice import Choice
from ..errors import let_go

T = TypeVar("T")


class Memory(Choice):
    """How a re-init treats the old model: decide by free memory, keep it, or free it first."""

    AUTO = "auto"
    SWAP = "swap"  # build the new handler, then free the old one: two models for a moment
    FREE_FIRST = "free-first"  # free the old one, then build: one model at a time


@dataclass(frozen=True)
class Footprint:
    """Memory in bytes: resident (RAM) and allocated on each CUDA device."""

    ram: int = 0
    cuda: tuple[int, ...] = ()

    def __sub__(self, other: Footprint) -> Footprint:
        cuda = tuple(a - b for a, b in zip(self.cuda, other.cuda, strict=False))
        return Footprint(max(0, self.ram - other.ram), tuple(max(0, c) for c in cuda))


# What a module global held before __init__ set it, when that is not put back: anything but a
# plain value (None, a number, a string), which holding on to would keep alive.
_UNKNOWN = object()
_MISSING = object()  # the global did not exist before __init__ set it
_PLAIN = (type(None), bool, int, float, complex, str, bytes)


@dataclass(frozen=True)
class Built:
    """What one build of the handler (``__init__``) made besides the instance.

    ``written``: the module globals it set (``global model; model = load(path)``), by module
    name, each with the plain value it had before; ``made``: weak references to the objects it
    made and kept (the instance's attributes, those globals' values). Freeing the handler
    first puts the globals back, and the weak references tell whether what it made is gone.
    """

    written: tuple[tuple[str, str, Any], ...] = ()
    made: tuple[weakref.ref, ...] = ()

    @classmethod
    def watch(cls, modules: Mapping[str, ModuleType], build: Callable[[], T]) -> tuple[T, Built]:
        """Run ``build`` (``__init__``); what it made, in ``modules`` (the handler's) and on
        the instance it returns."""
        before = {(n, k): v for n, m in modules.items() for k, v in vars(m).items()}
        instance = build()
        old = {id(v) for v in before.values()}  # a logger, a constant: not made by __init__
        written, made = [], []
        for name, module in modules.items():
            for key, value in list(vars(module).items()):
                was = before.get((name, key), _MISSING)
                if value is not was:
                    plain = was is _MISSING or isinstance(was, _PLAIN)
                    written.append((name, key, was if plain else _UNKNOWN))
                    made += _weak(value)
        for value in list(getattr(instance, "__dict__", {}).values()):
            if id(value) not in old:
                made += _weak(value)
        del before, old
        return instance, cls(tuple(written), tuple(made))

    def free(self, modules: Mapping[str, ModuleType]) -> list[str]:
        """Put back the globals ``__init__`` set in ``modules`` (the freed handler's); say
        what still holds an object it made (a module-level cache): that stays in memory."""
        for name, key, was in self.written:
            module = modules.get(name)
            if module is None or was is _UNKNOWN:
                continue
            if was is _MISSING:
                module.__dict__.pop(key, None)
            else:
                module.__dict__[key] = was
        alive = [ref for ref in self.made if ref() is not None]
        if alive:
            gc.collect()  # what a reference cycle keeps goes now
        notes = []
        for ref in alive:
            value = ref()
            where = _held_in(value, modules) if value is not None else None
            if where:
                notes.append(
                    f"the old {type(value).__name__} is still in memory: {where} holds it "
                    "(the old code put it there, free-first cannot take it out): both models "
                    "are in memory while the new one builds"
                )
        return notes


def _weak(value: Any) -> list[weakref.ref]:
    try:
        return [weakref.ref(value)]
    except TypeError:  # no weak references to it (a dict, a list, a number): not a model
        return []


def _held_in(value: Any, modules: Mapping[str, ModuleType]) -> str | None:
    """ "`name` in file.py": the module global that holds ``value``, itself or one level in."""
    for name, module in modules.items():
        file = os.path.basename(getattr(module, "__file__", None) or name)
        for key, held in list(vars(module).items()):
            inside = list(held.values()) if isinstance(held, dict) else held
            if held is value or (
                isinstance(inside, (list, tuple, set, frozenset))
                and any(item is value for item in list(inside)[:1000])
            ):
                return f"`{key}` in {file}"
    return None


def used() -> Footprint:
    """This process's resident memory, and what torch allocated on each CUDA device."""
    return Footprint(_rss(), tuple(_cuda_allocated()))


def free() -> Footprint:
    """Memory available now: RAM (MemAvailable), and free memory on each CUDA device."""
    return Footprint(_available(), tuple(_cuda_free()))


def room_for_two(model: Footprint) -> bool:
    """True when a second model of this size fits beside the first, on every device it uses.

    Twice the size must be free: the new model, and as much again for what building it takes
    (weights are often read into memory before they are moved into place).
    """
    now = free()
    if model.ram and now.ram and now.ram < 2 * model.ram:
        return False
    return all(
        not need or have >= 2 * need for need, have in zip(model.cuda, now.cuda, strict=False)
    )


def _rss() -> int:
    try:
        with open(f"/proc/{os.getpid()}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss() or 0  # not Linux: the peak is the best there is


def peak_rss() -> int | None:
    """This process's peak resident memory in bytes; None where the OS does not say."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux counts kilobytes


def _available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0  # unknown: never the reason to free first


def _cuda_allocated() -> list[int]:
    torch = sys.modules.get("torch")  # only if the handler uses torch: never imported here
    if torch is None or not torch.cuda.is_available():
        return []
    return [torch.cuda.memory_allocated(d) for d in range(torch.cuda.device_count())]


def _cuda_free() -> list[int]:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    return [torch.cuda.mem_get_info(d)[0] for d in range(torch.cuda.device_count())]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a reload runs (turned back on whatever happens).

    A reload makes thousands of syntax-tree objects; with a model loaded, each automatic
    collection they set off walks hundreds of thousands of objects, taking longer than the
    reload itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def release(instance: Any) -> tuple[bool, list[str]]:
    """Let go of a replaced instance: whether it is gone, and what to say about it.

    Reference counting frees it at once, as a rule; a full garbage collection (hundreds of
    milliseconds with a model loaded) runs only when a reference cycle keeps it alive, and
    what still holds it afterwards is named.
    """
    cls = type(instance).__name__
    try:
        ref = weakref.ref(instance)
    except TypeError:  # no weak references to it (__slots__): collect to be sure
        del instance
        gc.collect()
        return True, []
    del instance
    if ref() is None:
        return True, []
    holders = _holders(ref())
    gc.collect()
    if ref() is None:
        return True, [
            f"the old {cls} was held in a reference cycle (by a {holders}): a garbage "
            "collection freed it"
        ]
    return False, [
        f"the old {cls} is still alive (a {_holders(ref())} refers to it): its model stays in "
        "memory until that reference goes"
    ]


def _holders(instance: Any) -> str:
    """The types of what refers to ``instance``, say ``method`` or ``dict``."""
    kinds = sorted(
        {type(r).__name__ for r in gc.get_referrers(instance) if not isinstance(r, FrameType)}
    )
    return ", ".join(kinds) or "frame"


def release_failed(error: BaseException) -> None:
    """After a failed or abandoned build: let go of what its error holds, and collect once.

    The half-built handler and its model stay reachable from the error's traceback (the
    frames of ``__init__``), and often sit in a reference cycle (the error, its traceback, a
    frame that holds the error): without this, a failed build keeps its model in memory, and
    the next build has room for one model less.
    """
    let_go(error)
    gc.collect()
