"""transaction.py: a load or reload keeps all of its new code, or none of it."""

import sys

import pytest
from conftest import ENTRY, fixture_text, wait_for_no_reload_threads

import handler_kit
from handler_kit import HandlerReloadError
from handler_kit.reload.decision import Decision
from handler_kit.reload.patches import Ledger
from handler_kit.reload.plan import Plan
from handler_kit.reload.report import Outcome
from handler_kit.reload.transaction import Transaction

PATCH = "libstub.Base.parse = _lenient\n"


def _reinit(text: str) -> Plan:
    """A plan that runs ``text`` as handler.py again and builds the handler."""
    return Plan(Outcome.REINIT, Decision(Outcome.REINIT, "forced"), {}, {ENTRY: text})


@pytest.fixture
def patched(repo, library):
    """A loaded handler that patches libstub.Base.parse at import, and the unpatched method."""
    import libstub

    original = libstub.Base.parse
    repo.copy("patterns/patch_call_only")
    live = handler_kit.load(repo.path)
    assert libstub.Base.parse is not original
    return live, libstub, original


def test_a_commit_keeps_the_new_modules_and_undoes_a_patch_whose_line_is_gone(patched):
    live, libstub, original = patched
    text = live.sources[ENTRY].text.replace(PATCH, "")
    with Transaction(live.repository, HandlerReloadError, _reinit(text)) as transaction:
        staged = transaction.stage()
        transaction.commit()
    assert sys.modules[ENTRY] is staged.module and staged.module is not live.module
    assert libstub.Base.parse is original
    assert Ledger.of(live.repository).entries == {}  # nothing of it is patched any more


def test_a_failure_rolls_back_the_modules_and_the_patched_values(patched):
    live, libstub, _ = patched
    good = libstub.Base.parse
    text = live.sources[ENTRY].text.replace('["v1"', '["v2"')  # a new patch, then a failure
    text = text.replace("self.made = libstub.Factory.make()", "raise RuntimeError('no model')")
    with (
        pytest.raises(HandlerReloadError, match="no model"),
        Transaction(live.repository, HandlerReloadError, _reinit(text)) as transaction,
    ):
        transaction.stage()
        transaction.commit()
    assert sys.modules[ENTRY] is live.module
    assert libstub.Base.parse is good
    assert live({"inputs": "x"})["now"] == ["v1", "x"]


def test_leaving_without_a_commit_rolls_back_too(patched):
    live, libstub, _ = patched
    good = libstub.Base.parse
    text = live.sources[ENTRY].text.replace(PATCH, f"{PATCH}libstub.Base.extra = 'staged'\n")
    with Transaction(live.repository, HandlerReloadError, _reinit(text)) as transaction:
        transaction.stage()
        assert libstub.Base.extra == "staged"  # staged, not kept
    assert not hasattr(libstub.Base, "extra")
    assert libstub.Base.parse is good and sys.modules[ENTRY] is live.module


def test_a_stage_past_its_time_limit_is_abandoned_and_rolled_back(live):
    plan = _reinit(fixture_text("fatal/busy_loop.py"))
    with (
        pytest.raises(HandlerReloadError, match=r"ran past its time limit of 0\.3 s"),
        Transaction(live.repository, HandlerReloadError, plan) as transaction,
    ):
        transaction.stage(timeout=0.3)
    wait_for_no_reload_threads()
    assert sys.modules[ENTRY] is live.module


def test_without_a_plan_it_runs_other_work_and_has_nothing_to_roll_back(live):
    with Transaction(live.repository, HandlerReloadError) as transaction:
        assert transaction.run(lambda: 42, timeout=5) == 42
    assert sys.modules[ENTRY] is live.module
    assert transaction.ledger is Ledger.of(live.repository)  # one ledger per repository


def test_the_first_load_s_plan_runs_the_entry_and_builds_the_handler(repo):
    repo.write("handler.py", "base.py")
    repository = repo.repository()
    plan = Plan.first_load(repository, fixture_text("base.py"))
    with Transaction(repository, HandlerReloadError, plan) as transaction:
        staged = transaction.stage()
        transaction.commit()
    assert (staged.mode, staged.decision.reason) == (Outcome.REINIT, "loaded")
    assert type(staged.instance).__name__ == "EndpointHandler"
    assert set(staged.executed) == {ENTRY} and sys.modules[ENTRY] is staged.module
