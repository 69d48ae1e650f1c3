"""cache.py: entries built once under a lock, complete when their stamp (written last) says so."""

import pytest

from handler_kit import cache
from handler_kit.errors import HandlerKitError


@pytest.fixture
def entry(tmp_path):
    """An entry built in place (as a venv is), locked beside it."""
    return cache.CachedFolder(tmp_path / "venv", ".stamp", lock=tmp_path / "venv.lock")


def test_an_entry_is_built_once_into_an_empty_folder_and_stamped_after(entry):
    seen = []

    def make(folder):
        seen.append(sorted(p.name for p in folder.iterdir()))  # empty: no stamp yet either
        (folder / "bin").mkdir()
        return "pins 1"

    assert entry.build(make) == entry.folder and entry.stamped() == "pins 1"
    assert entry.build(make) == entry.folder
    assert seen == [[]] and (entry.folder / "bin").is_dir()


def test_a_half_built_entry_has_no_stamp_and_is_built_again_from_empty(entry):
    def killed(folder):
        (folder / "half").write_text("x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        entry.build(killed)
    assert entry.stamped() is None

    def make(folder):
        assert not (folder / "half").exists()
        return "pins 1"

    entry.build(make)
    assert entry.stamped() == "pins 1"


def test_an_entry_stamped_otherwise_is_built_again(entry):
    entry.build(lambda folder: "pins 1")
    built = []
    entry.build(lambda folder: built.append(folder) or "pins 2", lambda text: text == "pins 2")
    assert built == [entry.folder] and entry.stamped() == "pins 2"


def test_an_entry_built_aside_replaces_the_folder_only_once_complete(tmp_path):
    aside = cache.CachedFolder(tmp_path / "m-1", ".stamp", lock=tmp_path / ".m.lock", aside="m-")
    (tmp_path / "m-stale.partial").mkdir()  # left by a build that was killed
    folders = []
    aside.build(lambda folder: folders.append(folder) or "key 1")
    assert folders[0].name.endswith(".partial") and folders[0] != aside.folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", "m-1"]
    assert aside.stamped() == "key 1"


def test_a_build_waits_for_another_a_bounded_time_and_names_what_it_waited_for(entry):
    class Busy(HandlerKitError):
        pass

    with cache.lock(entry.lock), pytest.raises(Busy, match="building the thing for over 0 s"):
        entry.build(lambda folder: "pins 1", timeout=0.3, what="the thing", error=Busy)
    assert entry.stamped() is None


def test_a_digest_covers_a_files_bytes_as_it_covers_bytes_and_text(tmp_path):
    file = tmp_path / "data"
    file.write_bytes(b"ab")
    assert cache.digest(file, "c") == cache.digest(b"ab", "c") == cache.digest("abc")
    assert cache.digest("abc") != cache.digest("abd")


def test_the_cache_is_where_the_environment_says(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLER_KIT_CACHE", str(tmp_path / "kit"))
    assert cache.cache_dir() == tmp_path / "kit"
    monkeypatch.delenv("HANDLER_KIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "handler_kit"
