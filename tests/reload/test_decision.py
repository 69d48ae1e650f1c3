"""decision.py: hot or re-init decided from two versions' texts alone (nothing is loaded).

The cases are those the live tests reload (test_reload's RULES, test_reach's REACHES and
PATTERNS, the patch patterns): here the same texts go in and the same decision must come out,
without importing or running a line of them.
"""

import ast
import io
import random
import re
import sys
import tokenize
from pathlib import Path

import pytest
from conftest import ENTRY, FIXTURES, fixture_text
from test_reach import PATTERNS, REACH_IDS, REACHES
from test_reload import RULES

import handler_kit.templates as handler_kit_templates
from handler_kit.reload.decision import decide
from handler_kit.reload.lazy import Drop
from handler_kit.reload.report import Outcome


def _holds_formatter(candidates, skip):
    """lazy_held's handler after a first request: its Formatter, in the attribute formatter."""
    return set() if "formatter" in skip else {"formatter:Formatter"} & candidates


# What the handler holds when the reload decides (the live test makes it with a first request).
HELD = {"lazy_held": _holds_formatter}
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
    asked = []

    def held(candidates, skip):
        # As if the Formatter were also kept somewhere the swap does not drop.
        asked.append((set(candidates), skip))
        return {"formatter:Formatter"} & candidates

    mode, reason = _decided(old, new, files, held)
    assert (mode, reason) == (
        "reinit",
        "class formatter.Formatter changed (the handler holds a Formatter)",
    )
    # Only what could reach the change is looked for, and not in what the swap drops.
    assert asked == [({"formatter:Formatter"}, frozenset({"formatter"}))]


def test_a_file_that_does_not_parse_is_named():
    with pytest.raises(SyntaxError) as info:
        decide({ENTRY: "X = 1\n"}, {ENTRY: "X = (\n"}, ENTRY, "EndpointHandler", {ENTRY: "h.py"})
    assert info.value.filename == "h.py"


def test_a_hot_swap_carries_the_globals_that_start_up_writes():
    old, new, files = _versions("patterns/init_global")
    decision = decide(old, new, ENTRY, "EndpointHandler", files)
    assert decision.mode is Outcome.HOT
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


# --- any text Python compiles gives a decision: odd but valid formatting is no change --------

# Handlers with the shapes that trip a reading of source text: comments at column 0 inside
# methods (code left commented out), decorators, nested functions with `nonlocal`, a class in
# a method, `async def`, `match`, walrus, line continuations, tabs and form feeds.
ODD_HANDLERS = [
    """import functools


def cached(function):
    @functools.wraps(function)
    def wrapper(*args):
        count = 0

        def bump():
            nonlocal count
            count += 1
            return count

        bump()
        return function(*args)

    return wrapper


class EndpointHandler:
    def __init__(self, path=""):
        self.model = {"path": path}
#        self.model = load(path)

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def _template(name):
        return f"<{name}>"

    @property
    def device(self):
        return "cpu"

    @cached
    def __call__(self, data):
        x = data["inputs"]
#        return {"old": x}
        if (n := len(x)) > 3:
            x = x + \\
                "!"
        match data.get("mode"):
            case "upper":
                x = x.upper()
            case _:
                pass

        class Result(dict):
            pass

        return Result(answer=self._template(x), n=n)
""",
    """class EndpointHandler:
\tdef __init__(self, path=""):
\t\tself.path = path

\tasync def __call__(self, data):
\t\tdef inner():
\t\t\treturn data["inputs"]
# a comment at column 0 between tab-indented lines
\t\treturn {"answer": inner()}
""",
]


def _corpus() -> list[str]:
    """Texts of real handlers and their modules (the fixtures, the templates) that compile."""
    roots = [FIXTURES, Path(handler_kit_templates.__file__).parent]
    texts = list(ODD_HANDLERS)
    for root in roots:
        for file in sorted(root.rglob("*.py")):
            text = file.read_text(encoding="utf-8")
            try:
                compile(text, str(file), "exec", dont_inherit=True)
            except (SyntaxError, ValueError):
                continue
            texts.append(text)
    return texts


def _statements(text: str) -> list[ast.stmt]:
    """Statements inside functions: where a comment at column 0 is left over."""
    return [
        stmt
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for stmt in node.body
    ]


def _insert_before(text: str, lines: set[int], make) -> str:
    out = []
    for number, line in enumerate(text.split("\n"), 1):
        if number in lines:
            out.append(make(line))
        out.append(line)
    return "\n".join(out)


