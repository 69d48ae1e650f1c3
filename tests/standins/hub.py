"""A stand-in for the Hugging Face Hub's repository API on 127.0.0.1, for tests.

It answers the routes huggingface_hub 2.4 sends, with the JSON it reads: ``whoami-v2``,
``repos/create`` (409 with the repository's url for a name you own, 403 for a namespace you
cannot write to, 400 for a name the Hub refuses), model info, ``preupload`` (an upload mode
per file, as the Hub decides it: LFS for what .gitattributes hands to LFS, binary samples and
files over 10 MiB; ``shouldIgnore`` from the committed .gitignore), the LFS batch API with
the upload and verify of each object, the ndjson ``commit``, the tree at a revision and the
download of a file at a revision. Each commit is kept (``files``, ``sizes``, ``commits``),
and ``fail_upload`` refuses the next write midway. Xet is not spoken: huggingface_hub uses
it whenever hf_xet is installed unless ``constants.HF_HUB_DISABLE_XET``, which
``standins.pointed_at`` sets; a Xet token request is answered with a 501 that says so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterable

from pathspec import GitIgnoreSpec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .accounts import READ_ONLY, USER, User, error
from .git import GITATTRIBUTES, Commit, Repository, StoredFile, stamp, tree_oid
from .serving import Served

LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub stores bigger files in LFS whatever their type
NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")
LFS_JSON = "application/vnd.git-lfs+json"


class HubStandIn:
    """The Hub's repository and commit API for ``users``, served from ``start()``."""

    def __init__(self, users: Iterable[User] = (USER, READ_ONLY)) -> None:
        self.users = {user.token: user for user in users}
        self.repos: dict[str, Repository] = {}
        self.lfs: dict[str, bytes] = {}  # sha256 -> the bytes of an uploaded LFS object
        self.blobs: dict[str, bytes] = {}  # git blob oid -> the bytes of a regular file
        self.requests: list[str] = []  # "POST /api/repos/create", in order
        self._lock = threading.RLock()
        self._fail_after: int | None = None
        self._fail_status = 400
        self._writes = 0
        routes = [
            Route("/api/whoami-v2", self._whoami),
            Route("/api/repos/create", self._create, methods=["POST"]),
            Route("/api/validate-yaml", self._validate_yaml, methods=["POST"]),
            Route("/api/models/{ns}/{name}", self._info),
            Route("/api/models/{ns}/{name}/revision/{revision}", self._info),
            Route(
                "/api/models/{ns}/{name}/preupload/{revision}", self._preupload, methods=["POST"]
            ),
            Route("/api/models/{ns}/{name}/commit/{revision}", self._commit, methods=["POST"]),
            Route("/api/models/{ns}/{name}/tree/{revision}", self._tree),
            Route("/api/models/{ns}/{name}/tree/{revision}/{path:path}", self._tree),
            Route(
                "/api/models/{ns}/{name}/xet-{kind}-token/{revision}",
                self._xet,
                methods=["GET", "POST"],
            ),
            Route("/{ns}/{name}.git/info/lfs/objects/batch", self._batch, methods=["POST"]),
            Route("/{ns}/{name}.git/info/lfs/objects/verify", self._verify, methods=["POST"]),
            Route("/lfs-objects/{oid}", self._upload, methods=["PUT"]),
            Route(
                "/{ns}/{name}/resolve/{revision}/{path:path}",
                self._resolve,
                methods=["GET", "HEAD"],
            ),
        ]
        self._served = Served(self._recorded(Starlette(routes=routes)), "hub-stand-in")

    # --- what a test starts, stops, seeds and asserts --------------------------------------

    @property
    def url(self) -> str:
        return self._served.url

    def start(self) -> HubStandIn:
        self._served.start()
        return self

    def stop(self) -> None:
        self._served.stop()

    def __enter__(self) -> HubStandIn:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def add_repo(
        self, repo_id: str, files: dict[str, bytes] | None = None, private: bool = False
    ) -> Commit:
        """A repository as if someone had pushed ``files`` to it (a name that is taken)."""
        with self._lock:
            repo = self._new_repo(repo_id, private)
            stored = {path: self._store(data) for path, data in (files or {}).items()}
            return repo.commit(
                "main", "Upload folder", "", {**repo.resolve("main").files, **stored}
            )

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """``{path: bytes}`` of the tree at ``revision``."""
        commit = self._revision(repo_id, revision)
        return {path: self._content(stored) for path, stored in commit.files.items()}

    def sizes(self, repo_id: str, revision: str = "main") -> dict[str, int]:
        """``{path: size}`` of the tree at ``revision``, to compare with a manifest."""
        return {path: s.size for path, s in self._revision(repo_id, revision).files.items()}

    def commits(self, repo_id: str) -> list[Commit]:
        """The commits of main, newest first."""
        repo = self.repos[repo_id]
        found, oid = [], repo.branches.get("main")
        while oid is not None:
            found.append(repo.commits[oid])
            oid = repo.commits[oid].parent
        return found

    def fail_upload(self, after: int = 0, status: int = 400) -> None:
        """Refuse the write that comes after ``after`` more writes (an LFS object's upload or
        a commit) with ``status``; once. 400 is not retried by huggingface_hub, a 5xx is."""
        with self._lock:
            self._fail_after, self._fail_status, self._writes = after, status, 0

    def _revision(self, repo_id: str, revision: str) -> Commit:
        commit = self.repos[repo_id].resolve(revision)
        assert commit is not None, f"{repo_id} has no revision {revision}"
        return commit

    # --- storage ---------------------------------------------------------------------------

    def _new_repo(self, repo_id: str, private: bool) -> Repository:
        repo = Repository(repo_id, private)
        # The Hub starts every repository with a commit of its .gitattributes.
        repo.commit(
            "main", "initial commit", "", {".gitattributes": self._store(GITATTRIBUTES.encode())}
        )
        self.repos[repo_id] = repo
        return repo

    def _store(self, data: bytes) -> StoredFile:
        stored = StoredFile.regular(data)
        self.blobs[stored.blob] = data
        return stored

    def _content(self, stored: StoredFile) -> bytes:
        return self.lfs[stored.sha256] if stored.sha256 else self.blobs[stored.blob]

    def _write_fails(self) -> bool:
        """True when this write is the one ``fail_upload`` asked to refuse."""
        with self._lock:
            if self._fail_after is None:
                return False
            if self._writes < self._fail_after:
                self._writes += 1
                return False
            self._fail_after = None
            return True

    # --- the routes ------------------------------------------------------------------------

    def _recorded(self, app):
        async def record(scope, receive, send):
            if scope["type"] == "http":
                self.requests.append(f"{scope['method']} {scope['path']}")
            await app(scope, receive, send)

        return record

    def _user(self, request: Request) -> User | JSONResponse | None:
        header = request.headers.get("authorization", "")
        if not header:
            return None
        user = self.users.get(header.removeprefix("Bearer ").strip())
        if user is None:
            return error(401, "Invalid credentials in Authorization header")
        return user

    def _repo(self, request: Request, write: bool = False) -> Repository | JSONResponse:
        user = self._user(request)
        if isinstance(user, JSONResponse):
            return user
        repo_id = f"{request.path_params['ns']}/{request.path_params['name']}"
        repo = self.repos.get(repo_id)
        readable = repo is not None and (
            not repo.private or (user is not None and user.can_write(repo.namespace))
        )
        if repo is None or not readable:
            return error(404, "Repository not found", "RepoNotFound")
        if write and (user is None or not user.can_write(repo.namespace)):
            return error(403, f"You don't have the rights to write to {repo_id}")
        return repo

    def _revision_of(
        self, request: Request, write: bool = False
    ) -> tuple[Repository, Commit] | JSONResponse:
        """The repository a route names and the commit its revision names (default main)."""
        repo = self._repo(request, write)
        if isinstance(repo, JSONResponse):
            return repo
        revision = request.path_params.get("revision", "main")
        commit = repo.resolve(revision)
        if commit is None:
            return error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo, commit

    async def _whoami(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return error(401, "Invalid credentials in Authorization header")
        if isinstance(user, JSONResponse):
            return user
        orgs = [{"type": "org", "name": org, "roleInOrg": "write"} for org in user.orgs]
        access = {"displayName": "stand-in", "role": user.role}
        return JSONResponse(
            {
                "type": "user",
                "id": hashlib.sha1(user.name.encode()).hexdigest()[:24],
                "name": user.name,
                "fullname": user.name,
                "orgs": orgs,
                "auth": {"type": "access_token", "accessToken": access},
            }
        )

    async def _create(self, request: Request) -> Response:
        user = self._user(request)
        if isinstance(user, JSONResponse):
            return user
        if user is None:
            return error(401, "Invalid username or password.")
        body = await request.json()
        name, namespace = body.get("name", ""), body.get("organization") or user.name
        if body.get("type", "model") != "model":
            return error(400, "The Hub stand-in keeps model repositories only")
        if not user.can_write(namespace):
            return error(
                403,
                f'You don\'t have the rights to create a model under the namespace "{namespace}"',
            )
        if not NAME.fullmatch(name) or "--" in name or ".." in name or name.endswith(".git"):
            return error(400, f"Invalid repo name: {name!r}: use letters, digits, '-', '_', '.'")
        repo_id, url = f"{namespace}/{name}", f"{self.url}/{namespace}/{name}"
        with self._lock:
            if repo_id in self.repos:
                return error(409, "You already created this model repo", url=url)
            self._new_repo(repo_id, body.get("visibility", "public") == "private")
        return JSONResponse({"url": url, "name": repo_id, "id": repo_id})

    async def _validate_yaml(self, request: Request) -> Response:
        return JSONResponse({"errors": [], "warnings": []})

    async def _info(self, request: Request) -> Response:
        found = self._revision_of(request)
        if isinstance(found, JSONResponse):
            return found
        repo, commit = found
        return JSONResponse(
            {
                "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
                "id": repo.repo_id,
                "author": repo.namespace,
                "sha": commit.oid,
                "lastModified": stamp(commit.date),
                "createdAt": stamp(repo.created),
                "private": repo.private,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": [{"rfilename": path} for path in sorted(commit.files)],
            }
        )

    async def _preupload(self, request: Request) -> Response:
        found = self._revision_of(request, write=True)
        if isinstance(found, JSONResponse):
            return found
        commit = found[1]
        body = await request.json()
        ignore = body.get("gitIgnore")
        if ignore is None and ".gitignore" in commit.files:
            ignore = self._content(commit.files[".gitignore"]).decode("utf-8", "replace")
        ignored = GitIgnoreSpec.from_lines((ignore or "").splitlines())
        attributes = (
            self._content(commit.files[".gitattributes"])
            if ".gitattributes" in commit.files
            else b""
        )
        lfs = GitIgnoreSpec.from_lines(
            line.split()[0] for line in attributes.decode().splitlines() if "filter=lfs" in line
        )
        answers = []
        for file in body["files"]:
            path, sample = file["path"], base64.b64decode(file["sample"])
            binary = b"\0" in sample
            mode = (
                "lfs"
                if lfs.match_file(path) or binary or file["size"] > LFS_THRESHOLD
                else "regular"
            )
            stored = commit.files.get(path)
            answers.append(
                {
                    "path": path,
                    "uploadMode": mode,
                    "shouldIgnore": ignored.match_file(path),
                    "oid": stored.etag if stored is not None else None,
                }
            )
        return JSONResponse({"files": answers, "commitOid": commit.oid})

    async def _xet(self, request: Request) -> Response:
        return error(
            501,
            "The Hub stand-in does not speak Xet: set huggingface_hub.constants."
            "HF_HUB_DISABLE_XET = True (or HF_HUB_DISABLE_XET=1 before importing it) so that "
            "files go through LFS",
        )

    async def _batch(self, request: Request) -> Response:
        repo = self._repo(request, write=True)
        if isinstance(repo, JSONResponse):
            return repo
        body = await request.json()
        if body.get("operation") != "upload":
            return error(400, "The Hub stand-in's LFS batch API takes uploads only")
        objects = []
        for item in body["objects"]:
            oid, size = item["oid"], item["size"]
            entry: dict = {"oid": oid, "size": size, "authenticated": True}
            if oid not in self.lfs:  # an object already there is not sent again
                entry["actions"] = {
                    "upload": {"href": f"{self.url}/lfs-objects/{oid}", "header": {}},
                    "verify": {"href": f"{self.url}/{repo.repo_id}.git/info/lfs/objects/verify"},
                }
            objects.append(entry)
        return JSONResponse({"transfer": "basic", "objects": objects}, media_type=LFS_JSON)

    async def _upload(self, request: Request) -> Response:
        oid = request.path_params["oid"]
        data = await request.body()
        if self._write_fails():
            return error(self._fail_status, "The Hub stand-in was told to fail this upload")
        if hashlib.sha256(data).hexdigest() != oid:
            return error(400, f"the uploaded bytes do not hash to {oid}")
        with self._lock:
            self.lfs[oid] = data
        return Response(status_code=200)

    async def _verify(self, request: Request) -> Response:
        repo = self._repo(request, write=True)
        if isinstance(repo, JSONResponse):
            return repo
        body = await request.json()
        stored = self.lfs.get(body["oid"])
        if stored is None or len(stored) != body["size"]:
            return error(404, f"LFS object {body['oid']} was not uploaded")
        return JSONResponse({"message": "ok"}, media_type=LFS_JSON)

    async def _commit(self, request: Request) -> Response:
        repo = self._repo(request, write=True)
        if isinstance(repo, JSONResponse):
            return repo
        branch = request.path_params["revision"]
        if branch not in repo.branches:
            return error(400, f"{branch} is not a branch: commit to a branch", "RevisionNotFound")
        if request.query_params.get("create_pr"):
            return error(400, "The Hub stand-in does not open pull requests")
        lines = [json.loads(line) for line in (await request.body()).splitlines() if line.strip()]
        header = lines[0]["value"] if lines and lines[0]["key"] == "header" else {}
        with self._lock:
            head = repo.resolve(branch)
            parent = header.get("parentCommit")
            if parent and not head.oid.startswith(parent):
                return error(412, "A commit has happened since. Please refresh and try again.")
            files = self._apply(head, lines[1:])
            if isinstance(files, JSONResponse):
                return files
            if self._write_fails():
                return error(self._fail_status, "The Hub stand-in was told to fail this commit")
            made = repo.commit(
                branch, header.get("summary", ""), header.get("description", ""), files
            )
        url = f"{self.url}/{repo.repo_id}/commit/{made.oid}"
        return JSONResponse(
            {"success": True, "commitOid": made.oid, "commitUrl": url, "hookOutput": ""}
        )

    def _apply(self, head: Commit, operations: list[dict]) -> dict[str, StoredFile] | JSONResponse:
        """The files of ``head`` with the commit's operations applied."""
        files = dict(head.files)
        for operation in operations:
            key, value = operation["key"], operation["value"]
            path = value["path"]
            if key == "file":
                files[path] = self._store(base64.b64decode(value["content"]))
            elif key == "lfsFile":
                data = self.lfs.get(value["oid"])
                if data is None:
                    return error(
                        400,
                        "Your push was rejected because an LFS pointer pointed to a file that "
                        f"does not exist. Offending file: - {path}",
                    )
                files[path] = StoredFile.lfs(value["oid"], len(data))
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    return error(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                for name in [n for n in files if n.startswith(path.rstrip("/") + "/")]:
                    del files[name]
            else:
                return error(400, f"The Hub stand-in does not know the operation {key!r}")
        return files

    async def _tree(self, request: Request) -> Response:
        found = self._revision_of(request)
        if isinstance(found, JSONResponse):
            return found
        commit = found[1]
        folder = request.path_params.get("path", "").strip("/")
        recursive = request.query_params.get("recursive", "false").lower() == "true"
        folders = commit.folders()
        if folder and folder not in folders:
            return error(404, f"{folder} does not exist at {commit.oid}", "EntryNotFound")
        prefix = f"{folder}/" if folder else ""
        entries = []
        for path in sorted(folders | set(commit.files)):
            inner = path[len(prefix) :]
            if not path.startswith(prefix) or not inner or (not recursive and "/" in inner):
                continue
            entries.append(self._entry(commit, path, path in folders))
        return JSONResponse(entries)

    def _entry(self, commit: Commit, path: str, is_folder: bool) -> dict:
        if is_folder:
            return {
                "type": "directory",
                "oid": tree_oid(commit.files, path),
                "size": 0,
                "path": path,
            }
        stored = commit.files[path]
        entry = {"type": "file", "oid": stored.blob, "size": stored.size, "path": path}
        if stored.sha256:
            entry["lfs"] = {
                "oid": stored.sha256,
                "size": stored.size,
                "pointerSize": stored.pointer_size,
            }
        return entry

    async def _resolve(self, request: Request) -> Response:
        found = self._revision_of(request)
        if isinstance(found, JSONResponse):
            return found
        commit = found[1]
        stored = commit.files.get(request.path_params["path"])
        if stored is None:
            found = error(404, "Entry not found", "EntryNotFound")
            found.headers["X-Repo-Commit"] = commit.oid
            return found
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{stored.etag}"'}
        return Response(
            self._content(stored), headers=headers, media_type="application/octet-stream"
        )
