"""reach.py, through a live reload: hot only when nothing __init__ reaches changed, however
__init__ reaches it (a sibling module, a dotted import, a re-export, a base class...).

Each case loads a small repository, edits one file, reloads and checks both the decision and
its effect: after a re-init the handler answers from the state the new __init__ built. The
same texts are decided without loading them in test_decision.py.
"""

import pytest

import handler_kit
from handler_kit.reload.decision import decide

GOOD = {"inputs": "a good day"}


def _write(repo, files):
    for name, fixture in files.items():
        repo.write(name, f"reach/{fixture}")


# (fixtures written as the repository's files, the edit, mode, reason, answer afterwards)
REACHES = [
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
]
REACH_IDS = [
    "class-in-sibling",
    "class-in-sibling-call",
    "dotted",
    "dotted-unused",
    "star",
    "alias",
    "warm-up",
]


@pytest.mark.parametrize(("files", "edit", "mode", "reason", "answer"), REACHES, ids=REACH_IDS)
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


# Patterns that real handlers use (read from public repositories, rewritten as fixtures of our
# own): what an edit must do, and what the handler answers afterwards.
PATTERNS = [
    # (fixture folder, mode, reason, the answer to {"inputs": "hi"} after the edit)
    (
        "local_import_helper",  # def build_network(path): from netmod import Net
        "reinit",
        "class netmod.Net changed (reached from __init__)",
        {"answer": "hi x2"},
    ),
    (
        "local_import_init",  # import netmod inside __init__
        "reinit",
        "class netmod.Net changed (reached from __init__)",
        {"answer": "hi x2"},
    ),
    (
        "try_import",  # try: from .speech import Pipe / except ImportError: from speech import Pipe
        "reinit",
        "class speech.Pipe changed (reached from __init__)",
        {"answer": "v2 hi"},
    ),
    (
        "type_checking",  # if TYPE_CHECKING: ... else: try/except import
        "reinit",
        "class speech.Pipe changed (reached from __init__)",
        {"answer": "v2 hi"},
    ),
    (  # self.formatter = Formatter() made in __call__ and kept: dropped, made again
        "lazy_held",
        "hot",
        "class formatter.Formatter changed; dropped self.formatter: the next request builds it "
        "again",
        {"answer": "v2 hi"},
    ),
    (
        "reexport",  # from models import build; models/__init__.py re-exports it
        "reinit",
        "class models.encoder.Encoder changed (reached from __init__)",
        {"answer": "v2 hi"},
    ),
    (
        "held_reads_constant",  # the held Cleaner's method reads a constant of its module
        "reinit",
        "module constant cleaner.MARK changed (reached from __init__)",
        {"answer": "v2 hi"},
    ),
    (
        "request_helper",  # a sibling helper only __call__ uses
        "hot",
        "module constant textutils.SUFFIX changed",
        {"answer": "hi!"},
    ),
    (
        "init_global",  # __init__ writes `global _MODEL`; the edit is in __call__
        "hot",
        "__call__ changed",
        {"answer": "model! hi"},
    ),
    (
        "import_time",  # import time, to time __call__
        "hot",
        "__call__ changed, import time added",
        {"answer": "ok", "ms": 0},
    ),
    (
        "request_constants",  # unused import removed, logging level, template, __main__ block
        "hot",
        "5 changes (import json removed, module constant TEMPLATE changed, module constant "
        "DEFAULTS changed, ...)",
        {"answer": "Question: hi\nAnswer:", "parameters": {"max_new_tokens": 32}},
    ),
    (
        "optional_import",  # try: import simplejson as jsonlib / except ImportError: json
        "hot",
        "import jsonlib changed",
        {"answer": '"hi"'},
    ),
    (
        "environment",  # os.environ["X"] = ... at import
        "reinit",
        "environment variable HANDLER_KIT_TEST_MODE changed at handler.py:3 (a library that "
        "read it when first imported keeps the old value)",
        {"answer": "exact"},
    ),
    (
        "src_path",  # sys.path.append(<here>/src), then `from engine import Engine`
        "reinit",
        "class engine.Engine changed (reached from __init__)",
        {"answer": "v2 hi"},
    ),
    (  # the prompt builder of a handler whose base class is in the same file (modelled on
        # insilicomedicine/precious3-gpt's p3gpt/handlers/p3_multimodal_handler.py; the base's
        # sampling helper and its __init__'s loaders: test_decision's base class tests)
        "base_in_file",
        "hot",
        "method create_prompt changed",
        {"answer": "[BOS] HI", "words": 1},
    ),
    # Objects request-time code builds and keeps on self: after an edit of how one is built,
    # the next request builds it again with the new code (fixtures modelled on
    # carson-katri/dream-textures, fofr/cog-sdxl-multi-controlnet-lora, aroyy007/ML_Study_Buddy).
    (  # a ControlNet kept per kind; the helper that loads it edited
        "lazy_controlnet",
        "hot",
        "helper load_controlnet changed; dropped self.controlnet, self.controlnet_kind: the next "
        "request builds them again",
        {"answer": "hi with lllyasviel/sd-controlnet-canny in bfloat16"},
    ),
    (  # the ControlNet put into the pipeline __init__ built: nothing can be dropped
        "controlnet_into_pipe",
        "reinit",
        "helper load_controlnet changed (it changes self.pipe, which __init__ built)",
        {"answer": "hi with lllyasviel/sd-controlnet-canny in bfloat16"},
    ),
    (  # LoRA adapters loaded per URL and cached; the loader in a sibling module edited
        "lora_per_url",
        "hot",
        "helper weights.load_lora changed; dropped self.adapters: the next request builds it again",
        {"answer": "hi in STYLE at 0.6"},
    ),
    (  # a model built by the first request, through a property; how it is built edited
        "lazy_model",
        "hot",
        "method asr changed; dropped self._asr: the next request builds it again",
        {"text": "asr:repo:15:hi"},
    ),
    (  # code commented out at column 0 inside methods, a form feed: the file is valid (the
        # guide's handler, with the template's code left in comments as in
        # Stelath/comic-strip-backend's data_tools/custom_diffusion_pipeline.py)
        "column_zero_comment",
        "hot",
        "__call__ changed",
        [{"label": "hi", "score": 0.9}],
    ),
    (
        "cycle",  # a_mod and b_mod import each other
        "hot",
        "helper a_mod.h changed, helper a_mod.tag changed",
        {"answer": "[A] v2 hi"},
    ),
]


@pytest.mark.parametrize(
    ("folder", "mode", "reason", "answer"), PATTERNS, ids=[p[0] for p in PATTERNS]
)
def test_patterns_of_real_handlers(repo, folder, mode, reason, answer):
    repo.copy(f"patterns/{folder}")
    live = handler_kit.load(repo.path)
    live({"inputs": "warm"})  # a first request: lazy objects and imports happen here
    state = dict(vars(live.instance))
    repo.edit(f"patterns/{folder}")
    report = live.reload()
    assert (report.mode, report.reason) == (mode, reason)
    assert all(vars(live.instance).get(k) is state[k] for k in report.kept)
    if mode == "hot":  # all is kept but what the reason says was dropped
        assert all(f"self.{k}" in report.reason for k in set(state) - set(report.kept))
    else:
        assert not report.kept
        assert not all(vars(live.instance).get(k) is v for k, v in state.items())
    assert live({"inputs": "hi"}) == answer
