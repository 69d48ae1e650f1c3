"""hub.py against the Hub stand-in: the token's account, then exactly the manifest pushed."""

from __future__ import annotations

import deploy_support
import pytest
from standins import READ_ONLY, USER, pointed_at

from handler_kit.deploy.errors import DeployError
from handler_kit.deploy.hub import account, push
from handler_kit.deploy.manifest import build_manifest

REPO = f"{USER.name}/tiny"
hub, tiny = deploy_support.hub, deploy_support.tiny  # fixtures


def test_the_account_is_the_tokens_user_and_a_bare_name_goes_under_it(hub):
    found = account("tiny")
    assert (found.user, found.repo_id, found.token) == (USER.name, REPO, USER.token)
    assert account("stand-in-org/tiny").repo_id == "stand-in-org/tiny"
    assert str(found) == "stand-in-user (write token) pushes to stand-in-user/tiny"


def test_without_a_token_nothing_is_asked_of_the_hub(hub):
    with pointed_at(hub, token=None), pytest.raises(DeployError) as missing:
        account(REPO)
    assert "there is no Hugging Face token" in str(missing.value)
    assert "hf auth login" in missing.value.hint and "HF_TOKEN" in missing.value.hint
    assert deploy_support.asked(hub) == []


def test_a_token_the_hub_does_not_know_is_refused_with_how_to_log_in(hub):
    with pytest.raises(DeployError, match="the Hub refused the token") as refused:
        account(REPO, token="hf_nobody")
    assert "hf auth login" in refused.value.hint


@pytest.mark.parametrize("name", ["bad--name", "a/b/c", "x" * 97, "-x"])
def test_an_invalid_name_is_refused_before_asking_the_hub(hub, name):
    with pytest.raises(DeployError, match="is not a valid repository name"):
        account(name)
    assert deploy_support.asked(hub) == []


def test_a_namespace_that_is_not_yours_or_a_read_token_is_refused_before_any_upload(hub):
    hub.add_repo("someone-else/model", {"README.md": b"theirs"})
    with pytest.raises(DeployError, match="cannot push to someone-else/model") as taken:
        account("someone-else/model")
    assert "stand-in-user/model" in taken.value.hint  # where it could go instead
    with pytest.raises(DeployError, match="is a read token"):
        account(REPO, token=READ_ONLY.token)
    assert deploy_support.writes(hub) == []


def test_a_push_commits_exactly_the_manifest_on_top_of_the_head(hub, tiny):
    manifest = build_manifest(tiny)
    pushed = push(manifest, account(REPO))
    assert pushed.changed and pushed.oid == hub.commits(REPO)[0].oid
    assert pushed.parent == hub.commits(REPO)[1].oid  # the Hub's first commit
    sizes = hub.sizes(REPO, pushed.oid)
    assert sizes == {**manifest.sizes, ".gitattributes": sizes[".gitattributes"]}
    assert hub.files(REPO, pushed.oid)["weights.bin"] == (tiny / "weights.bin").read_bytes()


def test_files_the_manifest_lacks_are_deleted_and_an_unchanged_push_makes_no_commit(hub, tiny):
    to = account(REPO)
    push(build_manifest(tiny), to)
    (tiny / "weights.bin").unlink()
    (tiny / "version.txt").write_text("2\n")
    second = push(build_manifest(tiny), to)
    assert "weights.bin" not in hub.sizes(REPO, second.oid)
    assert ".gitattributes" in hub.sizes(REPO, second.oid)  # the Hub's own is kept
    commits = len(hub.commits(REPO))
    again = push(build_manifest(tiny), to)
    assert (again.oid, again.changed) == (second.oid, False)
    assert len(hub.commits(REPO)) == commits


@pytest.mark.parametrize("after", [0, 1], ids=["an-lfs-object", "the-commit"])
def test_an_upload_that_fails_midway_commits_nothing_and_says_so(hub, tiny, after):
    to = account(REPO)
    first = push(build_manifest(tiny), to)
    (tiny / "weights.bin").write_bytes(bytes(range(255, -1, -1)) * 8)  # a new LFS object
    (tiny / "version.txt").write_text("2\n")
    hub.fail_upload(after=after)
    with pytest.raises(DeployError) as failed:
        push(build_manifest(tiny), to)
    assert "told to fail" in str(failed.value)
    assert f"Nothing was committed: {REPO} is still at {first.oid[:12]}" in failed.value.hint
    assert "no endpoint was created or updated" in failed.value.hint
    assert hub.commits(REPO)[0].oid == first.oid


def test_a_file_the_hub_drops_is_named_before_any_endpoint_is_touched(hub, tmp_path):
    # git re-includes sub/keep.log (its own .gitignore says so), the Hub reads the top one only.
    repo = deploy_support.write_repository(
        tmp_path / "repo", files={".gitignore": "*.log\n", "sub/.gitignore": "!keep.log\n"}
    )
    (repo / "sub" / "keep.log").write_text("kept by git")
    manifest = build_manifest(repo)
    assert manifest.has("sub/keep.log")
    with pytest.raises(DeployError, match=r"is not the manifest: it lacks sub/keep\.log") as lacks:
        push(manifest, account(REPO))
    assert "No endpoint was created or updated" in lacks.value.hint
