"""staging.py: new code runs into fresh module objects, with a way back, seen whole or not."""

import importlib
import sys
import threading

import pytest

from handler_kit import HandlerReloadError
from handler_kit.errors import Abandoned
from handler_kit.reload.analysis import analyse
from handler_kit.reload.decision import Decision
from handler_kit.reload.patches import Ledger
from handler_kit.reload.plan import Plan
from handler_kit.reload.report import Outcome
from handler_kit.reload.staging import Staging, active


@pytest.fixture
def stage(repo):
    """A repository with utils.py and pkg/mod.py imported, and a way to make its stagings."""
    repo.write("handler.py", text="import utils\n")
    repo.write("utils.py", text="VERSION = 1\n")
    repo.write("pkg/__init__.py", text="")
    repo.write("pkg/mod.py", text="VERSION = 1\n")
    sys.path.insert(0, str(repo.path))
    importlib.import_module("utils"), importlib.import_module("pkg.mod")
    repository = repo.repository()

    def make(rerun=None, analyses=None):
        texts = {**(rerun or {})}
        plan = Plan(
            Outcome.HOT, Decision(Outcome.HOT, "edited"), dict(rerun or {}), texts, analyses or {}
        )
        return Staging(repository, HandlerReloadError, Ledger.of(repository), plan)

    make.repo = repo
    return make


def test_a_run_module_is_registered_and_a_rollback_puts_the_old_one_back(stage):
    old = sys.modules["utils"]
    staging = stage()
    new = staging.run("utils", stage.repo.path / "utils.py", "VERSION = 2\n")
    fresh = staging.run("fresh", stage.repo.path / "fresh.py", "X = 1\n")
    assert sys.modules["utils"] is new and new.VERSION == 2 and new is not old
    assert sys.modules["fresh"] is fresh
    assert list(staging.executed) == ["utils", "fresh"]
    staging.rollback()
    assert sys.modules["utils"] is old
    assert "fresh" not in sys.modules


def test_a_submodule_is_set_on_its_package_and_put_back(stage):
    package, old = sys.modules["pkg"], sys.modules["pkg.mod"]
    staging = stage()
    new = staging.run("pkg.mod", stage.repo.path / "pkg/mod.py", "VERSION = 2\n")
    assert package.mod is new  # as `import pkg.mod` sets it
    staging.rollback()
    assert package.mod is old and sys.modules["pkg.mod"] is old


def test_what_the_plan_runs_again_runs_when_first_imported_and_a_gone_module_goes(stage):
    old_mod = sys.modules["pkg.mod"]
    staging = stage({"utils": "VERSION = 2\n", "pkg.mod": None})
    with active(staging):
        handler = staging.run("handler", stage.repo.path / "handler.py", "import utils\n")
        assert list(staging.executed) == ["utils", "handler"]  # utils ran when imported
        assert handler.utils.VERSION == 2
        staging.finish()
    assert "pkg.mod" not in sys.modules  # its file is gone: taken out
    staging.rollback()
    assert sys.modules["pkg.mod"] is old_mod


def test_other_threads_see_the_module_that_was_there_while_the_staging_runs(stage):
    staging = stage()
    seen = []

    def request():  # a request importing utils inside __call__
        seen.append(__import__("utils").VERSION)

    with active(staging):
        staging.run("utils", stage.repo.path / "utils.py", "VERSION = 2\n")
        other = threading.Thread(target=request)
        other.start()
        other.join(5)
        request()  # the staging's own thread sees the staged one
    request()  # once the staging is over, everyone does
    assert seen == [1, 2, 2]


def test_an_abandoned_staging_is_rolled_back_at_once_and_changes_nothing_after(stage):
    old = sys.modules["utils"]
    staging = stage()
    staging.run("utils", stage.repo.path / "utils.py", "VERSION = 2\n")
    staging.abandon()
    assert sys.modules["utils"] is old
    with pytest.raises(Abandoned):
        staging.run("utils", stage.repo.path / "utils.py", "VERSION = 3\n")
    assert sys.modules["utils"] is old


def test_a_module_that_fails_names_its_file_and_line(stage):
    staging = stage()
    file = stage.repo.path / "utils.py"
    with pytest.raises(HandlerReloadError) as info:
        staging.run("utils", file, "VERSION = 2\nRATIO = 1 / 0\n")
    assert info.value.where == f"{file}:2"
    assert "ZeroDivisionError: division by zero (while running utils.py)" in str(info.value)


PATCHES = "import os\nos.environ['HANDLER_KIT_TEST_STAGED'] = '1'\n"


def test_whether_a_text_may_patch_is_the_plan_s_answer_not_read_again(stage, monkeypatch):
    monkeypatch.delenv("HANDLER_KIT_TEST_STAGED", raising=False)
    file = stage.repo.path / "patching.py"
    ledger = Ledger.of(stage.repo.repository())
    stage().run("patching", file, PATCHES)  # not in the plan: read here, and hooked
    assert [key for _, _, key, _ in ledger.entries.values()] == ["HANDLER_KIT_TEST_STAGED"]
    ledger.entries.clear()
    # A plan that read this text as one that patches nothing: the staging takes its word.
    said = {"patching": analyse("patching", "X = 1\n", "patching.py")}
    planned = stage({"patching": PATCHES}, said)
    planned.run("patching", file, PATCHES)
    assert ledger.entries == {}


def test_a_signal_install_in_a_load_off_the_main_thread_says_why_it_fails(repo):
    import handler_kit

    repo.write("handler.py", "hostile/signal_at_import.py")
    errors = []

    def load():
        try:
            handler_kit.load(repo.path)
        except handler_kit.HandlerLoadError as error:
            errors.append(error)

    thread = threading.Thread(target=load, name="a-worker")
    thread.start()
    thread.join(10)
    message = str(errors[0])
    assert "ValueError: signal only works in main thread" in message
    assert "handler.py:13" in message and "restart the kernel" not in message
    assert (
        "Only Python's main thread may install a signal handler, and handler.py ran in the "
        "thread 'a-worker' (production imports it in its main thread)"
    ) in message
