"""loader.py: a handler repository is loaded exactly as production loads it."""

import sys

import pytest
from conftest import fixture_text

import handler_kit
from handler_kit import HandlerLoadError


def test_load_builds_the_handler_like_production(repo):
    repo.write("handler.py", "records_args.py")
    live = handler_kit.load(repo.path)
    # Path passed positionally, as a string; module key and sys.path as production sets them.
    assert live.instance.args == (str(repo.path.resolve()),)
    assert live.instance.kwargs == {}
    assert live.instance.module_name == "handler.EndpointHandler"
    assert sys.modules["handler.EndpointHandler"] is live.module
    assert live.instance.sys_path_head == str(repo.path.resolve())
    assert live({"inputs": "x"}) == {"args": (str(repo.path.resolve()),)}


def test_repository_goes_first_on_sys_path_once(repo):
    repo.write("handler.py", "base.py")
    for _ in range(3):
        live = handler_kit.load(repo.path)
        live.reload("reinit")
    assert sys.path[0] == str(repo.path.resolve())
    assert sys.path.count(str(repo.path.resolve())) == 1


def test_a_path_to_handler_py_itself_is_accepted(repo):
    repo.write("handler.py", "base.py")
    live = handler_kit.load(repo.path / "handler.py")
    assert live.path == repo.path.resolve()
    assert live({"inputs": "a good day"}) == [{"label": "positive", "score": 1.0}]


def test_legacy_pipeline_py_is_loaded_when_there_is_no_handler_py(repo):
    repo.write("pipeline.py", "legacy_pipeline.py")
    live = handler_kit.load(repo.path)
    assert type(live.instance).__name__ == "PreTrainedPipeline"
    assert live.file.name == "pipeline.py"
    # Production calls a legacy pipeline with the request body too.
    assert live({"inputs": "hi"}) == [{"label": "legacy", "inputs": {"inputs": "hi"}}]


def test_handler_py_wins_over_pipeline_py(repo):
    repo.write("pipeline.py", "legacy_pipeline.py")
    repo.write("handler.py", "base.py")
    assert type(handler_kit.load(repo.path).instance).__name__ == "EndpointHandler"


def test_missing_path_is_named(tmp_path):
    with pytest.raises(HandlerLoadError, match=r"no such folder: .*nowhere") as info:
        handler_kit.load(tmp_path / "nowhere")
    assert "holds handler.py" in str(info.value)


def test_folder_without_handler_says_what_is_expected_where(repo):
    repo.write("config.json", text="{}")
    with pytest.raises(HandlerLoadError) as info:
        handler_kit.load(repo.path)
    message = str(info.value)
    assert f"no handler.py in {repo.path.resolve()} (it holds: config.json)" in message
    assert "class EndpointHandler" in message and "pipeline.py" in message


def test_missing_class_lists_the_classes_found(repo):
    repo.write("handler.py", "class_renamed.py")
    with pytest.raises(HandlerLoadError) as info:
        handler_kit.load(repo.path)
    assert "class EndpointHandler is missing in handler.py" in str(info.value)
    assert "classes defined there: Handler" in str(info.value)
    assert info.value.file == str(repo.path.resolve() / "handler.py")


def test_init_that_cannot_take_the_path_positionally(repo):
    repo.write("handler.py", "keyword_only_init.py")
    with pytest.raises(HandlerLoadError, match="cannot take the repository path") as info:
        handler_kit.load(repo.path)
    assert info.value.line == 17  # the `def __init__` line
    assert 'def __init__(self, path="")' in str(info.value)


def test_class_without_call(repo):
    repo.write("handler.py", "no_call.py")
    with pytest.raises(HandlerLoadError, match="EndpointHandler has no __call__ method") as info:
        handler_kit.load(repo.path)
    assert info.value.where.endswith("handler.py:14")


def test_exception_in_init_points_at_the_users_line(repo):
    repo.write("handler.py", "init_error.py")
    with pytest.raises(HandlerLoadError) as info:
        handler_kit.load(repo.path)
    error = info.value
    assert error.where == f"{repo.path.resolve() / 'handler.py'}:18"
    assert "KeyError: 'weights' (in EndpointHandler.__init__)" in str(error)
    assert 'load_model(path)["weights"]' in str(error)  # the user's frame, with its code
    assert isinstance(error.__cause__, KeyError)


def test_missing_package_says_to_install_and_list_it(repo):
    repo.write("handler.py", "import_error.py")
    with pytest.raises(HandlerLoadError) as info:
        handler_kit.load(repo.path)
    assert info.value.line == 3
    assert "ModuleNotFoundError" in str(info.value)
    assert "pip install not_a_real_module_for_handler_kit" in str(info.value)
    assert "requirements.txt" in str(info.value)


def test_failed_load_leaves_no_half_module_behind(repo):
    repo.write("handler.py", "module_error.py")
    with pytest.raises(HandlerLoadError, match="ZeroDivisionError"):
        handler_kit.load(repo.path)
    assert "handler.EndpointHandler" not in sys.modules


