"""cli.py: `handler-kit call` loads a repository and prints the answer as JSON."""

import json
import subprocess
import sys
from pathlib import Path

from handler_kit.cli import main


def test_call_prints_the_answer_as_json(repo, capsys):
    repo.write("handler.py", "base.py")
    assert main(["call", str(repo.path), '{"inputs": "a good day"}']) == 0
    assert json.loads(capsys.readouterr().out) == [{"label": "positive", "score": 1.0}]


def test_bad_payload_and_bad_repo_exit_non_zero_with_a_reason(repo, capsys):
    repo.write("handler.py", "base.py")
    assert main(["call", str(repo.path), "{inputs: 1}"]) == 1
    assert "the payload is not JSON" in capsys.readouterr().err
    assert main(["call", str(repo.path), '["a"]']) == 1
    assert "a JSON object with an `inputs` field" in capsys.readouterr().err
    assert main(["call", str(repo.path / "missing"), '{"inputs": "x"}']) == 1
    assert "no such folder" in capsys.readouterr().err


def test_console_script_is_installed(repo):
    repo.write("handler.py", "base.py")
    out = subprocess.run(
        [Path(sys.executable).parent / "handler-kit", "call", str(repo.path), '{"inputs": "good"}'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)[0]["label"] == "positive"
