"""magics.py: the magics in a real IPython shell (the papermill kernel run is in test_notebooks)."""

import re
import threading
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from handler_kit import CheckReport, HandlerKitError, HandlerReloadError, LiveHandler

GOOD = {"inputs": "a good day"}


@pytest.fixture(scope="module")
def shell():
    shell = InteractiveShell.instance()
    shell.run_line_magic("colors", "nocolor")
    shell.run_line_magic("load_ext", "handler_kit")
    yield shell
    InteractiveShell.clear_instance()


@pytest.fixture
def run(shell, capsys):
    """Run a cell; return (stdout, stderr, error) like a notebook would show them."""
    shell.user_ns.pop("handler", None)

    def run(cell):
        result = shell.run_cell(cell)
        out, err = capsys.readouterr()
        return out, err, result.error_in_exec

    yield run
    shell.run_line_magic("handler_autoreload", "off")
    capsys.readouterr()


@pytest.fixture
def loaded(repo, run, shell):
    repo.write("handler.py", "base.py")
    _, _, error = run(f"%handler_load {repo.path}")
    assert error is None
    return shell.user_ns["handler"]


def test_load_binds_the_handler_and_shows_it(repo, run, shell):
    repo.write("handler.py", "base.py")
    out, _, error = run(f"%handler_load '{repo.path}' --name clf")
    assert error is None
    live = shell.user_ns["clf"]
    assert isinstance(live, LiveHandler)
    assert out.startswith("<LiveHandler EndpointHandler from ")
    assert live(GOOD) == [{"label": "positive", "score": 1.0}]


def test_load_error_is_the_cells_error(tmp_path, run, shell):
    _, _, error = run(f"%handler_load {tmp_path / 'nowhere'}")
    assert isinstance(error, HandlerKitError)
    assert "no such folder" in str(error)
    assert "handler" not in shell.user_ns


def test_reload_prints_one_line(loaded, repo, run):
    model = loaded.instance.model
    repo.write("handler.py", "call_edited.py")
    out, _, error = run("%handler_reload")
    assert error is None
    assert out.count("\n") == 1
    assert out.startswith("handler.py reloaded hot in ")
    assert out.strip().endswith("__call__ changed; kept model, split")
    assert loaded.instance.model is model


def test_reload_modes_are_flags(loaded, repo, run):
    repo.write("handler.py", "init_edited.py")
    out, _, _ = run("%handler_reload --hot")
    assert "reloaded hot (forced)" in out
    out, _, _ = run("%handler_reload --reinit")
    assert "re-initialised (forced)" in out
    _, _, error = run("%handler_reload --hot --reinit")
    assert "choose one of --hot and --reinit" in str(error)


def test_failed_reload_fails_the_cell_and_keeps_the_handler(loaded, repo, run, shell):
    repo.write("handler.py", "syntax_error.py")
    out, _, error = run("%handler_reload")
    assert isinstance(error, HandlerReloadError)
    assert f"{repo.path.resolve() / 'handler.py'}:27: SyntaxError" in str(error)
    # Shown as the message alone: the user's file and line, none of the kit's frames.
    assert out.startswith(f"HandlerReloadError: {repo.path.resolve() / 'handler.py'}:27: ")
    assert "magics.py" not in out and "Traceback" not in out
    assert shell.user_ns["handler"] is loaded
    assert loaded(GOOD)[0]["label"] == "positive"


def test_reload_without_a_loaded_handler_says_what_to_do(run):
    _, _, error = run("%handler_reload")
    assert "`handler` is nothing, not a loaded handler" in str(error)
    assert "%handler_load PATH" in str(error)


def test_handler_file_writes_and_reloads(loaded, repo, run):
    source = (repo.path / "handler.py").read_text()
    source = source.replace("postprocess(label)\n", "postprocess(label.title())\n")
    out, _, error = run(f"%%handler_file {repo.path / 'handler.py'}\n{source}")
    assert error is None
    assert (repo.path / "handler.py").read_text() == source
    assert out.startswith("handler.py reloaded hot in ")
    assert loaded(GOOD)[0]["label"] == "Positive"


