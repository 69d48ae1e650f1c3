"""checks/large_files.py: files the Hub refuses without git LFS."""

from check_support import line_of, row, run_check

from handler_kit import check
from handler_kit.checks.large_files import large_file_rows


def test_a_big_file_outside_git_lfs_is_warned(repo, capsys):
    repo.write("handler.py", "base.py")
    for name in ("model.bin", "weights/model.safetensors"):
        file = repo.path / name
        file.parent.mkdir(exist_ok=True)
        with file.open("wb") as f:
            f.truncate(11 * 1024 * 1024)
    repo.write(".gitattributes", text="*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    status, out = run_check(capsys, str(repo.path))
    assert status == 0
    warned = line_of(out, "large file")
    assert " warn    model.bin is 11.0 MB and not tracked by git LFS" in warned
    assert "safetensors" not in warned
    repo.write(".gitattributes", text="*.safetensors filter=lfs\n/model.bin filter=lfs -text\n")
    assert row(check(repo.path), "large files").status == "pass"


def big_files(repo, *names: str) -> None:
    for name in names:
        file = repo.path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        with file.open("wb") as f:
            f.truncate(11 * 1024 * 1024)


def test_lfs_tracking_is_read_as_git_reads_gitattributes(repo):
    # A .gitattributes in a subfolder counts for its files; a folder's name as a pattern does
    # not cover the files in it (git's rules, not a glob's).
    big_files(repo, "onnx/model.onnx", "weights/model.bin", "model.pt")
    repo.write(".gitattributes", text="weights filter=lfs\n**/*.pt filter=lfs\n")
    repo.write("onnx/.gitattributes", text="*.onnx filter=lfs diff=lfs merge=lfs -text\n")
    rows = large_file_rows(repo.path)
    assert [row.detail.split(" is ")[0] for row in rows] == ["weights/model.bin"]


def test_without_git_a_large_file_is_warned_as_unknown(repo, monkeypatch):
    big_files(repo, "model.bin")
    repo.write(".gitattributes", text="*.bin filter=lfs\n")
    monkeypatch.setattr("handler_kit.checks.large_files.shutil.which", lambda name: None)
    (row,) = large_file_rows(repo.path)
    assert row.status == "warn" and row.detail.startswith(
        "model.bin is 11.0 MB (git is not here to say whether git LFS tracks it)"
    )
