"""The form's sender: calls the handler in a background thread and shows the answer in place.

The answer is shown by replacing the ``outputs`` of an ``Output`` widget in one assignment,
never with ``Output.clear_output()``: that one sends a Jupyter ``clear_output`` message, which a
live frontend routes to the widget only for the cell request in flight, so from the sender's
background thread it clears nothing and the answers stack up (ipywidgets #3260).
"""

from __future__ import annotations

import copy
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ipywidgets as w

from ... import style
from ...errors import HandlerKitError, handler_frames
from ...report import Status
from ..autoreload import Reloaded, taken
from ..tables import result_table
from .history import Exchange, Reload


class Sender:
    """Sends one request at a time; ``say`` writes the status line, ``finished`` gets each
    request once it is answered or failed (from the sender's thread)."""

    def __init__(self, say: Callable[[str], None], finished: Callable[[Exchange], None]) -> None:
        self._say, self._finished = say, finished
        self._thread: threading.Thread | None = None
        self.output = w.Output()  # the current answer or error, and nothing else
        # What the autoreload did just before the current answer: its line, or why it failed.
        self.reloaded = w.HTML().add_class("handler-kit-reload")

    @property
    def running(self) -> bool:
        """True while a call is in flight."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the call in flight, if any (at most ``timeout`` seconds)."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def shown(self) -> str:
        """The text of what is shown now: the answer's table, the error, or ""."""
        return "".join(o.get("data", {}).get("text/plain", "") for o in self.output.outputs)

    def send(self, handler: Any, entry: Exchange) -> None:
        """Call ``handler`` with the entry's payload in a background thread."""
        self._thread = threading.Thread(target=self._run, args=(handler, entry), daemon=True)
        self._thread.start()

    def show_error(self, message: str, trace: str = "") -> None:
        """Show an error (its message, then the trace) in place of what was shown."""
        self._show(_Error(message, trace))

    def _run(self, handler: Any, entry: Exchange) -> None:
        started = time.perf_counter()
        done = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(started, done), daemon=True)
        ticker.start()
        try:
            try:
                # A copy: handlers such as the guide's pop keys from the payload they get.
                answer, failure = handler(copy.deepcopy(entry.payload)), None
            except Exception as error:
                answer, failure = None, error
            entry.ms = (time.perf_counter() - started) * 1000
            done.set()
            ticker.join()  # so that "running…" cannot overwrite the outcome
            self._show_reloads(handler, entry)
            if failure is not None:
                entry.error = f"{type(failure).__name__}: {failure}"
                self.show_error(
                    entry.error, handler_frames(failure, getattr(handler, "path", None))
                )
                self._say(f"{style.bold('failed', Status.FAIL.colour)} in {entry.ms:.0f} ms")
            else:
                entry.answer = answer
                self._say(f"{style.bold('ok', Status.PASS.colour)} in {entry.ms:.1f} ms")
                self._show(result_table(answer, entry.payload))
        except Exception as error:
            # This thread's exceptions only reach stderr: show a rendering failure in the form.
            message = f"cannot show the answer: {type(error).__name__}: {error}"
            self.show_error(message, "".join(traceback.format_tb(error.__traceback__)))
        finally:
            done.set()
            self._finished(entry)

    def _show_reloads(self, handler: Any, entry: Exchange) -> None:
        """Show what the autoreload did before this request (nothing when it did nothing), and
        note it in the entry for the history."""
        outcomes = taken(handler)
        entry.reloads = getattr(handler, "reloads", None)
        if any(isinstance(o, HandlerKitError) for o in outcomes):
            entry.reload = Reload.FAILED
        elif outcomes:
            entry.reload = Reload.RELOADED
        self.reloaded.value = "".join(map(_reloaded_html, outcomes))

    def _tick(self, started: float, done: threading.Event) -> None:
        while not done.wait(0.25):
            self._say(f"running… {time.perf_counter() - started:.1f} s")

    def _show(self, shown: Any) -> None:
        """Show one thing (a result table, an error) in place of what was shown."""
        bundle = {"text/plain": repr(shown), "text/html": shown._repr_html_()}
        self.output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)


def _reloaded_html(outcome: Reloaded) -> str:
    """One reload before a call as the form shows it: the report's lines, or the error."""
    if isinstance(outcome, HandlerKitError):
        what = "the reload failed: the last good handler answered"
        return style.error_box(what, str(outcome), cls="handler-kit-reload-failed")
    return "".join(style.line(text, outcome.mode.colour) for text in str(outcome).splitlines())


@dataclass(frozen=True)
class _Error:
    """An error as the form shows it: the message, then the trace (the user's frames)."""

    message: str
    trace: str = ""

    def __repr__(self) -> str:
        return f"{self.message}\n{self.trace}".rstrip()

    def _repr_html_(self) -> str:
        return style.error_box(self.message, self.trace)
