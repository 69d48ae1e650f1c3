"""production_run.py: a repository under production's real server and the kit's, compared.

The comparisons run the real production toolkit (its reference copy beside the project, in
the cached venv with production's pins): one run per repository, shared by the module.
"""

import io
import json
import subprocess
import sys
import time
import zipfile
from importlib.metadata import version

import pytest
from conftest import FIXTURES
from PIL import Image

from handler_kit.cases.case import save_case
from handler_kit.cases.replay import Answer
from handler_kit.checks.against_production import ProductionCheck, check_against_production
from handler_kit.checks.report import CheckReport
from handler_kit.errors import HandlerKitError
from handler_kit.production.comparison import (
    ComparisonRow,
    ProductionComparison,
    answer_difference,
    tolerance_of,
)
from handler_kit.production.run import against_production
from handler_kit.production.toolkit import find_toolkit
from handler_kit.production.venvs import _site_packages, with_requirements
from handler_kit.reload import repository as repository_module
from handler_kit.report import Status

HERE = version("transformers").split(".")[0]
PRODUCTION = "4"  # transformers 4.51.3, the toolkit's pin


@pytest.fixture(scope="module")
def toolkit():
    try:
        return find_toolkit()
    except HandlerKitError as error:
        pytest.skip(f"the production toolkit is not here, so its real server cannot run: {error}")


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (3, 2), (0, 0, 255, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def tiny_wheel(folder):
    """A wheel of ``tinypkg`` (not installed anywhere): pip installs it with no network."""
    wheel = folder / "tinypkg-1.0-py3-none-any.whl"
    info = "tinypkg-1.0.dist-info"
    files = {
        "tinypkg/__init__.py": 'VALUE = "installed from requirements.txt"\n',
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def repository(folder, handler):
    folder.mkdir()
    (folder / "handler.py").write_text((FIXTURES / "production" / handler).read_text())
    return folder


def timed(repo, toolkit):
    started = time.perf_counter()
    comparison = against_production(repo, toolkit=toolkit)
    print(f"\nagainst_production on {repo.parent.name}: {time.perf_counter() - started:.1f} s")
    return comparison


@pytest.fixture(scope="module")
def alike(tmp_path_factory, toolkit):
    repo = repository(tmp_path_factory.mktemp("alike") / "repo", "same.py")
    cases = repo / "cases"
    save_case(cases, "good", {"inputs": "a good day"})
    save_case(cases, "photo", body=png(), content_type="image/png", suffix=".png")
    save_case(cases, "not_a_string", {"inputs": 3})
    save_case(cases, "no_inputs", {"text": "a good day"})
    with pytest.MonkeyPatch.context() as patch:
        # A Vertex AI shell must not move either server off Inference Endpoints' routes.
        vertex = {"AIP_MODE": "PREDICTION", "AIP_HTTP_PORT": "1", "AIP_HEALTH_ROUTE": "/h"}
        for name, value in {**vertex, "AIP_PREDICT_ROUTE": "/p"}.items():
            patch.setenv(name, value)
        return timed(repo, toolkit)


@pytest.fixture(scope="module")
def unlike(tmp_path_factory, toolkit):
    repo = repository(tmp_path_factory.mktemp("unlike") / "repo", "versions.py")
    # Production installs requirements.txt before it starts; this run must too. (A path
    # relative to the repository would not be found by production's pip, run in /app.)
    wheel = tiny_wheel(tmp_path_factory.mktemp("wheels"))
    (repo / "requirements.txt").write_text(f"tinypkg @ {wheel.as_uri()}\n")
    cases = repo / "cases"
    save_case(cases, "version", {"inputs": "hi"})
    axios = save_case(cases, "axios", {"inputs": "hi"})  # what axios sends as Content-Type
    raw = json.loads(axios.read_text())
    axios.write_text(json.dumps({**raw, "content_type": "application/json; charset=utf-8"}))
    return timed(repo, toolkit)


def test_a_handler_that_answers_alike_gets_same_on_every_case(alike):
    rows = {row.case: row for row in alike.rows}
    assert {name: row.match for name, row in rows.items()} == {
        "good": Status.SAME,
        "no_inputs": Status.SAME,
        "not_a_string": Status.SAME,
        "photo": Status.SAME,
    }, alike
    assert alike.ok and alike.verdict == "all 4 cases answer the same in production and here"
    good, photo = rows["good"], rows["photo"]
    assert (
        str(good.production)
        == str(good.kit)
        == ('200 application/json [{"label":"positive","score":1.0}]')
    )
    # The image body reached both handlers as the same RGB picture.
    assert str(photo.production) == '200 application/json [{"label":"RGB 3x2","score":1.0}]'
    # Two refusals are the same: status, content type and an {"error": ...} body; the detail
    # shows production's own message.
    assert rows["not_a_string"].detail == "400 application/json error: inputs must be a string"
    assert rows["no_inputs"].production.status == rows["no_inputs"].kit.status == 400


def test_a_handler_that_depends_on_versions_shows_where_production_differs(unlike):
    rows = {row.case: row for row in unlike.rows}
    version_row = rows["version"]
    installed = '"tinypkg":"installed from requirements.txt"'
    assert version_row.production.body == (
        f'{{"inputs":"hi","transformers":"{PRODUCTION}",{installed}}}'
    )
    assert version_row.kit.body == f'{{"inputs":"hi","transformers":"{HERE}","tinypkg":null}}'
    assert version_row.match is Status.DIFFERS and not unlike.ok
    first = "transformers" if HERE != PRODUCTION else "tinypkg"
    assert version_row.detail.startswith(f'body differs from production\'s: answer["{first}"] is')
    text = str(unlike)
    assert "version  differs  body differs from production's" in text
    assert f"production: 200 application/json {version_row.production.body}" in text
    assert "requirements.txt installed over it in" in unlike.production
    # Production refuses the charset variant (what axios sends); the kit refuses it too.
    axios = rows["axios"]
    assert axios.production.status == axios.kit.status == 400
    assert "application/json; charset=utf-8" in axios.production.body
    assert axios.match is Status.SAME, axios.detail
    page = unlike._repr_html_()
    assert ">differs</b>" in page and "the kit</th>" in page


def answer(status=200, content_type="application/json", body=b"{}"):
    return Answer(status, content_type, body, 0.0)


def test_what_differs_is_status_then_content_type_then_body():
    assert answer_difference(answer(), answer()) is None
    assert answer_difference(answer(400), answer()) == "status 400 in production, 200 here"
    kit = answer(content_type="application/json; charset=utf-8")
    assert answer_difference(answer(), kit) == (
        "Content-Type application/json in production, application/json; charset=utf-8 here"
    )
    off = answer_difference(answer(body=b'{"a": 0.5}'), answer(body=b'{"a": 0.51}'))
    assert off == 'body differs from production\'s: answer["a"] is 0.51, expected 0.5'
    assert answer_difference(answer(body=b'{"a": 0.5}'), answer(body=b'{"a": 0.51}'), 0.05) is None
    png_a, png_b = answer(content_type="image/png", body=b"a"), answer(content_type="image/png")
    assert answer_difference(png_a, png_b) == ("body: 1 bytes in production, 2 here, not equal")
    # The kit words its refusals its own way: two error bodies are the same answer.
    errors = answer(400, body=b'{"error": "x"}'), answer(400, body=b'{"error": "y, do z"}')
    assert answer_difference(*errors) is None
    assert answer_difference(answer(400, body=b'{"error": "x"}'), answer(400, body=b"[]"))


def test_without_the_toolkit_it_says_how_to_get_it(tmp_path):
    (tmp_path / "handler.py").write_text((FIXTURES / "production" / "same.py").read_text())
    with pytest.raises(HandlerKitError) as raised:
        against_production(tmp_path, toolkit=tmp_path / "no-toolkit")
    assert "no such file or folder" in str(raised.value)
    assert "huggingface/huggingface-inference-toolkit" in str(raised.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HandlerKitError, match=r"no handler\.py in"):
        against_production(tmp_path / "empty")
    with pytest.raises(HandlerKitError, match="no such folder"):
        against_production(tmp_path / "nowhere")


def test_a_handler_file_named_by_the_environment_is_the_entry(tmp_path, monkeypatch):
    # HF_DEFAULT_PIPELINE_NAME=my_handler.py: production imports that file, so may the kit.
    monkeypatch.setattr(
        repository_module,
        "ENTRIES",
        repository_module.entries({"HF_DEFAULT_PIPELINE_NAME": "my_handler.py"}),
    )
    (tmp_path / "my_handler.py").write_text((FIXTURES / "production" / "same.py").read_text())
    with pytest.raises(HandlerKitError, match="no such file or folder"):  # past the entry
        against_production(tmp_path, toolkit=tmp_path / "no-toolkit")


@pytest.fixture
def base(tmp_path, monkeypatch):
    """A python with no packages for the requirements venv to see; the cache in tmp_path."""
    monkeypatch.setenv("HANDLER_KIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "base"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120
    )
    repo = tmp_path / "repo"
    repo.mkdir()
    return repo, folder / "bin" / "python"


def test_the_requirements_venv_is_made_again_over_a_base_that_changed(base):
    # Keyed by the base's packages too: over production's venv rebuilt with other pins, a
    # requirements venv that pip resolved against the old one must not be reused.
    repo, python = base
    (repo / "requirements.txt").write_text("# nothing beyond the image\n")
    first = with_requirements(repo, python)
    assert with_requirements(repo, python) == first  # cached
    (_site_packages(python) / "newpin-2.0.dist-info").mkdir()
    assert with_requirements(repo, python) != first


def test_the_requirements_venv_is_made_again_when_an_included_file_changes(base):
    repo, python = base
    (repo / "requirements.txt").write_text("-r more.txt\n-c limits.txt\n")
    (repo / "more.txt").write_text("--no-index\n")
    (repo / "limits.txt").write_text("tinypkg<2\n")
    first = with_requirements(repo, python)
    (repo / "more.txt").write_text("--no-index\n--prefer-binary\n")
    second = with_requirements(repo, python)
    (repo / "limits.txt").write_text("tinypkg<3\n")
    third = with_requirements(repo, python)
    assert len({first, second, third}) == 3


def test_a_path_relative_to_the_repository_fails_as_in_production(base):
    # Production's pip runs in /app: ./tinypkg...whl is not there, and its server never starts.
    repo, python = base
    wheel = tiny_wheel(repo)
    (repo / "requirements.txt").write_text(f"./{wheel.name}\n")
    with pytest.raises(HandlerKitError, match=r"installing requirements\.txt") as raised:
        with_requirements(repo, python)
    assert "/app" in raised.value.hint


def test_a_python_that_fails_to_say_where_its_packages_are_is_named(tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'no such module' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(HandlerKitError, match="did not say where its packages are") as raised:
        _site_packages(broken)
    assert "no such module" in str(raised.value)


def test_the_check_against_production_shows_and_judges_both_reports(tmp_path):
    report = CheckReport(tmp_path)
    row = ComparisonRow("good", Status.DIFFERS, "status 400 in production, 200 here")
    result = ProductionCheck(report, ProductionComparison(tmp_path, [row]))
    assert not result.ok  # ready to deploy, but it answers otherwise in production
    text = str(result)
    assert text.startswith(f"Deployment check of {tmp_path}\n")
    assert text.endswith("1 of 1 case differs from production")
    page = result._repr_html_()
    assert "Deployment check of" in page and "Production against the kit on" in page
    result.comparison.rows[0] = ComparisonRow("good", Status.SAME, "200")
    assert result.ok


def test_the_comparison_api_is_public():
    import handler_kit

    for name in ("against_production", "check_against_production", "ProductionCheck"):
        assert name in handler_kit.__all__
    assert handler_kit.check_against_production is check_against_production


def test_numbers_that_differ_in_their_last_bits_are_the_same_answer():
    # Seen between production's numpy 1.x and this venv's: the same score, other last bits.
    from handler_kit.cases.case import Case

    production = b'[{"label": "science", "score": 0.23783064665874948}]'
    kit = b'[{"label": "science", "score": 0.23783064665874942}]'
    plain = Case("plain", payload={"inputs": "x"})
    assert answer_difference(answer(body=production), answer(body=kit), tolerance_of(plain)) is None
    assert answer_difference(answer(body=production), answer(body=kit)) is not None
    off = b'[{"label": "science", "score": 0.2379}]'
    assert answer_difference(answer(body=production), answer(body=off), tolerance_of(plain))
    given = Case("given", payload={"inputs": "x"}, tolerance=0.01, has_tolerance=True)
    assert tolerance_of(given) == 0.01
