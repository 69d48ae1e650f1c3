"""checks/environment.py: where this environment is not production's, said once."""

from check_support import handler

from handler_kit import CheckReport
from handler_kit.checks.environment import differences
from handler_kit.checks.imports import import_rows
from handler_kit.checks.report import Difference, Row
from handler_kit.packages.environment import Environment
from handler_kit.packages.image import production


def test_a_version_here_that_differs_from_productions_is_a_row():
    image = production()
    transformers = image.package("transformers")
    assert transformers.differs("5.24.0") == "transformers 5.24.0 here, 4.51.3 in production"
    assert transformers.differs("4.51.0") is None  # the same major and minor
    tokenizers = image.package("tokenizers")
    assert "tokenizers 0.23.3 here; production has tokenizers>=0.21,<0.22" in tokenizers.differs(
        "0.23.3"
    )
    assert tokenizers.differs("0.21.4") is None


def with_versions(**versions: str) -> Environment:
    """This environment, with other versions of some distributions."""
    here = Environment.here()
    return Environment(**{**here.__dict__, "versions": {**here.versions, **versions}})


def test_another_version_of_an_imported_package_is_said_of_the_environment_not_warned(repo):
    repo.write("handler.py", text=handler("[]", "import transformers\nimport holidays\n"))
    repo.write("requirements.txt", text="holidays\n")
    environment = with_versions(transformers="5.24.0")
    assert [r.check for r in import_rows(repo.path, environment)] == ["imports"]  # no row
    assert differences(repo.path, environment) == [Difference("transformers", "5.24.0", "4.51.3")]
    assert differences(repo.path, with_versions(transformers="4.51.3")) == []


def test_numpy_2_here_is_said_against_productions_numpy_below_2_and_never_to_pin(repo):
    # pyctcdecode, in production's image, holds numpy below 2: numpy 2.x here is not production,
    # and pinning numpy 2 in requirements.txt would fight production's own image.
    repo.write("handler.py", text=handler("[]", "import numpy as np\n"))
    environment = with_versions(numpy="2.4.6")
    assert [r.check for r in import_rows(repo.path, environment)] == ["imports"]
    assert differences(repo.path, environment) == [Difference("numpy", "2.4.6", ">=1.17,<2.0.0")]
    assert differences(repo.path, with_versions(numpy="1.26.4")) == []


def test_the_environment_is_said_once_above_the_rows_and_the_verdict_is_unwarned(repo, capsys):
    repo.write("handler.py", text=handler("[]", "import numpy as np\nimport transformers\n"))
    environment = with_versions(numpy="2.4.6", transformers="5.24.0")
    report = CheckReport(
        repo.path, [Row("entry", "pass", "built")], differences(repo.path, environment)
    )
    text = str(report).splitlines()
    assert text[1] == (
        "This environment is not production's: numpy 2.4.6 here, >=1.17,<2.0.0 in production; "
        "transformers 5.24.0 here, 4.51.3 in production. That is about this machine, not the "
        "repository: nothing to change or pin. The rows below ran with these versions; to see "
        "production's behaviour, check with --against-production (its real server and "
        "versions) or --python PATH (a venv with its versions)."
    )
    assert text[-1] == "ready to deploy" and "pin it" not in str(report)
    assert "This environment is not production&#x27;s" in report._repr_html_()
    assert CheckReport(repo.path, []).notes() == []


def test_another_python_than_productions_is_said_of_the_environment(repo):
    repo.write("handler.py", "base.py")
    here = Environment.here()
    assert differences(repo.path, Environment(**{**here.__dict__, "python": "3.11.9"})) == []
    other = Environment(**{**here.__dict__, "python": "3.12.1"})
    assert differences(repo.path, other) == [Difference("Python", "3.12.1", "3.11")]
