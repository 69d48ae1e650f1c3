"""The stand-ins' accounts and tokens, and the error answer of the Hub's APIs."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse


@dataclass(frozen=True)
class User:
    """An account of the stand-in and one of its tokens."""

    name: str
    token: str
    role: str = "write"  # or "read": a read token cannot create, upload or commit
    orgs: tuple[str, ...] = ()

    def can_write(self, namespace: str) -> bool:
        return self.role == "write" and namespace in (self.name, *self.orgs)


USER = User("stand-in-user", "hf_standin_write", orgs=("stand-in-org",))
READ_ONLY = User("stand-in-user", "hf_standin_read", role="read", orgs=("stand-in-org",))


def error(status: int, message: str, code: str | None = None, **extra: object) -> JSONResponse:
    """An error as the Hub answers it: ``{"error": ...}`` and its X-Error-* headers."""
    headers = {"X-Error-Message": message}
    if code is not None:
        headers["X-Error-Code"] = code
    return JSONResponse({"error": message, **extra}, status, headers=headers)
