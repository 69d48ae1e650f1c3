"""effects.py: what a top-level statement does beyond binding names, and what it patches."""

import ast

import pytest

from handler_kit.reload.analysis import analyse
from handler_kit.reload.effects import SideEffect, Slot, patch_points


@pytest.mark.parametrize(
    ("text", "kind", "label"),
    [
        ("import os\nos.environ['A'] = '1'", SideEffect.ENVIRONMENT, "A"),
        ("import os\nos.environ[key] = '1'", SideEffect.ENVIRONMENT, "(os.environ)"),
        ("from os import environ\nenviron['B'] = '1'", SideEffect.ENVIRONMENT, "B"),
        ("import os\nos.environ.setdefault('C', '1')", SideEffect.ENVIRONMENT, "C"),
        ("import os\nos.environ.update({'D': '1'})", SideEffect.ENVIRONMENT, "D"),
        ("import os\nos.environ.pop('E', None)", SideEffect.ENVIRONMENT, "E"),
        ("import os\nos.putenv('F', '1')", SideEffect.ENVIRONMENT, "os.putenv"),
        ("import lib\nlib.Base.parse = wrap(lib.Base.parse)", SideEffect.PATCH, "lib.Base.parse"),
        ("import lib\nlib.table[name] = f", SideEffect.PATCH, "lib.table[...]"),
        ("import lib\nlib.calls += 1", SideEffect.PATCH, "lib.calls"),
        ("import lib\nsetattr(lib.Base, 'parse', f)", SideEffect.PATCH, "lib.Base.parse"),
        ("setattr(CONFIG, 'x', 1)", SideEffect.CALL, "setattr(...)"),
        ("import sys\nsys.path.append('src')", SideEffect.PATH, "sys.path.append"),
        ("print('ready')", SideEffect.PRINT, "print"),
        (
            "import logging\nlogging.basicConfig(level=10)",
            SideEffect.LOGGING,
            "logging.basicConfig",
        ),
        (
            "import logging\nlog = logging.getLogger(__name__)\nlog.setLevel(10)",
            SideEffect.LOGGING,
            "log.setLevel",
        ),
        (
            "import torch\ntorch.set_grad_enabled(False)",
            SideEffect.CALL,
            "torch.set_grad_enabled(...)",
        ),
        ("for i in range(3):\n    pass", SideEffect.STATEMENT, "at line 1"),
    ],
)
def test_what_a_top_level_statement_does(text, kind, label):
    effect = analyse("m", text).effects[-1]
    assert (effect.kind, effect.label) == (kind, label)


@pytest.mark.parametrize(
    "text",
    [
        "CONFIG = {}\nCONFIG['k'] = 1",  # the module's own object: a binding of CONFIG
        "class C:\n    pass\nC.x = 1",
        "X = 1\nX += 1",
        "import lib\nmodel = lib.load()",
        "def f():\n    lib.Base.parse = None",  # inside a function: request time
        'if __name__ == "__main__":\n    main()',  # production never runs it
    ],
)
def test_what_only_binds_names_has_no_effect(text):
    assert analyse("m", text).effects == []


def _points(statement: str) -> list[tuple[str, Slot, object, bool]]:
    points = patch_points(ast.parse(statement).body[0])
    return [
        (".".join(p.chain), p.slot, ast.literal_eval(p.key) if p.restorable else None, p.restorable)
        for p in points
    ]


@pytest.mark.parametrize(
    ("statement", "points"),
    [
        ("lib.Base.parse = f", [("lib.Base", Slot.ATTRIBUTE, "parse", True)]),
        ("lib.table['k'] = f", [("lib.table", Slot.ITEM, "k", True)]),
        ("lib.table[k] = f", [("lib.table", Slot.ITEM, None, False)]),
        ("a.x = b.y = 1", [("a", Slot.ATTRIBUTE, "x", True), ("b", Slot.ATTRIBUTE, "y", True)]),
        ("setattr(lib.Base, 'parse', f)", [("lib.Base", Slot.ATTRIBUTE, "parse", True)]),
        ("setattr(lib.Base, name, f)", [("lib.Base", Slot.ATTRIBUTE, None, False)]),
        ("setattr(make(), 'x', 1)", []),  # evaluating make() again would have side effects
        ("make().x = 1", []),
        ("os.environ.setdefault('X', '1')", [("os.environ", Slot.ITEM, "X", True)]),
        ("os.environ.pop('X', None)", [("os.environ", Slot.ITEM, "X", True)]),
        (
            "os.environ.update({'A': '1'}, B='2')",
            [("os.environ", Slot.ITEM, "A", True), ("os.environ", Slot.ITEM, "B", True)],
        ),
        ("os.environ.update(values)", [("os.environ", Slot.ITEM, None, False)]),
        ("cache.update({'A': 1})", []),  # not the environment: a call like any other
        ("x = 1", []),
        ("print(x)", []),
    ],
)
def test_patch_points_are_what_a_statement_sets_on_an_object_it_names(statement, points):
    assert _points(statement) == points
