"""plan.py: what a reload will do, decided from the texts before any code runs."""

import pytest
from conftest import ENTRY, fixture_text

from handler_kit import HandlerReloadError
from handler_kit.reload.decision import Mode
from handler_kit.reload.plan import plan
from handler_kit.reload.report import Outcome
from handler_kit.reload.repository import Source

EDITED = fixture_text("siblings/consts_edited.py")


class Instance:
    """The running handler: plain state."""

    def __init__(self):
        self.model = {"label": "ok"}


@pytest.fixture
def siblings(repo):
    """handler.py imports utils, which imports consts: the modules as they last ran."""
    sources = {}
    for name, file in ((ENTRY, "handler.py"), ("utils", "utils.py"), ("consts", "consts.py")):
        path = repo.write(file, f"siblings/{file}")
        sources[name] = Source(name, path.resolve(), path.read_text())
    return repo.repository(), sources


def _texts(sources, **edits):
    return {name: edits.get(name, source.text) for name, source in sources.items()}


def test_a_plan_carries_the_analyses_it_decided_from(siblings):
    repository, old = siblings
    planned = plan(repository, old, _texts(old, consts=EDITED), Instance(), Mode.AUTO)
    assert (planned.mode, planned.decision.reason) == (
        Outcome.HOT,
        "module constant consts.PREFIX changed",
    )
    assert set(planned.analyses) == {ENTRY, "utils", "consts"}
    assert set(planned.analysis("consts", EDITED).bindings) == {"PREFIX"}
    assert planned.analysis("consts", old["consts"].text) is None  # not the text it read
    assert planned.analyses["utils"].file == "utils.py"


def test_what_imports_an_edited_module_runs_again_after_it(siblings):
    repository, old = siblings
    planned = plan(repository, old, _texts(old, consts=EDITED), Instance(), Mode.AUTO)
    assert planned.rerun == {"consts": EDITED, "utils": old["utils"].text}


def test_nothing_changed_needs_no_analysis_and_runs_no_sibling(siblings):
    repository, old = siblings
    planned = plan(repository, old, _texts(old), Instance(), Mode.REINIT)
    assert (planned.mode, planned.decision.reason) == (Outcome.REINIT, "no file changed")
    assert planned.analyses == {} and planned.rerun == {}


def test_an_instance_without_a_dict_is_built_again(siblings):
    repository, old = siblings
    planned = plan(repository, old, _texts(old, consts=EDITED), object(), Mode.AUTO)
    assert planned.mode is Outcome.REINIT
    assert planned.decision.reason == "EndpointHandler has no __dict__ to carry over"


def test_a_text_that_does_not_parse_is_named_with_its_file_and_line(siblings):
    repository, old = siblings
    texts = _texts(old, utils="def clean(text):\n    return (\n")
    with pytest.raises(HandlerReloadError) as info:
        plan(repository, old, texts, Instance(), Mode.AUTO)
    assert info.value.file == str(old["utils"].file)
    assert info.value.line == 2
    assert "SyntaxError: '(' was never closed" in str(info.value)


def test_a_gone_handler_py_is_said(siblings):
    repository, old = siblings
    with pytest.raises(HandlerReloadError, match=r"handler\.py is gone"):
        plan(repository, old, _texts(old, **{ENTRY: None}), Instance(), Mode.AUTO)


def test_an_edit_the_analysis_cannot_read_re_initialises_and_says_why(siblings, monkeypatch):
    from handler_kit.reload import analysis

    def unreadable(tree, lines, found, entry):
        raise RecursionError("maximum recursion depth exceeded")

    repository, old = siblings
    monkeypatch.setattr(analysis, "_read", unreadable)
    analysis.analyse.cache_clear()
    try:
        planned = plan(repository, old, _texts(old, consts=EDITED), Instance(), Mode.AUTO)
    finally:
        analysis.analyse.cache_clear()
    assert (planned.mode, planned.decision.reason) == (
        Outcome.REINIT,
        "the edit could not be analysed (handler.py: RecursionError: maximum recursion depth "
        "exceeded)",
    )


def test_a_forced_mode_is_the_outcome_it_asks_for_and_auto_asks_for_none():
    assert (Mode.HOT.outcome, Mode.REINIT.outcome, Mode.AUTO.outcome) == (
        Outcome.HOT,
        Outcome.REINIT,
        None,
    )
