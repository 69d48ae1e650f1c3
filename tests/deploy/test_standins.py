"""The stand-ins for the Hub and the Inference Endpoints control plane, driven only through
huggingface_hub's public API, as the deploy flow will drive them.

Every server starts and stops inside its test, on 127.0.0.1. The endpoint tests run
production's real server (the toolkit's source from ../shared/reference, in the venv with
production's pins that toolkit.ensure_venv builds once), so they are skipped without it.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from deploy_support import BROKEN, NEEDS_PRODUCTION, TOOLKIT
from huggingface_hub import (
    CommitOperationAdd,
    HfApi,
    InferenceEndpointError,
    constants,
    create_inference_endpoint,
    get_inference_endpoint,
    list_inference_endpoints,
)
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from standins import READ_ONLY, USER, EndpointsStandIn, HubStandIn, Timing, pointed_at

from handler_kit.deploy.manifest import build_manifest
from handler_kit.production.venvs import ensure_venv


def needs_production(test):
    """A test that starts production's real server: skipped without its source, and slow."""
    for mark in NEEDS_PRODUCTION:
        test = mark(test)
    return test


REPO = f"{USER.name}/tiny-handler"
HANDLER = """\
import os


class EndpointHandler:
    def __init__(self, path=""):
        with open(os.path.join(path, "version.txt")) as file:
            self.version = file.read().strip()

    def __call__(self, data):
        return {
            "version": self.version,
            "data": data,
            "greeting": os.environ.get("GREETING"),
            "secret": os.environ.get("API_KEY"),
        }
"""
WAIT = 240  # seconds: a bound for production's server to start on this shared machine
ENDPOINT = {  # what every create_inference_endpoint call here passes besides name and repo
    "framework": "custom",
    "accelerator": "cpu",
    "instance_size": "x1",
    "instance_type": "intel-icl",
    "region": "us-east-1",
    "vendor": "aws",
    "type": "authenticated",
}
AUTH = {"authorization": f"Bearer {USER.token}"}


@pytest.fixture
def hub():
    with HubStandIn() as hub, pointed_at(hub):
        yield hub


@pytest.fixture
def plane(hub):
    python = ensure_venv(TOOLKIT)
    plane = EndpointsStandIn(hub, Timing(pending=0.3), TOOLKIT, python)
    with plane, pointed_at(hub, plane):
        yield plane


def repository(folder: Path, handler: str = HANDLER, version: str = "1", **more: bytes) -> Path:
    """A tiny handler repository: handler.py, version.txt, a binary file and ``more``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "handler.py").write_text(handler)
    (folder / "version.txt").write_text(f"{version}\n")
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 8)
    for name, data in more.items():
        (folder / name).write_bytes(data)
    return folder


def push(folder: Path, repo_id: str = REPO) -> str:
    """Create the repository if need be and upload ``folder``; the commit's oid."""
    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    return api.upload_folder(repo_id=repo_id, folder_path=folder).oid


def post(url: str, body: dict, path: str = "/", **headers: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=120) as client:
        return client.post(f"{url}{path}", json=body, headers={**AUTH, **headers})


# --- the Hub -----------------------------------------------------------------------------


def test_whoami_names_the_token_owner_and_refuses_a_token_it_does_not_know(hub):
    assert HfApi().whoami()["name"] == USER.name
    with pytest.raises(HfHubHTTPError, match="Invalid user token"):
        HfApi(token="hf_nobody").whoami()


def test_a_repository_is_created_once_and_exist_ok_finds_it_again(hub):
    api = HfApi()
    url = api.create_repo(REPO)
    assert url == f"{hub.url}/{REPO}" and url.repo_id == REPO
    with pytest.raises(HfHubHTTPError) as taken:
        api.create_repo(REPO)
    assert taken.value.response.status_code == 409
    assert api.create_repo(REPO, exist_ok=True) == url
    assert set(hub.sizes(REPO)) == {".gitattributes"}  # the Hub's first commit
    assert api.model_info(REPO).sha == hub.commits(REPO)[0].oid


def test_a_name_that_is_taken_or_invalid_is_refused_as_the_hub_refuses_it(hub):
    hub.add_repo("someone-else/model", {"README.md": b"theirs"})
    api = HfApi()
    with pytest.raises(HfHubHTTPError, match='rights to create a model under the namespace "som'):
        api.create_repo("someone-else/other")
    # exist_ok: the Hub's 403 sends huggingface_hub to repo_info, which finds their repository;
    # the upload is what is refused then.
    api.create_repo("someone-else/model", exist_ok=True)
    with pytest.raises(HfHubHTTPError) as refused:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="someone-else/model")
    assert refused.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError, match="rights to create"):
        HfApi(token=READ_ONLY.token).create_repo(f"{USER.name}/read-only")
    sent = len(hub.requests)
    with pytest.raises(HFValidationError):  # the client refuses it before asking the Hub
        api.create_repo(f"{USER.name}/bad--name")
    assert len(hub.requests) == sent
    assert set(hub.repos) == {"someone-else/model"}