def test_a_second_repository_imports_its_own_sibling_modules(tmp_path):
    from conftest import Repo

    first, second = Repo(tmp_path / "a"), Repo(tmp_path / "b")
    for r, label in ((first, "A"), (second, "B")):
        r.write("handler.py", "siblings/handler.py")
        r.write("consts.py", "siblings/consts.py")
        r.write(
            "utils.py",
            text=f"from consts import PREFIX\n\ndef load_model(path):\n"
            f'    return {{"label": "{label}"}}\n\ndef clean(text):\n    return text\n',
        )
    assert handler_kit.load(first.path)({"inputs": "x"})[0]["label"] == "A"
    assert handler_kit.load(second.path)({"inputs": "x"})[0]["label"] == "B"


def test_a_byte_order_mark_or_a_coding_line_is_read_as_python_reads_it(repo):
    text = repo.write("handler.py", "base.py").read_text(encoding="utf-8")
    (repo.path / "handler.py").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    live = handler_kit.load(repo.path)
    assert live({"inputs": "a good day"}) == [{"label": "positive", "score": 1.0}]
    latin = "# -*- coding: latin-1 -*-\n" + text.replace('"positive"', '"très positive"')
    (repo.path / "handler.py").write_bytes(latin.encode("latin-1"))
    live.reload()
    assert live({"inputs": "a good day"}) == [{"label": "très positive", "score": 1.0}]


def test_the_entry_file_and_module_key_follow_productions_variables():
    from handler_kit.reload.repository import entries

    assert entries({})[0] == ("handler.py", "handler.EndpointHandler", "EndpointHandler")
    assert entries({"HF_DEFAULT_PIPELINE_NAME": "serve.py"})[0] == (
        "serve.py",
        "serve.EndpointHandler",
        "EndpointHandler",
    )
    named = entries({"HF_DEFAULT_PIPELINE_NAME": "serve.py", "HF_MODULE_NAME": "a.B"})
    assert named[0] == ("serve.py", "a.B", "EndpointHandler")
    assert named[1] == ("pipeline.py", "pipeline.PreTrainedPipeline", "PreTrainedPipeline")


def test_a_typo_in_an_import_is_named_as_one(repo):
    repo.write("handler.py", text="import holidyas\n\n\nclass EndpointHandler:\n    pass\n")
    with pytest.raises(HandlerLoadError) as info:
        handler_kit.load(repo.path)
    assert "Did you mean holidays? (holidyas is not installed here, holidays is.)" in str(
        info.value
    )
    assert "pip install holidyas" not in str(info.value)


def test_a_missing_package_is_named_by_its_distribution_or_its_requirement(repo):
    repo.write("handler.py", text="import cv2\n\n\nclass EndpointHandler:\n    pass\n")
    with pytest.raises(HandlerLoadError) as info:
        handler_kit.load(repo.path)
    assert "pip install opencv-python" in str(info.value)
    repo.write("requirements.txt", text="opencv-python-headless==4.9.0.80\n")
    with pytest.raises(HandlerLoadError) as info:
        handler_kit.load(repo.path)
    assert "requirements.txt:1 lists opencv-python-headless" in str(info.value)
    assert f"pip install -r {repo.path / 'requirements.txt'})" in str(info.value)


BARS = """\
from transformers.utils import logging


class EndpointHandler:
    def __init__(self, path=""):
        # What from_pretrained does in transformers 5: a bar through transformers' own tqdm.
        with logging.tqdm(total=3, desc="Loading weights") as bar:
            bar.update(3)

    def __call__(self, data):
        return []
"""


def test_building_a_handler_draws_no_transformers_progress_bar(repo, capfd):
    from transformers.utils import logging

    repo.write("handler.py", text=BARS)
    assert logging.is_progress_bar_enabled()
    live = handler_kit.load(repo.path)
    live.reload("reinit")  # a re-init builds it again, in the reload's thread
    assert "Loading weights" not in "".join(capfd.readouterr())
    assert logging.is_progress_bar_enabled()  # put back: the user's own bars still show


def test_an_error_in_a_symlinked_handler_py_names_its_line_and_frames(tmp_path, repo):
    # handler.py kept in a source tree and linked into the model repository.
    source = tmp_path / "src" / "handler.py"
    source.parent.mkdir()
    source.write_text(fixture_text("base.py"), encoding="utf-8")
    (repo.path / "handler.py").symlink_to(source)
    live = handler_kit.load(repo.path)
    source.write_text(fixture_text("init_error.py"), encoding="utf-8")
    with pytest.raises(handler_kit.HandlerReloadError) as info:
        live.reload()
    link = str(repo.path.resolve() / "handler.py")
    assert info.value.where == f"{link}:18"
    assert f"{link}:18 in __init__" in info.value.trace
    source.write_text(fixture_text("module_error.py"), encoding="utf-8")
    with pytest.raises(handler_kit.HandlerReloadError) as info:
        live.reload()
    assert info.value.where == f"{link}:4" and f"{link}:4 in <module>" in info.value.trace
