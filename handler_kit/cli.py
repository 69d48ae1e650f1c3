"""The `handler-kit` command line: a thin shell over the Python API."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
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
    args = parser.parse_args(argv)
    try:
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
