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
from ...errors import handler_frames
from ...report import Status
from ..tables import result_table
from .history import Entry


class Sender:
    """Sends one request at a time; ``say`` writes the status line, ``finished`` gets each
    request once it is answered or failed (from the sender's thread)."""

    def __init__(self, say: Callable[[str], None], finished: Callable[[Entry], None]) -> None:
        self._say, self._finished = say, finished
        self._thread: threading.Thread | None = None
        self.output = w.Output()  # the current answer or error, and nothing else

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

    def send(self, handler: Any, entry: Entry) -> None:
        """Call ``handler`` with the entry's payload in a background thread."""
        self._thread = threading.Thread(target=self._run, args=(handler, entry), daemon=True)
        self._thread.start()

    def show_error(self, message: str, trace: str = "") -> None:
        """Show an error (its message, then the trace) in place of what was shown."""
        self._show(_Error(message, trace))

    def _run(self, handler: Any, entry: Entry) -> None:
        started = time.perf_counter()
        done = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(started, done), daemon=True)
        ticker.start()
        try:
            try:
                # A copy: handlers such as the guide's pop keys from the payload they get.
                answer = handler(copy.deepcopy(entry.payload))
            except Exception as error:
                entry.ms = (time.perf_counter() - started) * 1000
                entry.error = f"{type(error).__name__}: {error}"
                done.set()
                ticker.join()  # so that "running…" cannot overwrite the outcome
                self.show_error(entry.error, handler_frames(error, getattr(handler, "path", None)))
                self._say(f"{style.bold('failed', Status.FAIL.colour)} in {entry.ms:.0f} ms")
            else:
                entry.ms = (time.perf_counter() - started) * 1000
                entry.answer = answer
                done.set()
                ticker.join()
                self._say(f"{style.bold('ok', Status.PASS.colour)} in {entry.ms:.1f} ms")
                self._show(result_table(answer, entry.payload))
        except Exception as error:
            # This thread's exceptions only reach stderr: show a rendering failure in the form.
            message = f"cannot show the answer: {type(error).__name__}: {error}"
            self.show_error(message, "".join(traceback.format_tb(error.__traceback__)))
        finally:
            done.set()
            self._finished(entry)

    def _tick(self, started: float, done: threading.Event) -> None:
        while not done.wait(0.25):
            self._say(f"running… {time.perf_counter() - started:.1f} s")

    def _show(self, shown: Any) -> None:
        """Show one thing (a result table, an error) in place of what was shown."""
        bundle = {"text/plain": repr(shown), "text/html": shown._repr_html_()}
        self.output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)


@dataclass(frozen=True)
class _Error:
    """An error as the form shows it: the message, then the trace (the user's frames)."""

    message: str
    trace: str = ""

    def __repr__(self) -> str:
        return f"{self.message}\n{self.trace}".rstrip()

    def _repr_html_(self) -> str:
        return style.error_box(self.message, self.trace)