def test_each_commit_is_kept_and_its_tree_and_files_are_served_at_its_revision(hub, tmp_path):
    folder = repository(tmp_path / "repo")
    first = push(folder)
    assert hub.sizes(REPO, first) == {".gitattributes": hub.sizes(REPO)[".gitattributes"]} | {
        path: size for path, size in build_manifest(folder).sizes.items()
    }
    assert "PUT /lfs-objects/" in " ".join(hub.requests)  # the binary file went through LFS
    (folder / "version.txt").write_text("2\n")
    (folder / "weights.bin").unlink()
    api = HfApi()
    second = api.upload_folder(repo_id=REPO, folder_path=folder, delete_patterns="*.bin").oid
    assert [c.oid for c in hub.commits(REPO)[:2]] == [second, first]
    tree = {f.path: f for f in api.list_repo_tree(REPO, revision=first, recursive=True)}
    assert set(tree) == {".gitattributes", "handler.py", "version.txt", "weights.bin"}
    assert tree["weights.bin"].lfs is not None and tree["handler.py"].lfs is None
    assert "weights.bin" not in api.list_repo_files(REPO, revision=second)
    cache = tmp_path / "cache"
    old = api.hf_hub_download(REPO, "version.txt", revision=first, cache_dir=cache)
    new = api.hf_hub_download(REPO, "version.txt", revision=second, cache_dir=cache)
    assert (Path(old).read_text(), Path(new).read_text()) == ("1\n", "2\n")
    binary = api.hf_hub_download(REPO, "weights.bin", revision=first[:10], cache_dir=cache)
    assert Path(binary).read_bytes() == bytes(range(256)) * 8


def test_pushing_the_same_files_again_makes_no_commit(hub, tmp_path):
    folder = repository(tmp_path / "repo")
    first = push(folder)
    commits = len(hub.commits(REPO))
    assert push(folder) == first  # each file's oid from preupload equals the local one
    assert len(hub.commits(REPO)) == commits


def test_the_committed_gitignore_decides_what_the_hub_leaves_out(hub, tmp_path):
    folder = repository(tmp_path / "repo", **{".gitignore": b"*.log\n", "debug.log": b"x"})
    oid = push(folder)
    assert "debug.log" not in hub.sizes(REPO, oid) and ".gitignore" in hub.sizes(REPO, oid)


@pytest.mark.parametrize("after", [1, 2], ids=["an-lfs-object", "the-commit"])
def test_an_upload_told_to_fail_midway_leaves_the_repository_as_it_was(hub, tmp_path, after):
    HfApi().create_repo(REPO)
    head = hub.commits(REPO)[0].oid
    hub.fail_upload(after=after)  # two LFS objects, then the commit: refuse the 2nd or 3rd
    operations = [
        CommitOperationAdd(path_in_repo=f"w{i}.bin", path_or_fileobj=bytes([i]) * 2048)
        for i in range(2)
    ]
    with pytest.raises((RuntimeError, HfHubHTTPError)) as failed:
        HfApi().create_commit(REPO, operations, commit_message="half", num_threads=1)
    causes, error = [], failed.value
    while error is not None:
        causes.append(str(error))
        error = error.__cause__
    assert "told to fail" in "\n".join(causes)
    assert [c.oid for c in hub.commits(REPO)] == [head]


