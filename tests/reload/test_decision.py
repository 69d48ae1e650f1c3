"""decision.py: hot or re-init decided from two versions' texts alone (nothing is loaded).

The cases are those the live tests reload (test_reload's RULES, test_changes' REACHES and
PATTERNS, the patch patterns): here the same texts go in and the same decision must come out,
without importing or running a line of them.
"""

import sys
from pathlib import Path

import pytest
from conftest import ENTRY, FIXTURES, fixture_text
from test_changes import PATTERNS, REACH_IDS, REACHES
from test_reload import RULES

from handler_kit.reload.decision import Mode, decide

# What the handler holds when the reload decides (the live test makes it with a first request).
HELD = {"lazy_held": {"formatter:Formatter"}}
# Folders a fixture's handler puts on sys.path: their modules are named from there.
SYS_PATH = {"src_path": "src"}


def _module(relative: Path, root: str = "") -> str:
    """The module name production imports ``relative`` (a path in the repository) under."""
    if relative.as_posix() == "handler.py":
        return ENTRY
    if root and relative.parts[0] == root:
        relative = relative.relative_to(root)
    parts = relative.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _versions(folder: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """A fixture folder's modules before and after its ``after/`` edit, and their files."""
    base, root = FIXTURES / folder, SYS_PATH.get(Path(folder).name, "")
    old, files = {}, {}
    for file in sorted(base.rglob("*.py")):
        relative = file.relative_to(base)
        if relative.parts[0] != "after":
            old[_module(relative, root)] = file.read_text(encoding="utf-8")
            files[_module(relative, root)] = relative.as_posix()
    new = dict(old)
    for file in sorted((base / "after").rglob("*.py")):
        new[_module(file.relative_to(base / "after"), root)] = file.read_text(encoding="utf-8")
    return old, new, files


def _decided(old, new, files=None, held=()):
    modules = set(sys.modules)
    decision = decide(old, new, ENTRY, "EndpointHandler", files, held=held)
    assert set(sys.modules) == modules, "deciding imported something"
    return decision.mode, decision.reason


@pytest.mark.parametrize(("after", "mode", "reason", "answer"), RULES)
def test_each_rule_is_decided_from_the_texts(after, mode, reason, answer):
    old, new = {ENTRY: fixture_text("base.py")}, {ENTRY: fixture_text(after)}
    assert _decided(old, new, {ENTRY: "handler.py"}) == (mode, reason)


@pytest.mark.parametrize(("files", "edit", "mode", "reason", "answer"), REACHES, ids=REACH_IDS)
def test_what_init_reaches_is_decided_from_the_texts(files, edit, mode, reason, answer):
    names = {file: _module(Path(file)) for file in files}
    old = {names[file]: fixture_text(f"reach/{fixture}") for file, fixture in files.items()}
    new = {**old, **{names[file]: fixture_text(f"reach/{f}") for file, f in edit.items()}}
    assert _decided(old, new, {name: file for file, name in names.items()}) == (mode, reason)


PATCHES = [
    ("patch_indirect", "reinit", "helper _lenient changed (used at handler.py:10)"),
    ("patch_call_only", "hot", "__call__ changed"),
    ("patch_setattr", "reinit", "helper _lenient changed (used at handler.py:10)"),
    ("library_base", "reinit", "method options_for_init changed (the base class may call it)"),
]


@pytest.mark.parametrize(
    ("folder", "mode", "reason"),
    [(p[0], p[1], p[2]) for p in PATTERNS] + PATCHES,
    ids=[p[0] for p in PATTERNS] + [p[0] for p in PATCHES],
)
def test_patterns_of_real_handlers_are_decided_from_the_texts(folder, mode, reason):
    old, new, files = _versions(f"patterns/{folder}")
    assert _decided(old, new, files, HELD.get(folder, ())) == (mode, reason)


def test_what_the_handler_holds_counts_as_start_up():
    old, new, files = _versions("patterns/lazy_held")
    assert _decided(old, new, files) == ("hot", "class formatter.Formatter changed")
    asked = []

    def held(candidates):
        asked.append(set(candidates))
        return {"formatter:Formatter"} & candidates

    mode, reason = _decided(old, new, files, held)
    assert (mode, reason) == (
        "reinit",
        "class formatter.Formatter changed (the handler holds a Formatter)",
    )
    assert asked == [{"formatter:Formatter"}]  # only what could reach the change is looked for


def test_a_file_that_does_not_parse_is_named():
    with pytest.raises(SyntaxError) as info:
        decide({ENTRY: "X = 1\n"}, {ENTRY: "X = (\n"}, ENTRY, "EndpointHandler", {ENTRY: "h.py"})
    assert info.value.filename == "h.py"


def test_a_hot_swap_carries_the_globals_that_start_up_writes():
    old, new, files = _versions("patterns/init_global")
    decision = decide(old, new, ENTRY, "EndpointHandler", files)
    assert decision.mode is Mode.HOT
    assert decision.carry == ((ENTRY, "_MODEL"),)


def test_a_logging_call_that_does_nothing_twice_is_noted():
    old = {ENTRY: fixture_text("base.py")}
    new = {ENTRY: "import logging\nlogging.basicConfig(level=logging.INFO)\n" + old[ENTRY]}
    decision = decide(old, new, ENTRY, "EndpointHandler", {ENTRY: "handler.py"})
    assert (decision.mode, decision.reason) == (
        "hot",
        "import logging added, logging setting logging.basicConfig added",
    )
    assert decision.notes == (
        "handler.py:2: logging.basicConfig does nothing once logging is configured (the first "
        "run did): pass force=True",
    )
