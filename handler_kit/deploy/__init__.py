"""Deploy a repository to Inference Endpoints: rehearsed under production first, then pushed.

``handler_kit.deploy(repo, repo_id, ...)`` runs the steps (``flow.deploy``) and returns a
``DeployReport``: the account, the gate (``check``), the manifest (exactly the files to
upload: ``manifest``, ``ignore``, ``opened``), the rehearsal of those files under
production's real server (``rehearsal``), the push (``hub``), the endpoint and the wait
(``endpoints``, ``settings``), the verification (``verify``). Only ``hub`` and ``endpoints``
talk to the network, through huggingface_hub's public API.

This package is callable: ``handler_kit.deploy`` is both the wing and its entry point, and
Python's import system sets the package as the attribute ``handler_kit.deploy`` whenever
one of its modules is imported, so the package itself must answer a call.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any


class _Callable(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .flow import deploy

        return deploy(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:  # what help() and completion show
        from .flow import deploy

        return inspect.signature(deploy)


sys.modules[__name__].__class__ = _Callable
