"""changes.py: hot only when nothing __init__ reaches changed, however __init__ reaches it.

Each case loads a small repository, edits one file, reloads and checks both the decision and
its effect: after a re-init the handler answers from the state the new __init__ built.
"""

import pytest

import handler_kit
from handler_kit.changes import decide

GOOD = {"inputs": "a good day"}


def _write(repo, files):
    for name, fixture in files.items():
        repo.write(name, f"reach/{fixture}")


@pytest.mark.parametrize(
    ("files", "edit", "mode", "reason", "answer"),
    [
        (  # the handler class lives in a sibling module that handler.py imports it from
            {"handler.py": "impl_handler.py", "impl.py": "impl.py"},
            {"impl.py": "impl_init_edited.py"},
            "reinit",
            "__init__ changed",
            "m2",
        ),
        (
            {"handler.py": "impl_handler.py", "impl.py": "impl.py"},
            {"impl.py": "impl_call_edited.py"},
            "hot",
            "__call__ changed",
            "M1",
        ),
        (  # `import pkg.loading` then `pkg.loading.load_model(path)`
            {
                "handler.py": "dotted_handler.py",
                "pkg/__init__.py": "loading_unused_edited.py",
                "pkg/loading.py": "loading.py",
            },
            {"pkg/loading.py": "loading_edited.py"},
            "reinit",
            "helper pkg.loading.load_model changed (reached from __init__)",
            "m2",
        ),
        (
            {
                "handler.py": "dotted_handler.py",
                "pkg/__init__.py": "loading_unused_edited.py",
                "pkg/loading.py": "loading.py",
            },
            {"pkg/loading.py": "loading_unused_edited.py"},
            "hot",
            "helper pkg.loading.unused changed",
            "m1",
        ),
        (  # `from utils import *`
            {"handler.py": "star_handler.py", "utils.py": "loading.py"},
            {"utils.py": "loading_edited.py"},
            "reinit",
            "helper utils.load_model changed (reached from __init__)",
            "m2",
        ),
        (  # a module-level alias of the function __init__ calls
            {"handler.py": "alias_handler.py"},
            {"handler.py": "alias_handler_edited.py"},
            "reinit",
            "helper _load changed (reached from __init__)",
            "m2",
        ),
        (  # __init__ warms up with self(...): __call__ runs at start-up
            {"handler.py": "warmup_handler.py"},
            {"handler.py": "warmup_call_edited.py"},
            "reinit",
            "__call__ changed (reached from __init__)",
            "m1!",
        ),
    ],
    ids=[
        "class-in-sibling",
        "class-in-sibling-call",
        "dotted",
        "dotted-unused",
        "star",
        "alias",
        "warm-up",
    ],
)
def test_what_init_reaches_is_found(repo, files, edit, mode, reason, answer):
    _write(repo, files)
    live = handler_kit.load(repo.path)
    _write(repo, edit)
    report = live.reload()
    assert (report.mode, report.reason) == (mode, reason)
    assert live(GOOD)[0]["label"] == answer
    if edit == {"handler.py": "warmup_call_edited.py"}:
        assert live.instance.warm == [{"label": "m1!"}]  # the warm-up ran the new __call__


def test_a_renamed_import_of_the_class_is_followed():
    old = {"handler": "from impl import Handler as EndpointHandler\n", "impl": _impl("m1")}
    new = {**old, "impl": _impl("m2")}
    decision = decide(old, new, "handler", "EndpointHandler")
    assert (decision.mode, decision.reason) == ("reinit", "__init__ changed")


def _impl(version: str) -> str:
    return (
        "class Handler:\n"
        "    def __init__(self, path=''):\n"
        f"        self.v = {version!r}\n"
        "    def __call__(self, data):\n"
        "        return self.v\n"
    )
