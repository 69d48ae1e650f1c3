"""IPython magics: thin shells over the Python API (``%load_ext handler_kit``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import HTML, display

from .. import style
from ..checks.against_production import ProductionCheck, check_repository
from ..checks.check import DEFAULT_TIMEOUT, CheckReport
from ..deploy.arguments import OPTIONS, deploy_options
from ..deploy.flow import deploy
from ..deploy.report import DeployReport
from ..deploy.settings import pairs
from ..endpoint.running import Endpoint
from ..endpoint.server import serve
from ..errors import HandlerKitError
from ..reload.live import LiveHandler, load
from ..reload.memory import Memory
from ..reload.worker import DEFAULT_TIMEOUT as RELOAD_TIMEOUT
from ..report import Status
from .autoreload import AutoReload, Reloaded


def _deploy_options(magic: Any) -> Any:
    """Give a magic ``handler-kit deploy``'s options (defined once, in deploy.arguments)."""
    for flags, settings in reversed(OPTIONS):
        magic = argument(*flags, **settings)(magic)
    return magic


@magics_class
class HandlerMagics(Magics):
    """``%handler_load``, ``%handler_reload``, ``%handler_autoreload``, ``%handler_serve``,
    ``%handler_form``, ``%handler_check``, ``%handler_deploy``, ``%%handler_file``."""

    def __init__(self, shell: InteractiveShell) -> None:
        super().__init__(shell)
        # Our errors already name the user's file, line and frames: show just the message,
        # not our own frames. Only where no other extension has claimed the hook.
        if shell is not None and not shell.custom_exceptions:
            shell.set_custom_exc((HandlerKitError,), _show_message)
        # One hook for every handler of this notebook, while autoreload is on.
        self._reloader = AutoReload(_say_reloaded)

    @line_magic
    @magic_arguments()
    @argument("path", nargs="?", default=".", help="the model repository (default: .)")
    @argument("--name", default="handler", help="variable to bind the handler to")
    def handler_load(self, line: str) -> None:
        """Load the handler of a repository and bind it to a variable (default ``handler``)."""
        args = parse_argstring(self.handler_load, line)
        live = load(_unquote(args.path))
        self.shell.user_ns[args.name] = live
        display(live)

    @line_magic
    @magic_arguments()
    @argument("--hot", action="store_true", help="keep the instance state whatever changed")
    @argument("--reinit", action="store_true", help="build a new instance whatever changed")
    @argument(
        "--timeout",
        type=float,
        help=f"seconds the reload may run (default {RELOAD_TIMEOUT:g})",
    )
    @argument(
        "--memory",
        choices=[memory.value for memory in Memory],
        default=Memory.AUTO.value,
        help="a re-init frees the old model after (swap) or before (free-first) the build",
    )
    @argument("--name", default="handler", help="variable the handler is bound to")
    def handler_reload(self, line: str) -> None:
        """Reload handler.py (and edited sibling modules) and show what happened in one line."""
        args = parse_argstring(self.handler_reload, line)
        if args.hot and args.reinit:
            raise HandlerKitError("choose one of --hot and --reinit, not both")
        mode = "hot" if args.hot else "reinit" if args.reinit else "auto"
        live = self._bound(args.name)
        display(live.reload(mode, timeout=args.timeout, memory=args.memory))

    @line_magic
    @magic_arguments()
    @argument("state", choices=["on", "off"], help="reload saved files before each call and cell")
    def handler_autoreload(self, line: str) -> None:
        """Reload every loaded handler whose files were saved, before each of its calls (a
        cell's, the form's, the endpoint's) and before each cell; silent when none changed."""
        args = parse_argstring(self.handler_autoreload, line)
        events = self.shell.events
        for event in ("pre_run_cell", "post_run_cell"):
            registered = self._autoreload in events.callbacks[event]
            if args.state == "on" and not registered:
                events.register(event, self._autoreload)
            elif args.state == "off" and registered:
                events.unregister(event, self._autoreload)
        if args.state == "on":
            self._autoreload()
        else:
            self._reloader.detach()
        print(f"handler autoreload is {args.state}")

    @line_magic
    @magic_arguments()
    @argument("--port", type=int, default=0, help="port (default: any free one)")
    @argument("--host", default="127.0.0.1", help="address to listen on")
    @argument("--token", help="require `Authorization: Bearer TOKEN`")
    @argument("--concurrency", type=int, default=1, help="calls at once (production: 1)")
    @argument("--stop", action="store_true", help="stop the endpoint of this handler")
    @argument("--name", default="handler", help="variable the handler is bound to")
    def handler_serve(self, line: str) -> None:
        """Serve the bound handler over HTTP with the production contract, in the background.

        The endpoint is bound to ``<name>_endpoint`` (``handler_endpoint``): its ``url``,
        ``stats``, ``log`` and ``stop()``.
        """
        args = parse_argstring(self.handler_serve, line)
        variable = f"{args.name}_endpoint"
        running = self.shell.user_ns.get(variable)
        if isinstance(running, Endpoint):
            running.stop()
        if args.stop:
            display(running if running is not None else f"no endpoint was serving `{args.name}`")
            return
        endpoint = serve(self._bound(args.name), args.host, args.port, args.token, args.concurrency)
        self.shell.user_ns[variable] = endpoint
        display(endpoint)

    @line_magic
    @magic_arguments()
    @argument("--sample", help="a sample payload as JSON, to build the fields from")
    @argument("--name", default="handler", help="variable the handler is bound to")
    def handler_form(self, line: str) -> None:
        """Show a payload form for the bound handler: compose, send, read the answer.

        The form is bound to ``<name>_form`` (``handler_form``): its ``history`` and
        ``export_cases()``.
        """
        from .form import payload_form

        args = parse_argstring(self.handler_form, line)
        sample = json.loads(_unquote(args.sample)) if args.sample else None
        form = payload_form(self._bound(args.name), sample)
        self.shell.user_ns[f"{args.name}_form"] = form
        display(form)

    @line_magic
    @magic_arguments()
    @argument("path", nargs="?", help="the model repository (default: the loaded handler's, or .)")
    @argument("--cases", help="folder of payload cases (default: PATH/cases)")
    @argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for the worker")
    @argument("--name", default="handler", help="variable of the handler whose repository to check")
    @argument(
        "--against-production",
        action="store_true",
        help="then compare each case's answer under production's real server and the kit's",
    )
    @argument("--toolkit", help="the production toolkit: its source folder, or a venv with it")
    @argument("--python", help="interpreter for the worker (a venv with production's versions)")
    @argument(
        "--env",
        action="append",
        metavar="NAME=VALUE",
        help="a variable of the handler's environment, as an endpoint's (repeatable)",
    )
    def handler_check(self, line: str) -> CheckReport | ProductionCheck:
        """Check that a repository is ready to deploy, in a fresh process; returns the report.

        Without a path, the repository of the handler bound to ``--name`` (else ``.``).
        ``report = %handler_check`` keeps it; on its own the cell shows it. With
        ``--against-production`` the comparison with production's real server runs after the
        check, and the result holds both (``.check``, ``.comparison``).
        """
        args = parse_argstring(self.handler_check, line)
        cases = _unquote(args.cases) if args.cases else None
        live = self.shell.user_ns.get(args.name)
        if args.path is not None:
            path: str | Path = _unquote(args.path)
        else:
            path = live.path if isinstance(live, LiveHandler) else "."
        python = _unquote(args.python) if args.python else None
        toolkit = _unquote(args.toolkit) if args.toolkit else None
        env = pairs(args.env, "--env")
        return check_repository(
            path, cases, args.timeout, python, args.against_production, toolkit, print, env
        )

    @line_magic
    @magic_arguments()
    @argument("path", nargs="?", help="the model repository (default: the loaded handler's, or .)")
    @argument("repo_id", help="the Hub repository to push to: NAMESPACE/NAME (or NAME)")
    @argument(
        "--name", default="handler", help="variable of the handler whose repository to deploy"
    )
    @_deploy_options
    def handler_deploy(self, line: str) -> DeployReport:
        """Deploy a repository to an Inference Endpoint (``handler-kit deploy``); its report.

        Without a path, the repository of the handler bound to ``--name`` (else ``.``). A
        status line in the cell tells each step and each change of the endpoint's state while
        it runs; ``report = %handler_deploy ...`` keeps the report, on its own the cell shows it.
        """
        args = parse_argstring(self.handler_deploy, line)
        for option in ("cases", "toolkit", "token"):
            if getattr(args, option):
                setattr(args, option, _unquote(getattr(args, option)))
        live = self.shell.user_ns.get(args.name)
        if args.path is not None:
            path: str | Path = _unquote(args.path)
        else:
            path = live.path if isinstance(live, LiveHandler) else "."
        status = display(HTML(style.line("deploy: starting", style.MUTED)), display_id=True)

        def say(text: str) -> None:
            status.update(HTML(style.line(text, style.MUTED)))

        report = deploy(path, _unquote(args.repo_id), **deploy_options(args), echo=say)
        verdict = Status.PASS if report.ok else Status.FAIL
        status.update(HTML(style.line(f"deploy: {report.verdict}", verdict.colour)))
        return report

    @cell_magic
    @magic_arguments()
    @argument("path", nargs="?", help="file to write (default: the loaded handler's handler.py)")
    @argument("--name", default="handler", help="variable of the handler to reload")
    def handler_file(self, line: str, cell: str) -> None:
        """Write the cell to a file, then reload the bound handler when the file is one of its.

        Without a path, the file is the handler.py of the handler bound to ``--name``.
        """
        args = parse_argstring(self.handler_file, line)
        live = self.shell.user_ns.get(args.name)
        if args.path is not None:
            path = Path(_unquote(args.path)).expanduser()
        elif isinstance(live, LiveHandler):
            path = live.file
        else:
            raise HandlerKitError(
                f"%%handler_file without a path writes the handler.py of `{args.name}`, "
                f"and `{args.name}` is {_what(live)}, not a loaded handler",
                hint=(
                    "Give the file to write: %%handler_file path/to/handler.py; "
                    f"or load the handler first: %handler_load PATH --name {args.name}"
                ),
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        path.write_text(cell if cell.endswith("\n") else cell + "\n", encoding="utf-8")
        if isinstance(live, LiveHandler) and path.resolve().is_relative_to(live.path):
            display(live.reload())
            return
        print(f"{'Overwrote' if existed else 'Wrote'} {path}")
        if isinstance(live, LiveHandler):
            print(f"(not in the repository of `{args.name}`, {live.path}: nothing reloaded)")

    def _bound(self, name: str) -> LiveHandler:
        live = self.shell.user_ns.get(name)
        if not isinstance(live, LiveHandler):
            raise HandlerKitError(
                f"`{name}` is {_what(live)}, not a loaded handler",
                hint=f"Load one first: %handler_load PATH --name {name}",
            )
        return live

    def _autoreload(self, *_: object) -> None:
        """Before and after each cell (while on): every handler bound in the notebook gets the
        hook, those whose files changed reload now, and what calls from other threads (the
        form, the endpoint) reloaded unsaid is said."""
        handlers = {id(v): v for v in self.shell.user_ns.values() if isinstance(v, LiveHandler)}
        for live in handlers.values():
            self._reloader.attach(live)
            self._reloader(live)
        self._reloader.say_kept()


def _show_message(
    shell: InteractiveShell, etype: type, value: BaseException, tb: Any, tb_offset: Any = None
) -> list[str]:
    """Show a handler_kit error as the cell's error: its type and message, no frames."""
    lines = shell.InteractiveTB.get_exception_only(etype, value)
    shell._showtraceback(etype, value, lines)
    return lines


def _say_reloaded(outcome: Reloaded) -> None:
    """Show what a reload before a call did, in the running cell: its line, or why it failed."""
    if isinstance(outcome, HandlerKitError):
        # An event callback cannot fail the cell, nor may a call the handler answered.
        print(f"handler autoreload failed: {outcome}", file=sys.stderr)
    else:
        display(outcome)


def _what(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def _unquote(text: str) -> str:
    return text.strip().strip("'\"")
