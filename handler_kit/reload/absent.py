"""What answers a call while a live handler has no built instance.

A free-first re-init lets go of the old model before it builds the new one: meanwhile calls
wait (:class:`Waiting`). If the new build fails and so does building the last good one again,
:class:`NoHandler` says so at every call until the files are fixed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import HandlerKitError, describe


class Waiting:
    """The handler while a free-first re-init builds the new one: calls wait for it.

    ``ready`` is set once the new instance is in place, ``current`` gives it; ``last_good`` is
    the class of the freed instance, built again if the new one fails.
    """

    __slots__ = ("current", "last_good", "ready", "timeout")

    def __init__(
        self,
        ready: threading.Event,
        current: Callable[[], Any],
        timeout: float,
        last_good: type,
    ) -> None:
        self.ready, self.current, self.timeout, self.last_good = ready, current, timeout, last_good

    def __call__(self, data: Any) -> Any:
        __tracebackhide__ = True  # a traceback shows the handler's frames, not this one
        if not self.ready.wait(self.timeout):
            raise HandlerKitError(
                "the handler is being built again and is not ready yet",
                hint="Send the request again in a moment.",
            )
        return self.current()(data)


class NoHandler:
    """What is left when a free-first re-init and the rebuild of the last good one failed.

    It keeps the rebuild's error as words only: the error itself would hold the failed build.
    """

    __slots__ = ("why",)

    def __init__(self, error: BaseException) -> None:
        self.why = error.headline if isinstance(error, HandlerKitError) else describe(error)

    def __call__(self, data: Any) -> Any:
        raise HandlerKitError(
            f"there is no handler: the re-init failed and so did building the last good one "
            f"again ({self.why})",
            hint="Fix handler.py and reload (%handler_reload), or load it again.",
        )
