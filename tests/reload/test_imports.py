"""imports.py: the text each repository module was imported from, kept by the ImportRecorder."""

import gc
import importlib
import sys

import pytest

from handler_kit.reload.imports import (
    ImportRecorder,
    RecordingLoader,
    imported_source,
    imported_text,
)


class Owner:
    """Stands for the LiveHandler whose life the recording lasts."""


@pytest.fixture
def watched(repo):
    """A repository whose imports are recorded while its owner (in the list) lives."""
    repo.write("handler.py", text="")
    repo.write("helpers.py", text="VERSION = 1\n")
    repo.write("src/engine.py", text="NAME = 'engine'\n")
    sys.path.insert(0, str(repo.path))
    owners = [Owner()]
    ImportRecorder.watch(repo.repository(), owners[0])
    yield repo, owners
    owners.clear()
    gc.collect()


def test_the_text_a_module_ran_is_kept_whatever_the_file_becomes(watched):
    repo, _ = watched
    module = importlib.import_module("helpers")
    repo.write("helpers.py", text="VERSION = 2\n")  # edited right after the import
    assert imported_text(module) == "VERSION = 1\n"
    source = imported_source("helpers", module)
    assert (source.text, source.file) == ("VERSION = 1\n", repo.path / "helpers.py")


def test_a_module_in_a_folder_the_handler_put_on_sys_path_is_recorded(watched):
    repo, _ = watched
    sys.path.append(str(repo.path / "src"))  # what the handler does at import
    module = importlib.import_module("engine")
    assert isinstance(module.__spec__.loader, RecordingLoader)
    assert imported_text(module) == "NAME = 'engine'\n"


def test_modules_outside_the_repository_are_loaded_as_always(watched, library):
    module = importlib.import_module("libstub")
    assert not isinstance(module.__spec__.loader, RecordingLoader)
    assert imported_text(module) is None


def test_without_a_recorded_text_the_file_is_read_and_a_gone_file_is_none(repo):
    repo.write("handler.py", text="")
    file = repo.write("plain.py", text="X = 1\n")
    sys.path.insert(0, str(repo.path))
    module = importlib.import_module("plain")  # not watched: imported as always
    assert imported_text(module) is None
    assert imported_source("plain", module).text == "X = 1\n"
    file.unlink()
    assert imported_source("plain", module) is None


def test_recording_stops_when_its_owner_is_gone(watched):
    repo, owners = watched
    repository = repo.repository()
    assert ImportRecorder._watched[repository] == 1
    owners.clear()
    gc.collect()
    assert repository not in ImportRecorder._watched
    module = importlib.import_module("helpers")
    assert not isinstance(module.__spec__.loader, RecordingLoader)
