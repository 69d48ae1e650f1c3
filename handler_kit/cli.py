"""The `handler-kit` command line: a thin shell over the Python API."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from functools import partial
from pathlib import Path
from typing import Any

from . import __version__, serving, supervisor
from .cases.replay import DEFAULT_TIMEOUT as REPLAY_TIMEOUT
from .cases.replay import replay
from .checks.against_production import check_repository
from .checks.check import DEFAULT_TIMEOUT
from .deploy.settings import pairs
from .endpoint import answers, contract
from .endpoint.vertex import vertex_port
from .errors import HandlerKitError
from .reload.live import load
from .reload.memory import Memory
from .reload.worker import DEFAULT_TIMEOUT as RELOAD_TIMEOUT
from .report import count
from .templates import samples


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except HandlerKitError as error:
        print(f"handler-kit: {error}", file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    """The command line's parser: one subcommand each, its function in ``func``."""
    parser = argparse.ArgumentParser(prog="handler-kit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"handler-kit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    repo_help = "the model repository (the folder that holds handler.py)"

    call = commands.add_parser(
        "call", help="load a repository's handler and answer one request, decoded as production"
    )
    call.add_argument("repo", help=repo_help)
    call.add_argument(
        "payload",
        help='the request body: JSON, e.g. \'{"inputs": "hello"}\', or @FILE for a file\'s bytes '
        "(an image, audio, a JSON file), as curl --data-binary @FILE sends it",
    )
    call.add_argument(
        "--content-type",
        metavar="TYPE",
        help="the body's Content-Type, matched exactly as production matches it (default: "
        "application/json for JSON; for @FILE, what its bytes are, else what its name says)",
    )
    call.add_argument(
        "-q",
        "--query",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a query-string parameter; production puts them in `parameters` when the body "
        "has none (e.g. -q top_k=2 with an image)",
    )
    call.set_defaults(func=_call)

    new = commands.add_parser("new", help="start a repository from a template (--list shows them)")
    new.add_argument("template", nargs="?", help="the template's name (see --list)")
    new.add_argument("dest", nargs="?", help="the new repository's folder (must not exist)")
    new.add_argument("--list", action="store_true", help="list the templates, one line each")
    new.add_argument(
        "--no-model", action="store_true", help="write the files and cases but build no model"
    )
    new.set_defaults(func=_new)

    sample = commands.add_parser(
        "sample", help="write the guide's repository (model, handler.py, requirements, cases)"
    )
    sample.add_argument("name", choices=["emotion"], help="emotion: the guide's classifier")
    sample.add_argument("dest", help="the folder to write the repository to")
    sample.add_argument(
        "--model-only", action="store_true", help="only the model: no handler.py, no cases"
    )
    sample.set_defaults(func=_sample)

    serve = commands.add_parser("serve", help="serve a repository's handler over HTTP")
    serve.add_argument("repo", help=repo_help)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port (0: any free one)")
    serve.add_argument("--token", help="require `Authorization: Bearer TOKEN`")
    serve.add_argument("--reload", action="store_true", help="hot-reload handler.py on save")
    serve.add_argument(
        "--reload-timeout",
        type=float,
        metavar="S",
        help=f"seconds a reload may run before it is abandoned (default {RELOAD_TIMEOUT:g})",
    )
    serve.add_argument(
        "--reinit-memory",
        choices=[memory.value for memory in Memory],
        default=Memory.AUTO.value,
        help="a re-init builds the new model before freeing the old one (swap) or after "
        "(free-first); auto: free first when there is no room for two",
    )
    serve.add_argument(
        "--concurrency", type=int, default=1, help="calls at once (production: 1, the default)"
    )
    serve.add_argument(
        "--verbose", action="store_true", help="print every request (handler errors always)"
    )
    # Given by serve --reload's supervisor to the server it runs (supervisor.py).
    serve.add_argument("--supervised", type=int, metavar="FD", help=argparse.SUPPRESS)
    serve.add_argument("--last-good", metavar="FILE", help=argparse.SUPPRESS)
    serve.add_argument("--crashed", metavar="FINGERPRINT", help=argparse.SUPPRESS)
    serve.set_defaults(func=_serve)

    ready = commands.add_parser(
        "check", help="check that a repository is ready to deploy (handler run in a fresh process)"
    )
    ready.add_argument("repo", help=repo_help)
    ready.add_argument(
        "--cases", metavar="DIR", help="folder of payload cases (default: REPO/cases)"
    )
    ready.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds the handler may take to build and answer (default {DEFAULT_TIMEOUT:.0f})",
    )
    ready.add_argument(
        "--python",
        metavar="PATH",
        help="the Python interpreter to build and call the handler in, e.g. a venv's bin/python "
        "with production's versions (default: this one)",
    )
    ready.add_argument(
        "--against-production",
        action="store_true",
        help="then run the repository under production's real server and the kit's endpoint "
        "and compare each case's answer (needs the production toolkit: --toolkit)",
    )
    ready.add_argument(
        "--toolkit",
        metavar="PATH",
        help="the production toolkit: a clone of huggingface/huggingface-inference-toolkit, or "
        "a venv where it is installed (default: $HANDLER_KIT_TOOLKIT)",
    )
    ready.add_argument(
        "--env",
        action="append",
        metavar="NAME=VALUE",
        help="a variable of the handler's environment, as an endpoint's --env or --secret "
        "(repeatable)",
    )
    ready.set_defaults(func=_check)

    again = commands.add_parser(
        "replay", help="send a repository's cases to an endpoint URL and compare the answers"
    )
    again.add_argument("url", help="the endpoint, e.g. http://127.0.0.1:8080 or a deployed one")
    again.add_argument("--cases", metavar="DIR", help="folder of payload cases (default: ./cases)")
    again.add_argument("--token", help="sent as `Authorization: Bearer TOKEN`")
    again.add_argument(
        "--timeout",
        type=float,
        default=REPLAY_TIMEOUT,
        metavar="S",
        help=f"seconds each request may take (default {REPLAY_TIMEOUT:.0f})",
    )
    again.set_defaults(func=_replay)

    _deploy_parsers(commands, repo_help)

    test = commands.add_parser("test", help="execute notebooks as tests (papermill)")
    test.add_argument(
        "notebooks", nargs="+", metavar="NOTEBOOK", help="notebooks to execute, or folders of them"
    )
    test.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a parameter for the notebooks' parameters cell (given to those that declare it); "
        "VALUE is JSON if it parses",
    )
    test.add_argument(
        "--output", metavar="DIR", default="build/notebooks", help="folder for executed copies"
    )
    test.add_argument(
        "--timeout", metavar="S", type=int, default=600, help="seconds each cell may take"
    )
    test.add_argument(
        "--kernel",
        metavar="NAME",
        help="Jupyter kernel to run in (default: handler-kit if registered, else python3)",
    )
    test.add_argument(
        "--cwd", metavar="DIR", help="working directory of the kernel (default: each notebook's)"
    )
    test.set_defaults(func=_test)
    return parser


