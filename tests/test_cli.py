"""cli.py: `handler-kit call` prints the answer as JSON; `handler-kit test` runs notebooks;
`check --against-production` compares after the check."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from handler_kit.cli import main
from handler_kit.endpoint import contract


def small_notebook(path: Path, *cells: str, parameters: str | None = None) -> Path:
    """A notebook of code cells, after a cell tagged `parameters` when one is given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    if parameters is not None:
        nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


def test_call_prints_the_answer_as_json(repo, capsys):
    repo.write("handler.py", "base.py")
    assert main(["call", str(repo.path), '{"inputs": "a good day"}']) == 0
    assert json.loads(capsys.readouterr().out) == [{"label": "positive", "score": 1.0}]


def test_bad_payload_and_bad_repo_exit_non_zero_with_a_reason(repo, capsys):
    repo.write("handler.py", "base.py")
    assert main(["call", str(repo.path), "{inputs: 1}"]) == 1
    assert "the payload is not JSON" in capsys.readouterr().err
    assert main(["call", str(repo.path), '["a"]']) == 1
    assert (
        "a JSON object with an `inputs` key (or `instances`); got a list" in capsys.readouterr().err
    )
    assert main(["call", str(repo.path / "missing"), '{"inputs": "x"}']) == 1
    assert "no such folder" in capsys.readouterr().err


def test_call_checks_the_payload_once(repo, capsys, monkeypatch):
    repo.write("handler.py", "base.py")
    checked, check = [], contract.check_payload
    monkeypatch.setattr(
        contract, "check_payload", lambda *a, **k: checked.append(a) or check(*a, **k)
    )
    assert main(["call", str(repo.path), '{"inputs": "a good day"}']) == 0
    assert len(checked) == 1  # by the command line, not again by the LiveHandler it calls


ECHO_HANDLER = """\
class EndpointHandler:
    def __init__(self, path=""):
        pass

    def __call__(self, data):
        inputs = data["inputs"]
        what = type(inputs).__name__ if isinstance(inputs, bytes) else inputs
        return {"inputs": what, "size": len(inputs), "parameters": data.get("parameters")}
"""


def png_file(path: Path, size=(5, 3)) -> Path:
    from PIL import Image

    Image.new("RGBA", size, "red").save(path, format="PNG")
    return path


