"""The project's own files: environment.yml and pyproject.toml name the same packages."""

import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_and_pyproject_name_the_same_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    from_pip = {_name(r) for r in pip if not r.startswith("-e")}
    assert conda | from_pip == wanted
    # The project itself, with its test extras, comes in through pip.
    assert "-e .[test]" in pip


def test_torch_is_pinned_to_the_cpu_build_everywhere_it_is_installed():
    assert (
        "torch==2.13.0"
        in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"][-1]["pip"]
    )
    assert "TORCH := torch==2.13.0" in (ROOT / "Makefile").read_text()