def _deploy_parsers(commands: Any, repo_help: str) -> None:
    """``deploy`` and ``endpoint``: the subcommands of issue 19 (handler_kit.deploy)."""
    from .deploy.arguments import add_options

    ship = commands.add_parser(
        "deploy",
        help="check, rehearse under production, push to the Hub, create or update the "
        "endpoint, wait for it and replay the cases there",
    )
    ship.add_argument("repo", help=repo_help)
    ship.add_argument("repo_id", help="the Hub repository to push to: NAMESPACE/NAME (or NAME)")
    add_options(ship.add_argument)
    ship.add_argument("--json", action="store_true", help="print the report as JSON (for CI)")
    ship.set_defaults(func=_deploy)

    endpoint = commands.add_parser(
        "endpoint", help="an Inference Endpoint's status, or pause, resume or delete it"
    )
    endpoint.add_argument("action", choices=["status", "pause", "resume", "delete"])
    endpoint.add_argument("name", help="the endpoint's name")
    endpoint.add_argument("--namespace", metavar="NS", help="its namespace (default: yours)")
    endpoint.add_argument("--token", help="a Hugging Face token (default: HF_TOKEN, or hf's)")
    endpoint.add_argument("--json", action="store_true", help="print the status as JSON")
    endpoint.set_defaults(func=_endpoint)


def _deploy(args: argparse.Namespace) -> int:
    from .deploy.arguments import deploy_options
    from .deploy.flow import deploy

    report = deploy(args.repo, args.repo_id, **deploy_options(args), echo=_progress)
    print(json.dumps(report.to_json(), indent=2) if args.json else report, flush=True)
    return 0 if report.ok else 1


def _endpoint(args: argparse.Namespace) -> int:
    from .deploy.endpoints import ACTIONS

    status = ACTIONS[args.action](args.name, args.namespace, args.token)
    print(json.dumps(status.to_json(), indent=2) if args.json else status, flush=True)
    return 0


def _call(args: argparse.Namespace) -> int:
    body, content_type = _request_body(args.payload, args.content_type)
    query = dict(_query_pair(pair) for pair in args.query)
    # Decoded and checked as the endpoint does; the handler is loaded only for a good request.
    data = contract.request_data(content_type, body, query, contract.hf_task())
    answer = load(args.repo)(data, check=False)
    print(json.dumps(json.loads(answers.encode_answer(answer)), indent=2))
    return 0


def _request_body(payload: str, content_type: str | None) -> tuple[bytes, str]:
    """The body and Content-Type of `call`'s PAYLOAD: JSON text, or ``@FILE`` (its bytes)."""
    if payload.startswith("@"):
        file = Path(payload[1:]).expanduser()
        if not file.is_file():
            raise HandlerKitError(f"no such file: {file}", hint="@FILE names the file to send.")
        body = file.read_bytes()
        return body, content_type or contract.file_content_type(file.name, body)
    if content_type is None or contract.kind_of(content_type) is contract.Kind.JSON:
        try:
            json.loads(payload)
        except json.JSONDecodeError as error:
            raise HandlerKitError(
                f"the payload is not JSON: {error}",
                hint='Quote it for the shell, e.g. \'{"inputs": "I am happy"}\'; send a file '
                "as @FILE.",
            ) from None
    return payload.encode(), content_type or contract.JSON


