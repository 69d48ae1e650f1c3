"""The manifest: exactly the files a deploy uploads, and the errors that would break production.

Each repository is written into tmp_path. Where git is installed, the files the manifest
keeps are compared with the untracked files git itself would add (``git ls-files --others
--exclude-standard``), so the .gitignore rules are git's, not an imitation of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from deploy_support import write_files

from handler_kit.deploy.manifest import (
    LfsPointerError,
    ManifestError,
    ManifestProblems,
    NotUploadedError,
    Reason,
    build_manifest,
    lfs_pointer,
)
from handler_kit.deploy.opened import OpenedBy, opened_names

HANDLER = """\
class EndpointHandler:
    def __init__(self, path=""):
        self.path = path

    def __call__(self, data):
        return data
"""
OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
POINTER = f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 438016493\n"


def write(repo: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``{relative path: text or bytes}`` under ``repo``; a handler.py unless given."""
    return write_files(repo, {"handler.py": HANDLER, **files})


def git_would_add(repo: Path) -> set[str]:
    """The files ``git add -A`` would add to a fresh repository in ``repo``."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    run = {"cwd": repo, "env": env, "capture_output": True, "text": True, "check": True}
    subprocess.run(["git", "init", "-q"], **run, timeout=60)
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"], **run, timeout=60
    ).stdout
    return set(listed.splitlines())


IGNORED_TREE = {
    ".gitignore": "# build artefacts\n*.log\n\n/secret.txt\ndata/\n!data/keep.csv\nlogs/**\n"
    "!logs/important.log\n*.tmp\n!/notes.tmp\n",
    "app.log": "x",
    "secret.txt": "top only",
    "sub/secret.txt": "a secret.txt below the top is not anchored",
    "data/keep.csv": "inside an ignored folder: git never re-includes it",
    "logs/a.txt": "x",
    "logs/important.log": "re-included by the last pattern",
    "notes.tmp": "re-included at the top",
    "sub/notes.tmp": "still ignored below",
    "sub/.gitignore": "*.json\n!keep.json\n",
    "sub/a.json": "{}",
    "sub/keep.json": "{}",
    "sub/deeper/b.json": "{}",
    "sub/deeper/.gitignore": "!b.json\n",
    "model/config.json": "{}",
    "model/weights.bin": b"\x00\x01" * 40,
}


def test_the_manifest_keeps_what_git_would_commit_with_each_file_size(tmp_path):
    repo = write(tmp_path / "repo", IGNORED_TREE)
    manifest = build_manifest(repo)
    assert manifest.sizes == {
        ".gitignore": len(IGNORED_TREE[".gitignore"]),
        "handler.py": len(HANDLER),
        "logs/important.log": len(IGNORED_TREE["logs/important.log"]),
        "model/config.json": 2,
        "model/weights.bin": 80,
        "notes.tmp": len(IGNORED_TREE["notes.tmp"]),
        "sub/.gitignore": len(IGNORED_TREE["sub/.gitignore"]),
        "sub/deeper/.gitignore": len(IGNORED_TREE["sub/deeper/.gitignore"]),
        "sub/deeper/b.json": 2,
        "sub/keep.json": 2,
        "sub/secret.txt": len(IGNORED_TREE["sub/secret.txt"]),
    }
    assert manifest.ok and manifest.size == sum(manifest.sizes.values())
    if shutil.which("git"):
        assert set(manifest.sizes) == git_would_add(repo)


def test_each_left_out_path_says_which_gitignore_line_excludes_it(tmp_path):
    manifest = build_manifest(write(tmp_path / "repo", IGNORED_TREE))
    rules = {e.path: str(e.rule) for e in manifest.excluded if e.reason is Reason.GITIGNORE}
    assert rules["app.log"] == ".gitignore:2 `*.log`"
    assert rules["data/"] == ".gitignore:5 `data/`"
    assert rules["sub/a.json"] == "sub/.gitignore:1 `*.json`"
    assert rules["sub/notes.tmp"] == ".gitignore:9 `*.tmp`"
    assert "data/keep.csv" not in rules  # its folder is left out whole


@pytest.mark.parametrize(
    ("folder", "reason"),
    [
        (".git", Reason.HUB_REFUSES),
        ("models/.cache", Reason.HUB_REFUSES),
        ("env", Reason.VENV),  # any name: pyvenv.cfg marks it
        ("pkg/__pycache__", Reason.PYCACHE),
        (".ipynb_checkpoints", Reason.CHECKPOINTS),
        ("build", Reason.BUILD),
        ("dist", Reason.BUILD),
        ("handler_pkg.egg-info", Reason.BUILD),
    ],
)
def test_folders_that_never_belong_on_the_hub_are_left_out_whatever_gitignore_says(
    tmp_path, folder, reason
):
    files = {f"{folder}/x.py": "x = 1\n", ".gitignore": f"!{folder}/\n"}
    if reason is Reason.VENV:
        files[f"{folder}/pyvenv.cfg"] = "home = /usr/bin\n"
    manifest = build_manifest(write(tmp_path / "repo", files))
    assert not any(f.path.startswith(f"{folder}/") for f in manifest.files)
    assert [(e.path, e.reason) for e in manifest.excluded] == [(f"{folder}/", reason)]


def test_a_folder_named_like_a_build_output_below_the_top_is_uploaded(tmp_path):
    manifest = build_manifest(write(tmp_path / "repo", {"src/build/steps.py": "x = 1\n"}))
    assert "src/build/steps.py" in manifest.sizes


def test_a_symbolic_link_is_followed_once_and_a_broken_one_left_out(tmp_path):
    repo = write(tmp_path / "repo", {"weights/model.bin": b"\x00" * 10})
    (repo / "model").symlink_to(repo / "weights")
    (repo / "loop").symlink_to(repo)
    (repo / "gone.txt").symlink_to(repo / "nowhere.txt")
    manifest = build_manifest(repo)
    assert {"model/model.bin", "weights/model.bin"} <= set(manifest.sizes)
    assert not any(path.startswith("loop/") for path in manifest.sizes)
    assert ("gone.txt", Reason.BROKEN_LINK) in [(e.path, e.reason) for e in manifest.excluded]


def test_an_lfs_pointer_in_place_of_the_weights_is_an_error_naming_the_file(tmp_path):
    repo = write(tmp_path / "repo", {"model/model.safetensors": POINTER})
    manifest = build_manifest(repo)
    assert not manifest.ok and "model/model.safetensors" in manifest.sizes
    with pytest.raises(LfsPointerError) as raised:
        manifest.check()
    error = raised.value
    assert error.file == str(repo / "model" / "model.safetensors")
    assert "model/model.safetensors is a git LFS pointer" in str(error)
    assert "438.0 MB" in str(error) and "git lfs pull --include=model/model.safetensors" in str(
        error
    )


@pytest.mark.parametrize(
    "text",
    [
        POINTER.replace("\n", "\r\n"),  # checked out on Windows
        f"version https://git-lfs.github.com/spec/v1\next-0-foo sha256:{'1' * 64}\n"
        f"oid sha256:{OID}\nsize 12\n",  # an extension line before the oid
    ],
)
def test_every_form_of_a_pointer_is_recognised(text):
    assert lfs_pointer(text.encode()) == (OID, int(text.split("size ")[1]))


@pytest.mark.parametrize(
    "text",
    [
        "A README that quotes a pointer:\n" + POINTER,
        POINTER.replace(OID, OID[:40]),  # not a sha256
        POINTER + "and more text\n",
        POINTER + " " * 1024,  # too long for a pointer
    ],
)
def test_a_file_that_only_looks_like_a_pointer_is_not_one(text):
    assert lfs_pointer(text.encode()) is None


OPENS = {
    "join": 'open(os.path.join(path, "labels.json"))',
    "division": '(Path(path) / "labels.json").read_text()',
    "f-string": 'open(f"{path}/labels.json")',
    "concatenation": 'open(path + "/labels.json")',
    "self-attribute": 'self.root = path\n        open(os.path.join(self.root, "labels.json"))',
    "joinpath": 'Path(path).resolve().joinpath("labels.json").read_text()',
    "module-folder": 'open(os.path.join(os.path.dirname(__file__), "labels.json"))',
    "module-path": '(Path(__file__).parent / "labels.json").read_text()',
    "literal": 'open("labels.json")',
    "literal-keyword": 'pandas.read_csv(filename="./labels.json")',
}


@pytest.mark.parametrize("how", OPENS)
def test_a_git_ignored_file_the_handler_opens_is_an_error_naming_its_line(tmp_path, how):
    handler = (
        "import os\nimport pandas\nfrom pathlib import Path\n\n\n"
        "class EndpointHandler:\n"
        '    def __init__(self, path=""):\n'
        f"        {OPENS[how]}\n"
        "\n    def __call__(self, data):\n        return data\n"
    )
    files = {"handler.py": handler, "labels.json": "{}", ".gitignore": "*.json\n"}
    repo = write(tmp_path / "repo", files)
    with pytest.raises(NotUploadedError) as raised:
        build_manifest(repo).check()
    error = raised.value
    line = 9 if how == "self-attribute" else 8
    assert (error.file, error.line) == (str(repo / "handler.py"), line)
    assert "opens `labels.json`" in error.what
    assert "labels.json is git-ignored: .gitignore:1 `*.json`" in error.what
    assert "delete line 1 of .gitignore" in error.hint


def test_a_name_the_handler_builds_in_one_method_and_opens_in_another_is_followed(tmp_path):
    handler = (
        "import os\nfrom transformers import AutoModel\n\n"
        "class EndpointHandler:\n"
        '    def __init__(self, path=""):\n'
        '        self.model_dir = os.path.join(path, "model")\n'
        "        self.model = AutoModel.from_pretrained(self.model_dir)\n\n"
        "    def __call__(self, data):\n"
        '        return open(os.path.join(self.model_dir, "notes", "labels.txt")).read()\n'
    )
    files = {
        "handler.py": handler,
        "model/config.json": "{}",
        "model/notes/labels.txt": "a\n",
        ".gitignore": "notes/\n",
    }
    repo = write(tmp_path / "repo", files)
    [error] = build_manifest(repo).errors
    assert isinstance(error, NotUploadedError) and error.line == 10
    assert "opens `model/notes/labels.txt`" in error.what and "model/notes/ is git-ignored" in (
        error.what
    )


def test_a_folder_the_handler_loads_is_an_error_only_when_nothing_in_it_is_uploaded(tmp_path):
    handler = (
        "from transformers import AutoModel\n\n"
        "class EndpointHandler:\n"
        '    def __init__(self, path=""):\n'
        '        self.model = AutoModel.from_pretrained(f"{path}/model")\n'
    )
    files = {"handler.py": handler, "model/a.bin": b"\x00", "model/b.bin": b"\x00"}
    repo = write(tmp_path / "repo", {**files, ".gitignore": "*.bin\n"})
    [error] = build_manifest(repo).errors
    assert error.line == 5 and "everything in it is left out: model/a.bin" in error.what
    (repo / "model" / "config.json").write_text("{}")  # uploaded: the folder is there
    assert build_manifest(repo).ok


def test_names_that_are_uploaded_or_not_here_at_all_are_not_errors(tmp_path):
    handler = (
        "import os\nfrom transformers import AutoModel\n\n"
        "class EndpointHandler:\n"
        '    def __init__(self, path=""):\n'
        '        os.makedirs(os.path.join(path, "cache"), exist_ok=True)\n'  # written here
        '        if os.path.exists(os.path.join(path, "optional.json")):\n'  # nowhere
        "            pass\n"
        '        self.model = AutoModel.from_pretrained("distilbert-base-uncased")\n'  # the Hub
        '        self.labels = open(os.path.join(path, "labels.txt")).read()\n'  # uploaded
        '        self.other = open(os.path.join(path + "x", "a.json"))\n'  # not the repository
    )
    files = {"handler.py": handler, "labels.txt": "a\n"}
    repo = write(tmp_path / "repo", files)
    (repo / "cache").mkdir()
    assert build_manifest(repo).ok


def test_what_the_handler_opens_is_read_from_its_source_and_the_modules_it_imports(tmp_path):
    handler = (
        "import os\nfrom helpers import vocab\n\n"
        "class EndpointHandler:\n"
        "    def __init__(self, model_dir):\n"  # any name: the first parameter after self
        '        self.labels = open(os.path.join(model_dir, "labels.txt")).read()\n'
    )
    helpers = (
        "from pathlib import Path\n\n"
        "HERE = Path(__file__).resolve().parent\n\n"
        "def vocab(path):\n"
        '    return (HERE / "vocab.txt").read_text()\n'  # relative to helpers/, not the top
    )
    files = {"handler.py": handler, "helpers/__init__.py": helpers}
    repo = write(tmp_path / "repo", files)
    found = {(o.name, o.by, o.line, o.file.name) for o in opened_names(repo)}
    assert found == {
        ("labels.txt", OpenedBy.PATH, 6, "handler.py"),
        ("helpers/vocab.txt", OpenedBy.MODULE, 6, "__init__.py"),
    }


def test_several_problems_are_raised_together_each_with_what_to_do(tmp_path):
    handler = (
        "import os\n\nclass EndpointHandler:\n"
        '    def __init__(self, path=""):\n'
        '        open(os.path.join(path, "venv", "labels.txt"))\n'
    )
    files = {
        "handler.py": handler,
        "venv/pyvenv.cfg": "",
        "venv/labels.txt": "a\n",
        "model.bin": POINTER,
    }
    with pytest.raises(ManifestProblems) as raised:
        build_manifest(write(tmp_path / "repo", files)).check()
    pointer, missing = raised.value.errors
    assert isinstance(pointer, LfsPointerError) and isinstance(missing, NotUploadedError)
    assert "venv/ is a virtual environment" in missing.what
    assert "Move it out of venv/" in missing.hint
    assert str(raised.value).startswith("2 problems with the files to upload")


def test_a_missing_folder_is_a_manifest_error(tmp_path):
    with pytest.raises(ManifestError, match="no such folder"):
        build_manifest(tmp_path / "nowhere")


def test_the_manifest_reads_as_text_and_as_theme_aware_html(tmp_path):
    files = {"model.bin": POINTER, "big.bin": b"\x00" * 1500, ".gitignore": "*.log\n", "a.log": ""}
    manifest = build_manifest(write(tmp_path / "repo", files))
    text = repr(manifest)
    assert "1.5 kB  big.bin" in text and "left out: a.log (git-ignored" in text
    assert "error: " in text and text.endswith("1 problem: nothing can be uploaded")
    page = manifest._repr_html_()
    assert "var(--jp-content-font-color1" in page and "big.bin" in page
    assert "color:#" not in page  # every colour is a theme variable with a fallback