def test_call_sends_a_file_decoded_as_production_decodes_its_type(repo, tmp_path, capsys):
    repo.write("handler.py", "image_handler.py")
    image = png_file(tmp_path / "no-suffix")  # the type is told by the bytes, not the name
    assert main(["call", str(repo.path), f"@{image}"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"label": "RGB 5x3", "score": 1.0}]
    assert main(["call", str(repo.path), f"@{image}", "--content-type", "image/jpeg"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] == "RGB 5x3"  # any image type
    # A type production refuses for this body: its 400, in the endpoint's words.
    assert main(["call", str(repo.path), f"@{image}", "--content-type", "application/json"]) == 1
    err = capsys.readouterr().err
    assert "the body is a PNG image" in err and "Send it with `Content-Type: image/png`" in err


def test_call_sends_audio_as_bytes_json_files_as_json_and_query_parameters(repo, tmp_path, capsys):
    repo.write("handler.py", text=ECHO_HANDLER)
    wav = tmp_path / "clip.wav"
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(20))
    assert main(["call", str(repo.path), f"@{wav}", "-q", "top_k=2", "-q", "raw=true"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "inputs": "bytes",
        "size": 36,
        "parameters": {"top_k": 2, "raw": True},  # converted as production converts them
    }
    payload = tmp_path / "payload.json"
    payload.write_text('{"inputs": "abc"}')
    assert main(["call", str(repo.path), f"@{payload}"]) == 0
    assert json.loads(capsys.readouterr().out)["inputs"] == "abc"
    notes = tmp_path / "notes.txt"
    notes.write_text("just words")
    assert main(["call", str(repo.path), f"@{notes}"]) == 1
    assert "--content-type TYPE" in capsys.readouterr().err
    assert main(["call", str(repo.path), f"@{tmp_path / 'missing.png'}"]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["call", str(repo.path), '{"inputs": "a"}', "-q", "novalue"]) == 1
    assert "not NAME=VALUE" in capsys.readouterr().err


def test_call_prints_the_answer_as_production_serialises_it(repo, capsys):
    repo.write(
        "handler.py",
        text=HANDLER_RETURNING.format(
            imports="import numpy as np", answer='{"score": np.float32(0.5), "n": np.int64(3)}'
        ),
    )
    assert main(["call", str(repo.path), '{"inputs": "a"}']) == 0
    assert json.loads(capsys.readouterr().out) == {"score": 0.5, "n": 3}
    repo.write("handler.py", text=HANDLER_RETURNING.format(imports="", answer="{1, 2}"))
    assert main(["call", str(repo.path), '{"inputs": "a"}']) == 1  # production: 400
    assert "answer is a set, which production cannot turn into JSON" in capsys.readouterr().err


HANDLER_RETURNING = """\
{imports}


class EndpointHandler:
    def __init__(self, path=""):
        pass

    def __call__(self, data):
        return {answer}
"""


def test_serve_on_a_taken_port_says_so_before_it_loads_the_handler(repo, tmp_path, capsys):
    built = tmp_path / "built"
    repo.write("handler.py", text=HANDLER_RETURNING.format(imports="", answer="[]"))
    handler = repo.path / "handler.py"
    handler.write_text(handler.read_text().replace("pass", f"open({str(built)!r}, 'w').close()", 1))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(repo.path), "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert not built.exists()  # the handler (its model) was never built


def test_console_script_is_installed(repo):
    repo.write("handler.py", "base.py")
    out = subprocess.run(
        [Path(sys.executable).parent / "handler-kit", "call", str(repo.path), '{"inputs": "good"}'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)[0]["label"] == "positive"


def test_python_dash_m_runs_it_where_the_script_is_not_on_path(repo):
    # A kernel's `!handler-kit` finds no script when its venv is not on PATH: this works.
    repo.write("handler.py", "base.py")
    command = [sys.executable, "-m", "handler_kit", "call", str(repo.path), '{"inputs": "good"}']
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert json.loads(out)[0]["label"] == "positive"


def test_a_notebook_that_times_out_does_not_stop_the_next_one(tmp_path, capsys):
    slow = small_notebook(tmp_path / "slow.ipynb", "import time; time.sleep(60)")
    fine = small_notebook(tmp_path / "fine.ipynb", "x = 1")
    args = ["test", str(slow), str(fine), "--output", str(tmp_path / "out"), "--timeout", "2"]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert f"{slow}: cell 1 failed: CellTimeoutError: the cell ran over 2 s" in err
    assert "fine.ipynb passed" in out
    assert out.splitlines()[-1] == "2 notebooks: 1 passed, 1 failed"


def test_any_error_is_reported_per_notebook_and_the_summary_printed(tmp_path, capsys):
    a = small_notebook(tmp_path / "a.ipynb", "x = 1")
    b = small_notebook(tmp_path / "b.ipynb", "x = 1")
    args = ["test", str(a), str(b), "--output", str(tmp_path / "out"), "--kernel", "no-such"]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert f"handler-kit: {a}: NoSuchKernel: " in err and f"handler-kit: {b}: NoSuchKernel" in err
    assert out.splitlines()[-1] == "2 notebooks: 0 passed, 2 failed"


def test_kernel_and_working_directory_can_be_chosen(tmp_path, capsys):
    notebook = small_notebook(
        tmp_path / "nb" / "where.ipynb",
        "import os, sys",
        "assert os.path.samefile(os.getcwd(), os.environ['WANT']), os.getcwd()",
    )
    args = ["test", str(notebook), "--output", str(tmp_path / "out"), "--kernel", "python3"]
    os.environ["WANT"] = str(tmp_path / "nb")  # the notebook's folder, by default
    try:
        assert main(args) == 0
        os.environ["WANT"] = str(tmp_path)
        assert main([*args, "--cwd", str(tmp_path)]) == 0
    finally:
        del os.environ["WANT"]
    assert capsys.readouterr().out.count("1 notebook: 1 passed, 0 failed") == 2


def test_notebooks_of_the_same_name_keep_their_own_executed_copies(tmp_path, capsys):
    first = small_notebook(tmp_path / "p" / "a" / "x.ipynb", "assert 0, 'first'")
    second = small_notebook(tmp_path / "q" / "a" / "x.ipynb", "assert 0, 'second'")
    out_dir = tmp_path / "out"
    assert main(["test", str(first), str(second), "--output", str(out_dir)]) == 1
    out = capsys.readouterr().out
    for copy, said in [
        (out_dir / "a" / "x.ipynb", "first"),
        (out_dir / "a-2" / "x.ipynb", "second"),
    ]:
        assert f"x.ipynb failed at cell 1: AssertionError: {said} ({copy})" in out
        assert f"assert 0, '{said}'" in copy.read_text()  # not overwritten by the other


def test_a_folder_means_its_notebooks_each_given_the_parameters_it_declares(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    small_notebook(folder / "a.ipynb", "assert label == 'joy', label", parameters="label = 'x'")
    small_notebook(folder / "b.ipynb", "assert 'label' not in globals()", parameters="w = ''")
    small_notebook(folder / ".ipynb_checkpoints" / "a-checkpoint.ipynb", "assert 0")
    small_notebook(folder / "sub" / "c.ipynb", "assert 0")  # a subfolder's: not the folder's
    out_dir = tmp_path / "out"
    assert main(["test", f"{folder}/", "-p", "label", "joy", "--output", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "a.ipynb passed" in out and "b.ipynb passed" in out  # b was not given `label`
    assert out.splitlines()[-1] == "2 notebooks: 2 passed, 0 failed"
    # A parameter no notebook declares (a typo) is said before anything runs.
    assert main(["test", str(folder), "-p", "lable", "joy", "--output", str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err
    assert (
        "no notebook declares the parameter lable; their parameters cells declare: label, " in err
    )
    assert not (tmp_path / "o2").exists()
    (tmp_path / "empty").mkdir()
    assert main(["test", str(tmp_path / "empty")]) == 1
    assert "no notebooks in" in capsys.readouterr().err


class Reported:
    """A stand-in for a report (CheckReport, ProductionComparison): its text and its verdict."""

    def __init__(self, text, ok=True):
        self.text, self.ok, self.verdict = text, ok, f"{text} verdict"

    def __str__(self):
        return self.text


@pytest.mark.parametrize("same", [True, False])
def test_check_against_production_compares_after_the_check(repo, capsys, monkeypatch, same):
    calls = []
    run = "handler_kit.checks.against_production."
    monkeypatch.setattr(run + "find_toolkit", lambda path: calls.append(path) or "kit")
    checked = Reported("checked")
    monkeypatch.setattr(run + "check", lambda *a: calls.append("check") or checked)

    def against_production(repo, cases, toolkit, timeout, echo, env):
        echo("starting")
        calls.append(("compare", repo, cases, toolkit, env))
        return Reported(f"compared, ok={same}", same)

    monkeypatch.setattr(run + "against_production", against_production)
    argv = ["check", str(repo.path), "--against-production", "--toolkit", "/src/toolkit"]
    assert main([*argv, "--env", "A=1"]) == (0 if same else 1)
    compared = ("compare", str(repo.path), None, "kit", {"A": "1"})
    assert calls == ["/src/toolkit", "check", compared]
    printed = capsys.readouterr()
    assert printed.out == f"checked\n\ncompared, ok={same}\n"  # both reports
    # Progress goes to stderr, the tables to stdout.
    assert printed.err == "check: checked verdict\nstarting\n"


def test_check_says_how_to_get_the_toolkit_before_it_runs(repo, tmp_path, capsys, monkeypatch):
    ran = []
    monkeypatch.setattr("handler_kit.checks.against_production.check", lambda *a: ran.append(a))
    argv = ["check", str(repo.path), "--against-production", "--toolkit", str(tmp_path / "no")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "no such file or folder" in err and "huggingface-inference-toolkit" in err
    assert ran == []  # said at once, not after a check of minutes
    assert main(["check", str(repo.path), "--toolkit", str(tmp_path)]) == 1
    assert "--toolkit goes with --against-production" in capsys.readouterr().err


def test_a_notebook_failing_in_its_third_cell_is_reported_as_cell_3(tmp_path, capsys):
    notebook = small_notebook(tmp_path / "three.ipynb", "x = 1", "y = 2", "assert x == y, 'x is 1'")
    out_dir = tmp_path / "out"
    assert main(["test", str(notebook), "--output", str(out_dir)]) == 1
    out, err = capsys.readouterr()
    copy = out_dir / "three.ipynb"
    assert f"three.ipynb failed at cell 3: AssertionError: x is 1 ({copy})" in out
    assert out.splitlines()[-1] == "1 notebook: 0 passed, 1 failed"
    assert f"{notebook}: cell 3 failed: AssertionError: x is 1" in err
    assert f"HTML: {out_dir / 'three.html'}" in err


def test_notebook_parameters_are_json_when_they_parse(tmp_path, capsys):
    notebook = small_notebook(
        tmp_path / "params.ipynb",
        "assert (n, label) == (3, 'joy'), (n, label)",
        parameters="n = 0\nlabel = ''",
    )
    args = ["test", str(notebook), "--output", str(tmp_path / "out")]
    assert main([*args, "-p", "n", "3", "-p", "label", "joy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("params.ipynb passed in ")
    assert out.splitlines()[-1] == "1 notebook: 1 passed, 0 failed"
    assert main([*args, "-p", "n", '"3"', "-p", "label", "joy"]) == 1  # "3" is a string


def test_a_missing_notebook_fails_the_run(tmp_path, capsys):
    assert main(["test", str(tmp_path / "nope.ipynb"), "--output", str(tmp_path / "out")]) == 1
    assert "no such notebook" in capsys.readouterr().err