def test_xet_is_refused_with_the_route_that_says_why(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    HfApi().create_repo(REPO)
    with pytest.raises(Exception, match=r"501 Not Implemented.*xet-write-token"):
        HfApi().upload_folder(repo_id=REPO, folder_path=repository(tmp_path / "repo"))
    assert len(hub.commits(REPO)) == 1


# --- Inference Endpoints -----------------------------------------------------------------


def states_until_running(endpoint, timeout: float = WAIT) -> list[str]:
    """The states an endpoint shows, polled every 0.2 s until it runs (bounded)."""
    seen = [endpoint.status]
    deadline = time.monotonic() + timeout
    while endpoint.status not in ("running", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
        if endpoint.fetch().status != seen[-1]:
            seen.append(endpoint.status)
    return seen


@needs_production
def test_a_pushed_handler_is_served_by_production_at_the_pushed_commit(plane, tmp_path):
    folder = repository(tmp_path / "repo")
    oid = push(folder)
    endpoint = create_inference_endpoint(
        "tiny", repository=REPO, revision=oid, env={"GREETING": "hello"},
        secrets={"API_KEY": "s3cret"}, **ENDPOINT,
    )  # fmt: skip
    assert states_until_running(endpoint) == ["pending", "initializing", "running"]
    endpoint.wait(timeout=WAIT, refresh_every=0.2)  # its health route answers
    assert (endpoint.revision, endpoint.framework) == (oid, "custom")
    assert endpoint.raw["model"]["secrets"] == {"API_KEY": "********"}
    # Production's contract: a query parameter becomes `parameters` when the body has none.
    answer = post(endpoint.url, {"inputs": "hi"}, "/?top_k=2")
    assert answer.json() == {
        "version": "1",
        "data": {"inputs": "hi", "parameters": {"top_k": 2}},
        "greeting": "hello",
        "secret": "s3cret",
    }
    with httpx.Client(trust_env=False) as client:
        assert client.post(endpoint.url, json={"inputs": "x"}).status_code == 401  # no token
    # A new commit redeploys only when the endpoint is updated to its revision.
    (folder / "version.txt").write_text("2\n")
    second = push(folder)
    assert post(endpoint.url, {"inputs": "hi"}).json()["version"] == "1"
    endpoint.update(revision=second)
    assert endpoint.status == "updating"
    assert post(endpoint.url, {"inputs": "hi"}).json()["version"] == "1"  # the old one serves
    endpoint.wait(timeout=WAIT, refresh_every=0.2)
    assert endpoint.revision == second
    assert post(endpoint.url, {"inputs": "hi"}).json()["version"] == "2"
    # An update that cannot start fails as an update: the running replica keeps serving.
    (folder / "handler.py").write_text(BROKEN)
    endpoint.update(revision=push(folder))
    with pytest.raises(InferenceEndpointError, match="failed to update"):
        endpoint.wait(timeout=WAIT, refresh_every=0.2)
    assert "ValueError: the model folder has no weights" in endpoint.raw["status"]["message"]
    assert post(endpoint.url, {"inputs": "hi"}).json()["version"] == "2"


@needs_production
def test_a_handler_whose_init_raises_ends_in_failed_with_its_traceback(plane, tmp_path):
    oid = push(repository(tmp_path / "repo", BROKEN))
    endpoint = create_inference_endpoint("broken", repository=REPO, revision=oid, **ENDPOINT)
    with pytest.raises(InferenceEndpointError, match="failed to deploy"):
        endpoint.wait(timeout=WAIT, refresh_every=0.2)
    message = endpoint.raw["status"]["message"]
    assert endpoint.status == "failed"
    assert "ValueError: the model folder has no weights" in message
    assert 'handler.py", line 3, in __init__' in message
    assert post(endpoint.url, {"inputs": "hi"}).status_code == 503


@needs_production
def test_scaled_to_zero_it_wakes_for_a_request_that_says_how_long_to_wait(plane, tmp_path):
    oid = push(repository(tmp_path / "repo"))
    endpoint = create_inference_endpoint("sleepy", repository=REPO, revision=oid, **ENDPOINT)
    endpoint.wait(timeout=WAIT, refresh_every=0.2)
    assert endpoint.scale_to_zero().status == "scaledToZero"
    asleep = post(endpoint.url, {"inputs": "hi"})
    assert asleep.status_code == 503 and "X-Scale-Up-Timeout" in asleep.json()["error"]
    woken = post(endpoint.url, {"inputs": "hi"}, **{"X-Scale-Up-Timeout": str(WAIT)})
    assert woken.status_code == 200 and woken.json()["version"] == "1"
    assert endpoint.fetch().status == "running"
    assert endpoint.resume(running_ok=True).status == "running"  # "already running" is fine
    with pytest.raises(HfHubHTTPError, match="already running"):
        endpoint.resume(running_ok=False)
    assert endpoint.pause().status == "paused"
    assert post(endpoint.url, {"inputs": "hi"}, **{"X-Scale-Up-Timeout": "5"}).status_code == 503
    assert endpoint.resume().status == "pending"  # on its way to running again, as created


@needs_production
def test_names_are_checked_and_endpoints_listed_got_and_deleted(plane, tmp_path):
    oid = push(repository(tmp_path / "repo"))
    endpoint = create_inference_endpoint("one", repository=REPO, revision=oid, **ENDPOINT)
    endpoint.pause()  # before it starts: nothing runs
    with pytest.raises(HfHubHTTPError) as taken:
        create_inference_endpoint("one", repository=REPO, revision=oid, **ENDPOINT)
    assert taken.value.response.status_code == 409
    for name, repo, revision in [
        ("Not_Valid", REPO, oid),
        ("two", f"{USER.name}/nothing-here", None),
        ("two", REPO, "f" * 40),
    ]:
        with pytest.raises(HfHubHTTPError) as refused:
            create_inference_endpoint(name, repository=repo, revision=revision, **ENDPOINT)
        assert refused.value.response.status_code == 400
    assert [e.name for e in list_inference_endpoints()] == ["one"]
    assert get_inference_endpoint("one").status == "paused"
    unpinned = HfApi().create_inference_endpoint("three", repository=REPO, **ENDPOINT).pause()
    assert unpinned.revision == oid  # no revision: the head when it was created
    endpoint.delete()
    with pytest.raises(HfHubHTTPError) as gone:
        get_inference_endpoint("one")
    assert gone.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as read_only:
        HfApi(token=READ_ONLY.token).create_inference_endpoint(
            "four", repository=REPO, namespace=USER.name, **ENDPOINT
        )
    assert read_only.value.response.status_code == 403