def test_handler_file_without_a_path_writes_the_loaded_handlers_file_and_reloads(
    loaded, repo, run, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # not next to the notebook: into the handler's repository
    source = (repo.path / "handler.py").read_text()
    source = source.replace("postprocess(label)\n", "postprocess(label.title())\n")
    out, _, error = run(f"%%handler_file\n{source}")
    assert error is None and out.startswith("handler.py reloaded hot in ")
    assert (repo.path / "handler.py").read_text() == source
    assert not (tmp_path / "handler.py").exists()
    assert loaded(GOOD)[0]["label"] == "Positive"


def test_handler_file_without_a_path_or_a_handler_refuses(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, _, error = run("%%handler_file\nclass EndpointHandler: pass")
    assert isinstance(error, HandlerKitError)
    assert "%%handler_file without a path writes the handler.py of `handler`" in str(error)
    assert "%%handler_file path/to/handler.py" in str(error) and "%handler_load PATH" in str(error)
    assert list(tmp_path.iterdir()) == []


def test_handler_file_elsewhere_says_it_reloaded_nothing(loaded, run, tmp_path):
    target = tmp_path / "other" / "handler.py"
    out, _, error = run(f"%%handler_file {target}\nclass EndpointHandler: pass")
    assert error is None
    note = f"(not in the repository of `handler`, {loaded.path}: nothing reloaded)"
    assert out == f"Wrote {target}\n{note}\n"


def test_handler_file_without_a_handler_only_writes(tmp_path, run):
    target = tmp_path / "new" / "handler.py"
    out, _, error = run(f"%%handler_file {target}\nclass EndpointHandler: pass")
    assert error is None
    assert out == f"Wrote {target}\n"
    assert target.read_text() == "class EndpointHandler: pass\n"


def test_autoreload_reloads_before_a_cell_and_is_silent_otherwise(loaded, repo, run):
    out, _, _ = run("%handler_autoreload on")
    assert out == "handler autoreload is on\n"
    assert run("pass")[:2] == ("", "")  # nothing changed: silent

    repo.write("handler.py", "call_edited.py")
    out, _, _ = run("x = handler({'inputs': 'a good day'})[0]['label']")
    assert out.startswith("handler.py reloaded hot in ")
    assert run("print(x)")[0] == "POSITIVE\n"  # the cell ran on the new code

    repo.write("handler.py", "syntax_error.py")
    _, err, _ = run("pass")
    assert err.startswith("handler autoreload failed: ")
    assert ":27: SyntaxError" in err
    assert run("pass")[1] == ""  # the same broken file is not reported again
    assert loaded(GOOD)[0]["label"] == "POSITIVE"

    run("%handler_autoreload off")
    repo.write("handler.py", "base.py")
    assert run("pass")[0] == ""
    assert loaded(GOOD)[0]["label"] == "POSITIVE"


def test_autoreload_covers_the_form_and_the_endpoint_without_a_cell(loaded, repo, run, shell):
    import httpx

    run("%handler_autoreload on")
    run("%handler_form")
    form = shell.user_ns["handler_form"]
    form.fields["inputs"].editor.value = "a good day"
    repo.write("handler.py", "call_edited.py")  # saved in an editor; no cell runs
    form.send_button.click()
    form.wait(10)
    assert form.history[-1].answer[0]["label"] == "POSITIVE"
    assert "handler.py reloaded hot in " in form.reloaded.value
    assert run("pass")[:2] == ("", "")  # the form said it: the next cell does not again

    run("%handler_serve")
    endpoint = shell.user_ns["handler_endpoint"]
    try:
        repo.write("handler.py", "base.py")
        assert httpx.post(endpoint.url, json=GOOD).json()[0]["label"] == "positive"
        repo.write("handler.py", "syntax_error.py")
        for _ in range(3):  # the last good handler answers
            assert httpx.post(endpoint.url, json=GOOD).json()[0]["label"] == "positive"
        out, err, _ = run("pass")  # what the endpoint's calls reloaded, said once
        assert out.startswith("handler.py reloaded hot in ")
        assert err.count("handler autoreload failed: ") == 1 and ":27: SyntaxError" in err
        assert run("pass")[:2] == ("", "")
    finally:
        run("%handler_serve --stop")


def test_autoreload_reaches_handlers_loaded_after_it_and_off_detaches_them(repo, run, shell):
    repo.write("handler.py", "base.py")
    run("%handler_autoreload on")
    run(f"%handler_load {repo.path} --name later")
    later = shell.user_ns["later"]
    assert later.autoreload is not None  # attached after the cell that bound it
    repo.write("handler.py", "call_edited.py")
    answer = []
    thread = threading.Thread(target=lambda: answer.append(later(GOOD)))  # not from a cell
    thread.start()
    thread.join(10)
    assert answer[0][0]["label"] == "POSITIVE"
    run("%handler_autoreload off")
    assert later.autoreload is None


def test_a_cells_call_shows_a_traceback_without_the_kits_frames(repo, run, shell):
    repo.write("handler.py", "server/inspect_handler.py")
    run(f"%handler_load {repo.path}")
    out, err, error = run("handler({'inputs': 'x', 'fail': 'nope'})")
    assert isinstance(error, ValueError)
    shown = out + err
    assert "handler.py" in shown and "the handler refused: nope" in shown
    assert "live.py" not in shown and "self._instance(data)" not in shown


def test_a_bad_payload_raises_the_error_the_readme_names(loaded, run):
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    named = re.search(r"or the call raises `(\w+)`\s+\(`([\w.]+)`", readme)
    assert named, "the README no longer says which error a bad payload raises"
    _, _, error = run("handler({'text': 'no inputs'})")
    assert type(error).__name__ == named.group(1)
    assert f"{type(error).__module__}.{type(error).__name__}" == named.group(2)
    assert isinstance(error, HandlerKitError)


def test_form_without_a_sample_takes_the_repositorys_first_case(loaded, repo, run, shell):
    repo.write(
        "cases/first.json", text='{"payload": {"inputs": "a good day", "date": "2022-08-08"}}'
    )
    run("%handler_form")
    assert shell.user_ns["handler_form"].payload() == {"inputs": "a good day", "date": "2022-08-08"}


def test_serve_starts_and_stops_an_endpoint_for_the_bound_handler(loaded, repo, run, shell):
    import httpx

    out, _, error = run("%handler_serve")
    assert error is None
    endpoint = shell.user_ns["handler_endpoint"]
    assert out.startswith(f"<Endpoint {endpoint.url} serving")
    try:
        assert httpx.post(endpoint.url, json=GOOD).json() == [{"label": "positive", "score": 1.0}]
        repo.write("handler.py", "call_edited.py")
        run("%handler_reload")
        assert httpx.post(endpoint.url, json=GOOD).json()[0]["label"] == "POSITIVE"
        run("%handler_serve")  # again: the old endpoint stops, a new one starts
        assert not endpoint.running and shell.user_ns["handler_endpoint"].running
    finally:
        out, _, _ = run("%handler_serve --stop")
    assert "stopped" in out and not shell.user_ns["handler_endpoint"].running


def test_form_shows_fields_from_the_sample_for_the_bound_handler(loaded, run, shell):
    out, _, error = run('%handler_form --sample \'{"inputs": "", "date": "2022-08-08"}\'')
    # A shell without widgets shows what to install, not `VBox(children=(...`.
    assert error is None and out.startswith("A payload form (ipywidgets).")
    assert "pip install jupyterlab_widgets" in out
    form = shell.user_ns["handler_form"]
    assert form.handler is loaded and list(form.fields) == ["inputs", "date"]
    form.fields["inputs"].editor.value = "a good day"
    form.send_button.click()
    form.wait(10)
    assert form.history[-1].answer == [{"label": "positive", "score": 1.0}]
    _, _, error = run("%handler_form --name nothing_here")
    assert isinstance(error, HandlerKitError)
    assert "`nothing_here` is nothing, not a loaded handler" in str(error)


def test_every_magic_names_its_handler_with_the_name_option(shell):
    lines = [
        "handler_load .",
        "handler_reload",
        "handler_serve",
        "handler_form",
        "handler_check",
    ]
    for line in lines:
        magic = shell.find_line_magic(line.split()[0])
        assert "--name" in magic.__doc__, line
    assert "--name" in shell.find_cell_magic("handler_file").__doc__


def test_check_without_a_path_checks_the_loaded_handlers_repository(
    loaded, run, shell, monkeypatch, tmp_path
):
    checked = []
    monkeypatch.setattr(
        "handler_kit.checks.against_production.check", lambda path, *_: checked.append(path)
    )
    run("%handler_check")
    run(f"%handler_check '{tmp_path}'")
    run("%handler_check --name nothing_here")
    assert checked == [loaded.path, str(tmp_path), "."]


def test_check_against_production_returns_the_check_and_the_comparison(
    loaded, run, shell, monkeypatch, tmp_path
):
    calls = []
    api = "handler_kit.checks.against_production."
    monkeypatch.setattr(api + "find_toolkit", lambda p: calls.append(p) or "kit")
    report = CheckReport(loaded.path)
    monkeypatch.setattr(api + "check", lambda path, *_: calls.append(path) or report)

    def against_production(path, cases, toolkit, timeout, echo, env):
        echo("starting")
        calls.append(("compare", path, toolkit))
        return "comparison"

    monkeypatch.setattr(api + "against_production", against_production)
    out, _, error = run("compared = %handler_check --against-production --toolkit '/src/kit'")
    assert error is None and out == "check: ready to deploy\nstarting\n"
    compared = shell.user_ns["compared"]
    assert (compared.check, compared.comparison) == (report, "comparison")  # both kept
    assert calls == ["/src/kit", loaded.path, ("compare", loaded.path, "kit")]
    _, _, error = run("%handler_check --toolkit /src/kit")
    assert "--toolkit goes with --against-production" in str(error)
    monkeypatch.undo()
    _, _, error = run(f"%handler_check --against-production --toolkit {tmp_path / 'none'}")
    assert "no such file or folder" in str(error)
