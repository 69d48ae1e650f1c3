"""templates: `handler-kit new`, each template's model, quality and deployment check.

The models are built once (the cache is shared with the gallery notebook and later runs);
the quality figures each build measured are asserted against a floor here and printed in the
summary at the end of the run.
"""

import pytest

from handler_kit import check, samples, templates
from handler_kit.cases import load_cases
from handler_kit.check import import_rows
from handler_kit.cli import main
from handler_kit.errors import HandlerKitError

NAMES = templates.names()
# The figure each build measures, and the floor it must reach (a ceiling for perplexity and
# the ONNX differences). The floors: held-out accuracy above 0.9 for images.
FLOORS = {
    "onnx-text-classification": [("max_abs_diff", "<=", 1e-4), ("labels_agree", ">=", 1.0)],
    "sentence-embeddings": [("max_abs_diff", "<=", 1e-4), ("min_cosine", ">=", 0.9999)],
    "setfit-classification": [("accuracy", ">=", 0.85)],
    "image-classification": [("accuracy", ">=", 0.9)],
    "image-to-text": [("char_accuracy", ">=", 0.95)],
    "audio-classification": [("accuracy", ">=", 0.9)],
    "token-classification": [("f1", ">=", 0.8)],
    "text-generation": [("perplexity", "<=", 100)],
}
MODEL_FILES = {".safetensors", ".onnx", ".pkl"}


def test_the_listing_shows_at_least_eight_templates_one_line_each(capsys):
    assert main(["new", "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(NAMES) >= 8
    assert [line.split()[0] for line in lines] == NAMES
    assert set(FLOORS) == set(NAMES)  # every template has a quality floor


def test_an_unknown_template_names_the_close_ones(tmp_path, capsys):
    assert main(["new", "image-clasification", str(tmp_path / "repo")]) == 1
    err = capsys.readouterr().err
    assert "no template called 'image-clasification'" in err
    assert "did you mean image-classification" in err
    assert not (tmp_path / "repo").exists()


def test_new_never_writes_into_a_folder_in_use(tmp_path):
    (tmp_path / "mine.txt").write_text("my work")
    with pytest.raises(HandlerKitError, match="not empty"):
        templates.new("text-generation", tmp_path, model=False)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_new_without_a_template_or_folder_says_what_to_give(capsys):
    assert main(["new", "text-generation"]) == 1
    assert "give a TEMPLATE and a DEST folder, or --list" in capsys.readouterr().err


@pytest.mark.parametrize("name", NAMES)
def test_no_model_writes_the_repository_files_and_cases(name, tmp_path, capsys):
    repo = tmp_path / name
    assert main(["new", name, str(repo), "--no-model"]) == 0
    out = capsys.readouterr().out
    assert f"next: handler-kit check {repo}" in out
    files = {p.name for p in repo.iterdir()}
    assert {"handler.py", "requirements.txt", "README.md", ".gitattributes", "cases"} <= files
    assert not {p for p in repo.iterdir() if p.suffix in MODEL_FILES}
    cases = load_cases(repo / "cases")
    assert len(cases) >= 2
    for case in cases:
        case.data()  # every case decodes as production decodes its body


@pytest.mark.parametrize("name", NAMES)
def test_the_handler_imports_nothing_that_requirements_and_production_lack(name, tmp_path):
    repo = templates.new(name, tmp_path / name, model=False)
    rows = import_rows(repo)
    assert [row.status for row in rows] == ["pass"], rows


@pytest.fixture(scope="session")
def built():
    """Each template's model folder, built on first use (cached across runs)."""
    folders = {}

    def get(name: str):
        if name not in folders:
            folders[name] = templates.get(name).model(progress=False)
        return folders[name]

    return get


@pytest.mark.model
@pytest.mark.parametrize("name", NAMES)
def test_the_model_reaches_its_quality_floor(name, built, quality):
    info = samples.build_info(built(name))
    for figure, sense, bound in FLOORS[name]:
        value = info[figure]
        quality(name, figure, value, f"{sense} {bound:g}", info.get("seconds"))
        assert value <= bound if sense == "<=" else value >= bound, (name, figure, value)


@pytest.mark.model
@pytest.mark.parametrize("name", NAMES)
def test_a_new_repository_passes_the_deployment_check(name, built, tmp_path, capsys):
    built(name)
    assert main(["new", name, str(tmp_path / name)]) == 0
    report = check(tmp_path / name)
    assert report.ok, str(report)
    assert not report.warnings, str(report)
    case_rows = [row for row in report.rows if row.check.startswith("case ")]
    assert len(case_rows) >= 2 and all(row.status == "pass" for row in case_rows)
