"""The options of ``handler-kit deploy`` and ``%handler_deploy``, defined once for both.

Each option is the arguments of argparse's ``add_argument``; ``add_options`` adds them to a
parser (the CLI's subcommand, or the magic's through ``magic_arguments.argument``), and
``deploy_options`` turns the parsed namespace into ``deploy``'s keyword arguments.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..checks.check import DEFAULT_TIMEOUT
from .endpoints import WAIT_TIMEOUT
from .errors import DeployError
from .settings import DEFAULTS, Access, pairs

Option = tuple[tuple[str, ...], dict[str, Any]]

OPTIONS: list[Option] = [
    (("--endpoint",), {"metavar": "NAME", "help": "the endpoint's name (default: from REPO_ID)"}),
    (("--namespace",), {"metavar": "NS", "help": "the endpoint's namespace (default: yours)"}),
    (("--token",), {"help": "a Hugging Face token with write access (default: HF_TOKEN, "
                            "or `hf auth login`'s)"}),
    (("--private",), {"action": "store_true", "help": "a new repository is private"}),
    (("--cases",), {"metavar": "DIR", "help": "folder of payload cases (default: PATH/cases)"}),
    (("--force",), {"action": "store_true", "help": "go on when the check fails (and say so)"}),
    (("--dry-run",), {"action": "store_true",
                      "help": "the check, the manifest and the rehearsal only: no token, "
                              "nothing pushed"}),
    (("--no-rehearsal",), {"dest": "rehearsal", "action": "store_false",
                           "help": "do not run the files under production's server first"}),
    (("--update",), {"action": "store_true",
                     "help": "give an existing endpoint with other settings these ones"}),
    *(
        (
            (f"--{key.replace('_', '-')}",),
            {"metavar": "X", "help": f"a new endpoint's {key.replace('_', ' ')} (default {value})"},
        )
        for key, value in DEFAULTS.items()
    ),
    (("--type",), {"choices": [a.value for a in Access],
                   "help": "who may call it: token holders (authenticated, the default) or "
                           "anyone (public)"}),
    (("--task",), {"help": "HF_TASK for the handler (rarely needed with a handler.py)"}),
    (("--env",), {"action": "append", "metavar": "NAME=VALUE",
                  "help": "an environment variable of the endpoint (repeat for more)"}),
    (("--secret",), {"action": "append", "metavar": "NAME=VALUE",
                     "help": "a secret of the endpoint, as a variable (repeat for more)"}),
    (("--toolkit",), {"metavar": "PATH",
                      "help": "the production toolkit for the rehearsal (default: "
                              "$HANDLER_KIT_TOOLKIT)"}),
    (("--timeout",), {"type": float, "default": DEFAULT_TIMEOUT, "metavar": "S",
                      "help": "seconds the check and each server may take to start "
                              f"(default {DEFAULT_TIMEOUT:.0f})"}),
    (("--wait-timeout",), {"type": float, "default": WAIT_TIMEOUT, "metavar": "S",
                           "help": "seconds to wait for the endpoint to run "
                                   f"(default {WAIT_TIMEOUT:.0f})"}),
    (("--pause-after",), {"action": "store_true",
                          "help": "pause the endpoint once verified (nothing billed)"}),
    (("--scale-to-zero-after",), {"action": "store_true",
                                  "help": "scale it to zero once verified (a request wakes it)"}),
]  # fmt: skip


def add_options(add: Callable[..., Any]) -> None:
    """Add every option with ``add`` (a parser's ``add_argument``)."""
    for flags, settings in OPTIONS:
        add(*flags, **settings)


def deploy_options(args: argparse.Namespace) -> dict[str, Any]:
    """``deploy``'s keyword arguments from the parsed options."""
    if args.pause_after and args.scale_to_zero_after:
        raise DeployError(
            "--pause-after and --scale-to-zero-after: choose one",
            hint="Pause stops billing until a resume; scale to zero wakes on a request.",
        )
    after = "pause" if args.pause_after else "scale-to-zero" if args.scale_to_zero_after else None
    return {
        "endpoint": args.endpoint,
        "namespace": args.namespace,
        **{key: getattr(args, key) for key in DEFAULTS},
        "type": args.type,
        "task": args.task,
        "env": pairs(args.env, "--env"),
        "secrets": pairs(args.secret, "--secret"),
        "token": args.token,
        "private": True if args.private else None,
        "cases": args.cases,
        "force": args.force,
        "dry_run": args.dry_run,
        "rehearsal": args.rehearsal,
        "update": args.update,
        "toolkit": args.toolkit,
        "timeout": args.timeout,
        "wait_timeout": args.wait_timeout,
        "after": after,
    }
