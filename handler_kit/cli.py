"""The `handler-kit` command line: a thin shell over the Python API."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__, samples, server
from .errors import HandlerKitError
from .loader import load


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="handler-kit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"handler-kit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    call = commands.add_parser("call", help="load a repository's handler and answer one payload")
    call.add_argument("repo", help="the model repository (the folder that holds handler.py)")
    call.add_argument("payload", help='the request body as JSON, e.g. \'{"inputs": "hello"}\'')
    sample = commands.add_parser("sample", help="build a sample model repository offline")
    sample.add_argument("name", choices=["emotion"], help="emotion: the guide's classifier")
    sample.add_argument("dest", help="the folder to write the repository to")
    serve = commands.add_parser("serve", help="serve a repository's handler over HTTP")
    serve.add_argument("repo", help="the model repository (the folder that holds handler.py)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port (0: any free one)")
    serve.add_argument("--token", help="require `Authorization: Bearer TOKEN`")
    serve.add_argument("--reload", action="store_true", help="hot-reload handler.py on save")
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            server.run(args.repo, args.host, args.port, args.token, args.reload)
            return 0
        if args.command == "sample":
            print(samples.emotion_repo(args.dest))
            return 0
        return _call(args.repo, args.payload)
    except HandlerKitError as error:
        print(f"handler-kit: {error}", file=sys.stderr)
        return 1


def _call(repo: str, payload: str) -> int:
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as error:
        raise HandlerKitError(
            f"the payload is not JSON: {error}",
            hint='Quote it for the shell, e.g. \'{"inputs": "I am happy"}\'.',
        ) from None
    if not isinstance(data, dict) or "inputs" not in data:
        raise HandlerKitError(
            "the payload must be a JSON object with an `inputs` field",
            hint='Production requires it, e.g. \'{"inputs": "I am happy"}\'.',
        )
    answer = load(repo)(data)
    print(json.dumps(answer, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
