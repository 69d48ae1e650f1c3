"""memory.py: the size of a model and the room for a second one decide a re-init's order."""

import pytest
from conftest import fixture_text, wait_for_no_reload_threads

import handler_kit
from handler_kit import HandlerReloadError
from handler_kit.reload import memory
from handler_kit.reload.memory import Footprint, Memory


def test_what_a_build_added_is_a_difference_that_never_goes_below_zero():
    assert Footprint(500, (30, 5)) - Footprint(200, (10, 9)) == Footprint(300, (20, 0))
    assert Footprint(100) - Footprint(300) == Footprint(0)


def test_this_process_uses_memory_and_the_machine_has_some_free():
    assert memory.used().ram > 10 * 2**20
    assert memory.free().ram > 0


@pytest.mark.parametrize(
    ("model", "free", "fits"),
    [
        (Footprint(1000), Footprint(5000), True),
        (Footprint(1000), Footprint(1500), False),  # the new model fits, its build may not
        (Footprint(1000, (800,)), Footprint(9000, (1000,)), False),  # the GPU is the limit
        (Footprint(1000, (0, 800)), Footprint(9000, (0, 2000)), True),
        (Footprint(0), Footprint(0), True),  # nothing known: never the reason to free first
    ],
)
def test_room_for_two_counts_ram_and_every_cuda_device(monkeypatch, model, free, fits):
    monkeypatch.setattr(memory, "free", lambda: free)
    assert memory.room_for_two(model) is fits


def test_modes_are_named():
    assert Memory.of("free-first") is Memory.FREE_FIRST
    with pytest.raises(ValueError, match="memory must be one of auto, swap, free-first"):
        Memory.of("more")


# --- a failed or abandoned build leaves nothing behind -----------------------------------------


@pytest.fixture
def models(repo, library):
    """A loaded handler holding one libstub.Model, and libstub (its ``alive`` counts them)."""
    import libstub

    repo.write("handler.py", "memory/model_v1.py")
    live = handler_kit.load(repo.path)
    assert [m.tag for m in libstub.alive] == ["v1"]
    return live, libstub


@pytest.mark.parametrize("mode", ["swap", "free-first"])
def test_a_build_that_fails_after_loading_its_model_leaves_only_the_last_good_one(
    models, repo, mode
):
    live, libstub = models
    repo.write("handler.py", "hostile/init_fails_after_loading.py")
    with pytest.raises(HandlerReloadError, match="Target modules") as info:
        live.reload(memory=mode)
    # The error is still held (as a notebook holds the last one): its model is not.
    assert info.value.line == 11 and "handler.py:21 in __init__" in info.value.trace
    assert [m.tag for m in libstub.alive] == ["v1"]
    # Free-first built the last good handler again with the failed model already gone.
    assert live({"inputs": "x"}) == {"tag": "v1", "others_alive": 0}


def test_an_abandoned_build_leaves_no_model_once_it_ends(models, repo):
    live, libstub = models
    repo.write("handler.py", "hostile/slow_init_after_loading.py")
    with pytest.raises(HandlerReloadError, match="ran past its time limit") as info:
        live.reload(timeout=0.3)
    wait_for_no_reload_threads()  # the sleep ended and __init__ finished: too late
    assert info.value is not None and [m.tag for m in libstub.alive] == ["v1"]


def test_a_load_that_fails_after_loading_its_model_leaves_none(repo, library):
    import libstub

    repo.write("handler.py", "hostile/init_fails_after_loading.py")
    with pytest.raises(handler_kit.HandlerLoadError, match="Target modules") as info:
        handler_kit.load(repo.path)
    assert info.value is not None and len(libstub.alive) == 0


# --- free-first frees what __init__ put in a module global, or says what holds it --------------


def test_free_first_frees_a_model_kept_in_a_module_global(repo, library):
    import libstub

    text = fixture_text("hostile/global_model.py")
    repo.write("handler.py", text=text)
    live = handler_kit.load(repo.path)
    repo.write("handler.py", text=text.replace('"v1"', '"v2"'))
    report = live.reload(memory="free-first")
    assert "note: freed the old model before building the new one" in str(report)
    assert live({"inputs": "x"}) == {"tag": "v2", "others_alive": 0}  # one model at a time
    assert [m.tag for m in libstub.alive] == ["v2"]
    # A failed free-first re-init builds the last good one again: its global is set again.
    repo.write("handler.py", text=text.replace('"v1"', '"v3"').replace("global model", "1 / 0"))
    with pytest.raises(HandlerReloadError, match="built again from its code"):
        live.reload(memory="free-first")
    assert live({"inputs": "x"}) == {"tag": "v2", "others_alive": 0}


def test_free_first_says_which_cache_keeps_the_old_model(repo, library):
    text = fixture_text("hostile/cached_model.py")
    repo.write("handler.py", text=text)
    live = handler_kit.load(repo.path)
    repo.write("handler.py", text=text.replace('"v1"', '"v2"'))
    report = str(live.reload(memory="free-first"))
    assert "note: freed the old model" not in report  # it was not
    assert "note: tried to free the old model before building the new one" in report
    assert "the old Model is still in memory: `_PIPELINES` in handler.py holds it" in report
    assert live({"inputs": "x"}) == {"tag": "v2", "others_alive": 1}  # two, as it says
