"""The Hub's side of a deploy: whose token this is, and the push of exactly the manifest.

``account`` asks the Hub who the token belongs to before anything is uploaded (no token, a
read token, or a namespace the token cannot write to is said at once). ``push`` creates the
repository if need be and uploads the manifest in one commit on top of the head it read
(files the manifest lacks are deleted, the Hub's ``.gitattributes`` kept), then reads the
tree at the new commit back and checks it is the manifest. A commit that fails leaves the
repository as it was. Everything goes through huggingface_hub's public API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import LOGIN, DeployError, hub_error
from .manifest import Manifest, human_size

if TYPE_CHECKING:
    from huggingface_hub import HfApi

KEPT = frozenset({".gitattributes"})  # the Hub's own: not deleted when the manifest lacks it
WRITE_ROLES = frozenset({"admin", "write", "contributor"})
SHOWN = 5  # files named in an error about the uploaded tree


@dataclass(frozen=True)
class Account:
    """The token's user, the repository it pushes to (with its namespace) and the token."""

    user: str
    repo_id: str
    token: str
    role: str  # the token's: write, read, fineGrained

    def __str__(self) -> str:
        return f"{self.user} ({self.role} token) pushes to {self.repo_id}"


@dataclass(frozen=True)
class Pushed:
    """A push: the commit the repository is at, the one it was at, and whether it changed."""

    repo_id: str
    oid: str
    parent: str
    url: str

    @property
    def changed(self) -> bool:
        return self.oid != self.parent


def validate_repo_id(repo_id: str) -> None:
    """Raise DeployError unless the Hub could have a repository named ``repo_id``."""
    from huggingface_hub.utils import validate_repo_id as validate

    try:
        validate(repo_id)
    except ValueError as error:
        raise DeployError(
            f"{repo_id!r} is not a valid repository name: {error}",
            hint="Name it NAMESPACE/NAME (or NAME, under your user) with letters, digits, "
            "'-', '_' and '.', e.g. my-user/emotion-handler.",
        ) from None


def account(repo_id: str, token: str | None = None) -> Account:
    """Who ``token`` (default: huggingface_hub's, HF_TOKEN or `hf auth login`) is, and that it
    may push to ``repo_id``; raises DeployError otherwise, before anything is uploaded."""
    from huggingface_hub import HfApi, get_token

    validate_repo_id(repo_id)
    token = token or get_token()
    if token is None:
        raise DeployError("there is no Hugging Face token: nothing can be pushed", hint=LOGIN)
    try:
        me = HfApi(token=token).whoami()
    except Exception as error:
        raise hub_error("asking the Hub whose token this is", error) from error
    user = me["name"]
    role = me.get("auth", {}).get("accessToken", {}).get("role", "write")
    namespace, _, name = repo_id.rpartition("/")
    full = repo_id if namespace else f"{user}/{name}"
    namespace = namespace or user
    if role == "read":
        raise DeployError(
            f"the token of {user} is a read token: it cannot create or push to {full}",
            hint="Use a token with write access (huggingface.co/settings/tokens).",
        )
    orgs = {org["name"]: org.get("roleInOrg") for org in me.get("orgs", [])}
    # An organisation's role is missing from older answers: the upload says it then.
    if namespace != user and (namespace not in orgs or orgs[namespace] not in WRITE_ROLES | {None}):
        raise DeployError(
            f"{user} cannot push to {full}: the namespace {namespace} is not theirs"
            + (f" (their role there: {orgs[namespace]})" if namespace in orgs else ""),
            hint=f"Push to your own namespace ({user}/{name}) or to an organisation you may "
            f"write to ({', '.join(sorted(orgs)) or 'you have none'}).",
        )
    return Account(user, full, token, role)


def push(
    manifest: Manifest, to: Account, private: bool | None = None, message: str | None = None
) -> Pushed:
    """Upload exactly ``manifest`` to ``to.repo_id`` in one commit; the commit it is at then.

    Raises DeployError when the repository cannot be created, the upload fails (nothing is
    committed then) or the tree at the new commit is not the manifest.
    """
    from huggingface_hub import HfApi

    api = HfApi(token=to.token)
    _create_repo(api, to.repo_id, private)
    try:
        head = api.repo_info(to.repo_id).sha
        there = set(api.list_repo_files(to.repo_id, revision=head))
    except Exception as error:
        raise hub_error(f"reading {to.repo_id}", error) from error
    commit = _commit(api, manifest, to.repo_id, head, there, message)
    _check_tree(api, manifest, to.repo_id, commit.oid, there)
    return Pushed(to.repo_id, commit.oid, head, commit.commit_url)


def _create_repo(api: HfApi, repo_id: str, private: bool | None) -> None:
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
    except Exception as error:
        raise hub_error(
            f"creating the repository {repo_id}",
            error,
            hint="Choose another name, or a namespace your token may write to.",
        ) from error


def _commit(api: HfApi, manifest: Manifest, repo_id: str, head: str, there: set[str], message):
    """One commit of every file of the manifest, deleting what else is there; its CommitInfo."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    operations: list = [
        CommitOperationAdd(path_in_repo=file.path, path_or_fileobj=str(manifest.repo / file.path))
        for file in manifest.files
    ]
    stale = sorted(there - set(manifest.sizes) - KEPT)
    operations += [CommitOperationDelete(path_in_repo=path) for path in stale]
    summary = message or (
        f"Deploy with handler-kit: {len(manifest.files)} files, {human_size(manifest.size)}"
    )
    try:
        return api.create_commit(
            repo_id, operations, commit_message=summary, parent_commit=head, num_threads=4
        )
    except Exception as error:
        raise hub_error(
            f"uploading {len(manifest.files)} files to {repo_id}",
            error,
            hint=f"Nothing was committed: {repo_id} is still at {head[:12]}, and no endpoint "
            "was created or updated. Deploy again (files already uploaded are not sent twice).",
        ) from error


def _check_tree(api: HfApi, manifest: Manifest, repo_id: str, oid: str, there: set[str]) -> None:
    """Raise DeployError unless the tree at ``oid`` holds exactly the manifest's files."""
    try:
        tree = api.list_repo_tree(repo_id, revision=oid, recursive=True)
        sizes = {f.path: (f.lfs.size if f.lfs else f.size) for f in tree if hasattr(f, "size")}
    except Exception as error:
        raise hub_error(f"reading the tree of {repo_id} at {oid[:12]}", error) from error
    expected = dict(manifest.sizes)
    for path in KEPT & there - set(expected):
        expected[path] = sizes.get(path, -1)
    missing = sorted(set(expected) - set(sizes))
    extra = sorted(set(sizes) - set(expected))
    resized = sorted(p for p in set(expected) & set(sizes) if expected[p] != sizes[p])
    if not (missing or extra or resized):
        return
    said = []
    if missing:
        said.append(f"it lacks {_some(missing)}")
    if extra:
        said.append(f"it holds {_some(extra)} too")
    if resized:
        said.append(f"{_some(resized)} differ in size")
    raise DeployError(
        f"{repo_id} at {oid[:12]} is not the manifest: {'; '.join(said)}",
        hint="No endpoint was created or updated. The Hub leaves out what a committed "
        ".gitignore at the top of the repository names: read it, then deploy again.",
    )


def _some(paths: list[str]) -> str:
    shown = ", ".join(paths[:SHOWN])
    return shown + (f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else "")
