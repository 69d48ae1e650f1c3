"""Autoreload: a handler whose files were saved reloads before it answers, whoever calls it.

``%handler_autoreload on`` makes an AutoReload every loaded handler's ``autoreload`` hook
(``LiveHandler.autoreload``): a call from a cell, the form's Send or the endpoint first reloads
what changed, then answers with the saved code. When nothing changed the hook costs one text
compare per tracked file (``LiveHandler.changed``). A burst of calls reloads once per change
(the reload runs under the handler's lock, and the calls that waited find nothing changed); a
failed reload leaves the last good handler answering, is said once, and is tried again only
when the files change again.

What a reload did is said where it can be read: at once in the cell that made the call (the
kernel's main thread); from another thread (the form, the endpoint) it is kept for whoever
shows it: the form takes what its own call did (``taken``), and the next cell says the rest.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from ..errors import HandlerKitError, describe
from ..reload.live import LiveHandler
from ..reload.report import ReloadReport

# What one reload before a call came to: its report, or the error that kept the last good
# handler answering.
Reloaded = ReloadReport | HandlerKitError


class AutoReload:
    """The hook that reloads a LiveHandler's saved files before each of its calls.

    ``say`` shows an outcome in the cell that is running (called from the main thread only).
    """

    def __init__(self, say: Callable[[Reloaded], None]) -> None:
        self._say = say
        self._lock = threading.Lock()
        self._kept: weakref.WeakKeyDictionary[LiveHandler, list[Reloaded]] = (
            weakref.WeakKeyDictionary()
        )
        self._handlers: weakref.WeakSet[LiveHandler] = weakref.WeakSet()

    def attach(self, live: LiveHandler) -> None:
        """Reload ``live`` before each of its calls from now on."""
        live.autoreload = self
        self._handlers.add(live)

    def detach(self) -> None:
        """Stop reloading before calls, for every handler this hook was attached to."""
        for live in list(self._handlers):
            if live.autoreload is self:
                live.autoreload = None
        self._handlers.clear()

    def __call__(self, live: LiveHandler) -> None:
        """Reload ``live`` if its files changed since its last reload, good or failed."""
        if not live.changed():
            return
        outcome = reload_changed(live)
        if outcome is None:
            return  # another call reloaded it while this one waited
        if threading.current_thread() is threading.main_thread():
            self._say(outcome)  # a cell's call: its output is the place
        else:
            with self._lock:
                self._kept.setdefault(live, []).append(outcome)

    def take(self, live: LiveHandler) -> list[Reloaded]:
        """What reloads before calls from other threads did to ``live`` and nobody said yet."""
        with self._lock:
            return self._kept.pop(live, [])

    def say_kept(self) -> None:
        """Say in the running cell what every handler's reloads did that nobody said yet."""
        with self._lock:
            kept = [outcome for outcomes in self._kept.values() for outcome in outcomes]
            self._kept.clear()
        for outcome in kept:
            self._say(outcome)


def reload_changed(live: LiveHandler) -> Reloaded | None:
    """Reload ``live`` when its files changed: the report, the error, or None (unchanged).

    A reload interrupted with Ctrl-C is one that failed: the call goes on with the last good
    handler, as the cell's other calls would.
    """
    try:
        return live.reload_if_changed()
    except HandlerKitError as error:
        return error
    except Exception as error:  # a bug of ours must not cost the request its answer
        return HandlerKitError(
            f"the reload failed with an error in handler_kit itself ({describe(error)})",
            hint="Please report it; the last good handler keeps answering.",
        )


def taken(handler: Any) -> list[Reloaded]:
    """What reloads before ``handler``'s calls did and nobody said yet ([] without a hook)."""
    hook = getattr(handler, "autoreload", None)
    return hook.take(handler) if isinstance(hook, AutoReload) else []