def _string_lines(text: str) -> set[int]:
    """Lines that continue a string token: their leading whitespace is the string's."""
    inside = set()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            inside |= set(range(token.start[0] + 1, token.end[0] + 1))
    return inside


def _comments(text: str, rng: random.Random) -> str:
    lines = {s.lineno for s in _statements(text)}
    chosen = set(rng.sample(sorted(lines), min(3, len(lines))))
    return _insert_before(text, chosen, lambda _: '#        return {"old": x}  # col 0')


def _form_feeds(text: str, rng: random.Random) -> str:
    lines = {s.lineno for s in _statements(text)}
    chosen = set(rng.sample(sorted(lines), min(3, len(lines))))
    text = _insert_before(text, chosen, lambda _: "\f")
    return _insert_before(
        text, {1}, lambda _: "# \u2028 \x0c \x1c \x85 odd separators in a comment"
    )


def _continuations(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for stmt in _statements(text):
        value = getattr(stmt, "value", None)
        if (
            isinstance(stmt, (ast.Assign, ast.Return))
            and value is not None
            and value.lineno == stmt.lineno == stmt.end_lineno
            and rng.random() < 0.5
        ):
            line = lines[stmt.lineno - 1]
            column = len(line.encode("utf-8")[: value.col_offset].decode("utf-8"))
            lines[stmt.lineno - 1] = f"{line[:column]}\\\n        {line[column:]}"
    return "\n".join(lines)


def _tabs(text: str, rng: random.Random) -> str:
    skip = _string_lines(text)
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        indent = len(line) - len(line.lstrip(" "))
        if number not in skip and indent % 4 == 0 and line.strip():
            lines[number - 1] = "\t" * (indent // 4) + line[indent:]
    return "\n".join(lines)


def _line_ends(text: str, rng: random.Random) -> str:
    return text.replace("\n", rng.choice(["\r\n", "\r"]))


FORMATTINGS = [_comments, _form_feeds, _continuations, _tabs, _line_ends]


@pytest.mark.parametrize("formatting", FORMATTINGS, ids=[f.__name__[1:] for f in FORMATTINGS])
def test_formatting_that_python_compiles_is_no_change(formatting):
    rng = random.Random(18)
    checked = 0
    for text in _corpus():
        odd = formatting(text, rng)
        try:
            compile(odd, "handler.py", "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue  # tabs against an indentation that is not a multiple of four spaces
        for old, new in ((text, odd), (odd, text)):
            decision = decide({ENTRY: old}, {ENTRY: new}, ENTRY, "EndpointHandler")
            assert (decision.mode, decision.reason) == (
                "hot",
                "only comments or formatting changed",
            )
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("folder", [p[0] for p in PATTERNS] + [p[0] for p in PATCHES])
def test_formatting_does_not_change_a_decision(folder):
    old, new, files = _versions(f"patterns/{folder}")
    expected = _decided(old, new, files, HELD.get(folder, ()))
    rng = random.Random(folder)
    odd = {}
    for name, text in [*old.items(), *new.items()]:
        formatted = text
        for formatting in [*rng.sample(FORMATTINGS[:-1], 2), _line_ends]:
            formatted = formatting(formatted, rng)
        odd[name, text] = formatted
    odd_old = {name: odd[name, text] for name, text in old.items()}
    odd_new = {name: odd[name, text] for name, text in new.items()}
    mode, reason = _decided(odd_old, odd_new, files, HELD.get(folder, ()))
    assert (mode, re.sub(r"\.py:\d+", ".py:N", reason)) == (
        expected[0],
        re.sub(r"\.py:\d+", ".py:N", expected[1]),
    )


CLASS = "EndpointHandler"


def test_an_analysis_that_fails_re_initialises_and_says_why(monkeypatch):
    from handler_kit.reload import analysis

    def broken(*args):
        raise IndexError("a reading the analysis did not expect")

    monkeypatch.setattr(analysis, "_read", broken)
    analysis.analyse.cache_clear()
    try:
        decision = decide(
            {ENTRY: ODD_HANDLERS[1]}, {ENTRY: ODD_HANDLERS[0]}, ENTRY, "EndpointHandler"
        )
    finally:
        analysis.analyse.cache_clear()
    assert decision.mode is Outcome.REINIT
    assert decision.reason == (
        "the edit could not be analysed (handler/EndpointHandler.py: IndexError: a reading the "
        "analysis did not expect)"
    )


# --- a handler class whose base class is in the repository ----------------------------------

BASE = """{imports}
class BaseHandler({base}):
    def __init__(self, path=""):
        self.model = self.load(path)

    def load(self, path):
        return {{"path": path}}

    def build_prompt(self, text):
        return f"<{{text}}>"

    def sample(self, prompt):
        return prompt.upper()

    def __call__(self, data):
        return {{"answer": self.sample(self.build_prompt(data["inputs"]))}}
"""
SUBCLASS = """{imports}
class EndpointHandler(BaseHandler):
{init}
    def build_prompt(self, text):
        return f"[{{text}}]"
"""
SUPER_INIT = '    def __init__(self, path=""):\n        super().__init__(path)\n'
NAMED_INIT = '    def __init__(self, path=""):\n        BaseHandler.__init__(self, path)\n'


def _family(parent="ABC", init=SUPER_INIT, sibling=False):
    """The texts of a handler deriving from BaseHandler (deriving from ``parent``), in
    handler.py or in base.py."""
    imports = "from abc import ABC\nimport libstub\n"
    base_text = BASE.format(imports=imports, base=parent)
    if sibling:
        handler = SUBCLASS.format(imports="from base import BaseHandler\n", init=init)
        return {ENTRY: handler, "base": base_text}, "base"
    return {ENTRY: base_text + SUBCLASS.format(imports="", init=init)}, ENTRY


@pytest.mark.parametrize(
    ("parent", "init", "sibling"),
    [("ABC", SUPER_INIT, False), ("object", NAMED_INIT, False), ("ABC", "", True)],
    ids=["super-init", "named-init", "sibling-module-no-init"],
)
@pytest.mark.parametrize(
    ("old", "new", "mode", "reason"),
    [
        ("prompt.upper()", "prompt.lower()", "hot", "method {}BaseHandler.sample changed"),
        ('f"<{text}>"', 'f"<<{text}>>"', "hot", "method {}BaseHandler.build_prompt changed"),
        (
            'return {"path": path}',
            'return {"path": path, "v": 2}',
            "reinit",
            "method {}BaseHandler.load changed (reached from __init__)",
        ),
    ],
    ids=["sampling", "overridden", "loader"],
)
def test_what_a_base_class_in_the_repository_defines_is_start_up_only_from_init(
    parent, init, sibling, old, new, mode, reason
):
    texts, module = _family(parent, init, sibling)
    edited = {**texts, module: texts[module].replace(old, new)}
    files = {name: f"{name.split('.')[0]}.py" for name in texts}
    assert _decided(texts, edited, files) == (mode, reason.format("base." if sibling else ""))


def test_a_base_class_in_the_repository_that_derives_from_a_library_keeps_the_library_rule():
    texts, module = _family(parent="libstub.Pipeline")
    edited = {module: texts[module].replace("prompt.upper()", "prompt.lower()")}
    assert _decided(texts, edited, {ENTRY: "handler.py"}) == (
        "reinit",
        "method BaseHandler.sample changed (the base class may call it)",
    )


def test_a_base_class_that_is_edited_to_another_base_re_initialises():
    texts, module = _family()
    edited = {module: texts[module].replace("class BaseHandler(ABC)", "class BaseHandler(dict)")}
    assert _decided(texts, edited, {ENTRY: "handler.py"}) == (
        "reinit",
        "bases or decorators of BaseHandler changed",
    )


# --- what request-time code builds and keeps on self ----------------------------------------

KEEPER = """def load(kind):
    return {{"kind": kind, "v": 1}}


class EndpointHandler:
    def __init__(self, path=""):
        self.model = {{"path": path}}
        self.cache = {{}}
{init}
    def _keep(self, key, value):
        self.cache[key] = value

    def __call__(self, data):
        kind = data.get("kind", "a")
{call}
        return {{"answer": data["inputs"]}}
"""


def _keeper(call: str, init: str = "") -> str:
    indent = lambda text: "".join(f"        {line}\n" for line in text.splitlines())  # noqa: E731
    return KEEPER.format(call=indent(call), init=indent(init))


@pytest.mark.parametrize(
    ("call", "old", "new", "reason"),
    [
        (  # an item put into a kept container by a helper the caller passes the value to
            "self._keep(kind, load(kind))",
            '"v": 1',
            '"v": 2',
            "helper load changed; dropped self.cache: the next request builds it again",
        ),
        (  # the same, the value's local variable edited in the caller
            'model = load(kind)\nmodel["dtype"] = "float16"\nself._keep(kind, model)',
            '"float16"',
            '"bfloat16"',
            "__call__ changed; dropped self.cache: the next request builds it again",
        ),
        (  # setdefault: the container's own method puts the item in
            "self.cache.setdefault(kind, load(kind))",
            '"v": 1',
            '"v": 2',
            "helper load changed; dropped self.cache: the next request builds it again",
        ),
        (  # built only when missing; __call__ edited where nothing is built: nothing dropped
            "if self.cache.get(kind) is None:\n    self.cache[kind] = load(kind)",
            'data["inputs"]}',
            'data["inputs"].upper()}',
            "__call__ changed",
        ),
        (  # an attribute __init__ does not set at all: dropped means removed
            "if not hasattr(self, 'pipe'):\n    self.pipe = load('pipe')",
            '"v": 1',
            '"v": 2',
            "helper load changed; dropped self.pipe: the next request builds it again",
        ),
    ],
    ids=["passed-in", "local-edited", "setdefault", "guard-kept", "hasattr"],
)
def test_what_request_time_code_keeps_is_dropped_when_its_making_changed(call, old, new, reason):
    before = {ENTRY: _keeper(call)}
    after = {ENTRY: before[ENTRY].replace(old, new)}
    assert _decided(before, after) == ("hot", reason)


def test_a_drop_puts_back_what_init_leaves_there():
    before = {ENTRY: _keeper("self.cache.setdefault(kind, load(kind))\nself.seen = kind")}
    after = {ENTRY: before[ENTRY].replace('"v": 1', '"v": 2')}
    decision = decide(before, after, ENTRY, CLASS)
    assert [(d.name, d.initial) for d in decision.drop] == [("cache", "{}"), ("seen", None)]
    state = {"model": object(), "cache": {"a": 1}, "seen": "a"}
    for drop in decision.drop:
        drop.apply(state)
    assert state.keys() == {"model", "cache"} and state["cache"] == {}
    for initial, value in (("()", ()), ("set()", set()), ("None", None), ("'f()'", "f()")):
        Drop("x", initial).apply(state)
        assert state["x"] == value and type(state["x"]) is type(value)


@pytest.mark.parametrize(
    ("call", "init", "reason"),
    [
        (  # an item put into a container __init__ filled: not ours to empty
            "self.cache[kind] = load(kind)",
            "self.cache.update(defaults={'v': 0})",
            "helper load changed (it changes self.cache, which __init__ built)",
        ),
        (  # the object __init__ built, changed in place by a method of it
            "self.model.update(load(kind))",
            "",
            "helper load changed (it changes self.model, which __init__ built)",
        ),
        (  # a name the code does not say
            "setattr(self, kind, load(kind))",
            "",
            "helper load changed (it sets attributes of the handler that it does not name)",
        ),
        (  # start-up sets attributes it does not name: which are lazy cannot be told
            "self.pipe = load(kind)",
            "for key, value in {'pipe': 1}.items():\n    setattr(self, key, value)",
            "helper load changed (it changes self.pipe, which __init__ may have set)",
        ),
    ],
    ids=["filled-container", "in-place", "setattr", "setattr-at-start-up"],
)
def test_what_cannot_be_dropped_re_initialises(call, init, reason):
    before = {ENTRY: _keeper(call, init)}
    after = {ENTRY: before[ENTRY].replace('"v": 1', '"v": 2')}
    assert _decided(before, after) == ("reinit", reason)


def test_a_library_base_may_set_what_request_time_code_writes():
    before = {ENTRY: "import libstub\n" + _keeper("self.pipe = load(kind)")}
    before[ENTRY] = before[ENTRY].replace(
        "class EndpointHandler:", "class EndpointHandler(libstub.Pipeline):"
    )
    after = {ENTRY: before[ENTRY].replace('"v": 1', '"v": 2')}
    assert _decided(before, after) == (
        "reinit",
        "helper load changed (it changes self.pipe, which __init__ may have set)",
    )


@pytest.mark.parametrize(
    ("folder", "old", "new"),
    [
        ("lazy_controlnet", "with {controlnet['id']}", "+ {controlnet['id']}"),
        ("lazy_model", 'return {"text": text}', 'return {"text": text.upper()}'),
    ],
)
def test_an_edit_where_nothing_is_built_keeps_what_request_time_code_built(folder, old, new):
    before, _, files = _versions(f"patterns/{folder}")
    edited = {ENTRY: before[ENTRY].replace(old, new)}
    assert edited != before
    assert _decided(before, edited, files) == ("hot", "__call__ changed")
