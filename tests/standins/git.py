"""What the Hub stand-in stores: repositories of commits, hashed as git hashes them.

A file is a git blob: its own bytes, or for a git LFS file the pointer text that git stores
in its place (the bytes live in the LFS store, by sha256). Folders are git trees and every
commit a git commit object, so oids look and behave like the Hub's (40 hex digits that
change when anything in the tree does).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

LFS_SPEC = "https://git-lfs.github.com/spec/v1"
# What the Hub writes in a new repository's .gitattributes (an excerpt of its list).
GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.bin", "*.ckpt", "*.gz", "*.h5", "*.joblib", "*.model", "*.npy", "*.npz",
        "*.onnx", "*.ot", "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth",
        "*.safetensors", "*.tar", "*.tflite", "*.zip", "*.zst", "*tfevents*",
    )
)  # fmt: skip


def stamp(date: datetime) -> str:
    """A date as the Hub's APIs write it: ``2023-10-26T12:41:53.263Z``."""
    return date.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def git_hash(kind: str, body: bytes) -> str:
    """The oid git gives an object of ``kind`` (blob, tree, commit) with ``body``."""
    return hashlib.sha1(f"{kind} {len(body)}\0".encode() + body).hexdigest()


def lfs_pointer_text(sha256: str, size: int) -> bytes:
    """The pointer file git stores for an LFS file."""
    return f"version {LFS_SPEC}\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class StoredFile:
    """A file of a commit: the git blob's oid, the file's size, its sha256 if LFS keeps it."""

    size: int
    blob: str  # the oid of what git stores: the content, or the LFS pointer
    sha256: str | None = None  # set for a file in the LFS store

    @classmethod
    def regular(cls, data: bytes) -> StoredFile:
        return cls(len(data), git_hash("blob", data))

    @classmethod
    def lfs(cls, sha256: str, size: int) -> StoredFile:
        return cls(size, git_hash("blob", lfs_pointer_text(sha256, size)), sha256)

    @property
    def etag(self) -> str:
        """What the Hub answers as a file's ETag: its sha256 for LFS, else the blob oid."""
        return self.sha256 or self.blob

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer_text(self.sha256 or "", self.size))


@dataclass(frozen=True)
class Commit:
    """One commit: its oid, parent, message and every file of its tree by path."""

    oid: str
    parent: str | None
    title: str
    description: str
    files: dict[str, StoredFile]
    date: datetime

    @classmethod
    def make(
        cls, parent: Commit | None, title: str, description: str, files: dict[str, StoredFile]
    ) -> Commit:
        date = datetime.now(timezone.utc)
        lines = [f"tree {tree_oid(files, '')}"]
        if parent is not None:
            lines.append(f"parent {parent.oid}")
        stamp = f"Hub stand-in <stand-in@127.0.0.1> {int(date.timestamp())} +0000"
        lines += [f"author {stamp}", f"committer {stamp}", "", title, "", description]
        oid = git_hash("commit", "\n".join(lines).encode())
        return cls(oid, parent.oid if parent else None, title, description, dict(files), date)

    def folders(self) -> set[str]:
        """Every folder of the tree (``a``, ``a/b``), the top excluded."""
        found = set()
        for path in self.files:
            parts = path.split("/")[:-1]
            found.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return found


def tree_oid(files: dict[str, StoredFile], folder: str) -> str:
    """The git tree oid of ``folder`` ("" for the top) in a commit's ``files``."""
    prefix = f"{folder}/" if folder else ""
    entries: dict[str, tuple[str, str]] = {}  # name -> (mode, oid)
    for path, stored in files.items():
        if not path.startswith(prefix):
            continue
        name, *rest = path[len(prefix) :].split("/")
        if rest:
            entries[name] = ("40000", tree_oid(files, f"{prefix}{name}"))
        else:
            entries[name] = ("100644", stored.blob)
    # git sorts a folder's entries as if a folder's name ended with a slash.
    order = sorted(entries, key=lambda n: n + "/" if entries[n][0] == "40000" else n)
    body = b"".join(
        f"{entries[n][0]} {n}".encode() + b"\0" + bytes.fromhex(entries[n][1]) for n in order
    )
    return git_hash("tree", body)


@dataclass
class Repository:
    """A model repository: its owner, visibility, commits and branches."""

    repo_id: str
    private: bool
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit oid

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]

    def commit(
        self, branch: str, title: str, description: str, files: dict[str, StoredFile]
    ) -> Commit:
        """Add a commit of ``files`` on top of ``branch`` and move the branch to it."""
        parent = self.commits.get(self.branches.get(branch, ""))
        made = Commit.make(parent, title, description, files)
        self.commits[made.oid] = made
        self.branches[branch] = made.oid
        return made

    def resolve(self, revision: str) -> Commit | None:
        """The commit a branch name, a full oid or an oid's first 7+ digits names."""
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        if revision in self.commits:
            return self.commits[revision]
        if len(revision) >= 7:
            found = [c for oid, c in self.commits.items() if oid.startswith(revision)]
            if len(found) == 1:
                return found[0]
        return None