def _query_pair(pair: str) -> tuple[str, str]:
    name, equals, value = pair.partition("=")
    if not equals or not name:
        raise HandlerKitError(f"-q {pair}: not NAME=VALUE", hint="e.g. -q top_k=2")
    return name, value


def _sample(args: argparse.Namespace) -> int:
    dest = shlex.quote(args.dest)
    if args.model_only:
        repo = samples.emotion_repo(args.dest)
        print(f"wrote the guide's emotion model to {repo} (no handler.py: write yours there)")
        print(f"next: handler-kit call {dest} '{json.dumps(samples.GUIDE_DAY)}'")
        return 0
    repo = samples.guide_repo(args.dest)
    print(f"wrote the guide's repository to {repo}:")
    print("  handler.py        the guide's handler: the model, or happy on a US holiday")
    print("  requirements.txt  holidays")
    print("  cases/            the guide's two payloads, a normal day and a holiday")
    print("  config.json, model.safetensors, tokenizer files: the emotion model")
    print("next:")
    print(f"  handler-kit call {dest} '{json.dumps(samples.GUIDE_DAY)}'")
    print(f"  handler-kit check {dest}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    """Serve; with --reload, under a supervisor that starts the server again if an edit ends
    its process (a segfault at import): see supervisor.py."""
    if args.reload and args.supervised is None and supervisor.supervising():
        child = ["serve", args.repo, "--reload", "--host", args.host]
        child += ["--reinit-memory", args.reinit_memory, "--concurrency", str(args.concurrency)]
        child += ["--token", args.token] if args.token else []
        timeout = args.reload_timeout
        child += ["--reload-timeout", str(timeout)] if timeout is not None else []
        child += ["--verbose"] if args.verbose else []
        repo = Path(args.repo).resolve()
        repo = repo.parent if repo.is_file() else repo  # a path to handler.py itself
        port = vertex_port(args.port)
        echo = partial(print, flush=True)
        return supervisor.supervise(supervisor.child_command(child), repo, args.host, port, echo)
    options = {
        "reload": args.reload,
        "concurrency": args.concurrency,
        "reload_timeout": args.reload_timeout,
        "reinit_memory": args.reinit_memory,
        "verbose": args.verbose,
    }
    if args.supervised is not None:
        options["supervised"] = supervisor.Supervised(args.supervised, args.last_good, args.crashed)
    serving.run(args.repo, args.host, args.port, args.token, **options)
    return 0


def _check(args: argparse.Namespace) -> int:
    report = check_repository(
        args.repo,
        args.cases,
        args.timeout,
        args.python,
        against=args.against_production,
        toolkit=args.toolkit,
        echo=_progress,
        env=pairs(args.env, "--env"),
    )
    print(report, flush=True)
    return 0 if report.ok else 1


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # stdout keeps the tables alone


def _replay(args: argparse.Namespace) -> int:
    report = replay(args.url, args.cases, args.token, args.timeout)
    print(report)
    return 0 if report.ok else 1


def _test(args: argparse.Namespace) -> int:
    from .notebook.runner import NotebookRun, run_notebooks

    parameters = _parameters(args.parameter)
    runs = run_notebooks(
        args.notebooks, args.output, parameters, args.kernel, args.timeout, args.cwd
    )
    n = failed = 0
    for run in runs:
        n += 1
        if isinstance(run, NotebookRun):
            print(repr(run), flush=True)
        failure = run.failure if isinstance(run, NotebookRun) else run
        if failure is not None:
            failed += 1
            print(f"handler-kit: {failure}", file=sys.stderr, flush=True)
    print(f"{count(n, 'notebook')}: {n - failed} passed, {failed} failed")
    return 1 if failed else 0


def _new(args: argparse.Namespace) -> int:
    from . import templates

    if args.list:
        print(templates.listing())
        return 0
    if not args.template or not args.dest:
        raise HandlerKitError(
            "give a TEMPLATE and a DEST folder, or --list to see the templates",
            hint="e.g. handler-kit new image-to-text my-reader",
        )
    repo = templates.new(args.template, args.dest, model=not args.no_model)
    written = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())
    cases = sum(1 for name in written if name.startswith("cases/") and name.endswith(".json"))
    top = ", ".join(n for n in written if "/" not in n)
    print(f"wrote {repo}: {top}; {count(cases, 'case')} in cases/")
    if args.no_model:
        print("no model: put the model's files next to handler.py before you run it")
    print(f"next: handler-kit check {shlex.quote(str(repo))}")
    return 0


def _parameters(pairs: list[list[str]]) -> dict[str, Any]:
    """``-p NAME VALUE`` pairs as papermill parameters: JSON values when they parse."""
    parameters: dict[str, Any] = {}
    for name, value in pairs:
        try:
            parameters[name] = json.loads(value)
        except json.JSONDecodeError:
            parameters[name] = value  # a bare word such as `joy` is meant as a string
    return parameters


if __name__ == "__main__":
    sys.exit(main())
