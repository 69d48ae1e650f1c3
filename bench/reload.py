"""Benchmark the reload against its floor, in one run, as one table of ratios.

Every time is the median of reloads that each follow a real edit on disk (a new text each
time), and every ratio is against a baseline measured in the same run, interleaved with it:

- hot reload rows: the floor is what any reload must do at the least, reading the tracked
  files and compiling and running the edited ones (``compile()`` + ``exec``);
- the added import: against an edit of ``__call__`` (issue 9's goal: within 2x);
- ~3,000 modules (torch and transformers imported) against ~250 (a process with only
  handler_kit), and a 5x larger model against MiniLM: the hot reload must stay flat;
- re-init: against ``EndpointHandler(path)`` alone;
- peak memory during a re-init, "swap" and "free-first" (and free-first with the model in a
  module global), against the peak of loading one model (each in a fresh process, sampled
  every 2 ms);
- memory after a failed build of a 1 GiB model, against before the attempt (a fresh process);
- IPython's autoreload and jurigged (when installed) on the same edit, against the hot reload;
- a reload that hangs and is abandoned after its time limit, with a client calling the
  endpoint all along: how many requests were answered, and how many failed.

Loops are bounded by --reloads; temporary repositories are removed at the end. The goals are
issue 11's; the table says which are met on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import handler_kit
from handler_kit.templates import samples

MODEL_HANDLER = """from transformers import pipeline


class EndpointHandler:
    def __init__(self, path=""):
        self.pipeline = pipeline("feature-extraction", model=path)
        self.built = {init}

    def __call__(self, data):
        vectors = self.pipeline(data["inputs"])
        return {{"tokens": len(vectors[0]), "edit": {call}}}
"""
PLAIN_HANDLER = """class EndpointHandler:
    def __init__(self, path=""):
        self.model = {{"path": path}}

    def __call__(self, data):
        return {{"edit": {call}}}
"""
PAYLOAD = {"inputs": "I am quite excited how this will turn out"}


@dataclass
class Row:
    """One line of the table: what was measured, against what, and the goal."""

    name: str
    value: float  # ms, or a ratio when unit is "x"
    baseline: str
    ratio: float
    goal: str = ""
    met: bool | None = None
    unit: str = "ms"

    def line(self) -> str:
        value = f"{self.value:8.2f} {self.unit}" if self.unit else f"{self.value:8.0f}   "
        met = "" if self.met is None else ("met" if self.met else "MISSED")
        return (
            f"{self.name:<46} {value}  {self.ratio:7.2f}x {self.baseline:<28} {self.goal:<14} {met}"
        )


# --- handlers of a given size ------------------------------------------------------------------


def helpers(lines: int) -> str:
    """Request-time helper functions, about ``lines`` lines of them."""
    out = []
    for i in range(max(0, lines // 6)):
        out.append(
            f"def helper_{i}(values):\n"
            f'    """Scale the values by {i}."""\n'
            f"    total = sum(values) + {i}\n"
            f"    return [v * {i} / (total or 1) for v in values]\n\n"
        )
    return "\n".join(out)


def model_handler(lines: int, call: int, init: int = 0, extra: str = "") -> str:
    return extra + MODEL_HANDLER.format(init=init, call=call) + "\n\n" + helpers(lines - 12)


def floor(files: list[Path], run: list[Path]) -> float:
    """Ms to read ``files`` and compile and run ``run``: what any reload must do at least.

    Without garbage collections (a reload pauses them too): with torch loaded, one that a
    compile happens to set off takes longer than the compile.
    """
    gc.disable()
    try:
        started = time.perf_counter()
        texts = {file: file.read_bytes() for file in files}
        for file in run:
            namespace = {"__name__": "floor", "__file__": str(file)}
            exec(compile(texts[file], str(file), "exec"), namespace)
        return (time.perf_counter() - started) * 1000
    finally:
        gc.enable()


def hot_series(
    live: handler_kit.LiveHandler,
    edit: Callable[[int], tuple[Path, str]],
    reloads: int,
    run: list[Path] | None = None,
) -> tuple[list[float], list[float]]:
    """Ms of hot reloads after ``edit(i)`` (file, text) and of the floor, interleaved."""
    times, floors = [], []
    files = [s.file for s in live.sources.values()]
    for i in range(1, reloads + 2):
        file, text = edit(i)
        file.write_text(text, encoding="utf-8")
        started = time.perf_counter()
        report = live.reload()
        elapsed = (time.perf_counter() - started) * 1000
        if not report.hot:
            raise SystemExit(f"expected a hot reload, got: {report}")
        if i > 1:  # the first one warms up
            times.append(elapsed)
            floors.append(floor(files, run or [live.file, *([file] if file != live.file else [])]))
    return times, floors


def hot_row(name: str, times: list[float], floors: list[float], goal: str, limit: float) -> Row:
    median, base = statistics.median(times), statistics.median(floors)
    return Row(name, median, f"floor {base:.2f} ms", median / base, goal, median / base <= limit)


# --- the measurements -----------------------------------------------------------------------------


def sizes(tmp: Path, reloads: int, model: Path) -> tuple[list[Row], float]:
    """Hot reloads of handler.py files of 12 (the guide's size), 100, 1,000 and 5,000 lines."""
    rows, hot_100 = [], 0.0
    for lines in (12, 100, 1000, 5000):
        repo = samples.model_repo(tmp / f"lines{lines}", model_handler(lines, 0), model=model)
        live = handler_kit.load(repo)
        live(dict(PAYLOAD))
        times, floors = hot_series(
            live, lambda i, f=live.file, n=lines: (f, model_handler(n, i)), reloads
        )
        goal, limit = ("<= 4x floor", 4.0)
        rows.append(
            hot_row(f"hot, handler.py of {lines:,} lines, MiniLM", times, floors, goal, limit)
        )
        if lines == 12:
            small = statistics.median(times)
            rows.append(Row("  the same, in ms", small, "", 1.0, "<= 1 ms", small <= 1.0))
        if lines == 100:
            hot_100 = statistics.median(times)
            rows += added_import(live, reloads)
        del live
    return rows, hot_100


def added_import(live: handler_kit.LiveHandler, reloads: int) -> list[Row]:
    """An import added (and used only by __call__) against an edit of __call__, interleaved."""
    base, added = [], []
    for i in range(1, reloads + 2):
        for series, extra in ((base, ""), (added, "import time\nimport json\n")):
            number = 2 * i + (series is added)
            live.file.write_text(model_handler(100, number, extra=extra), encoding="utf-8")
            started = time.perf_counter()
            report = live.reload()
            if not report.hot:
                raise SystemExit(f"an added import must reload hot: {report}")
            if i > 1:
                series.append((time.perf_counter() - started) * 1000)
    a, b = statistics.median(added), statistics.median(base)
    return [
        Row(
            "hot, import added (vs __call__ edited)",
            a,
            "a __call__ edit",
            a / b,
            "<= 2x",
            a / b <= 2,
        )
    ]


def siblings(tmp: Path, reloads: int) -> list[Row]:
    rows = []
    for count in (0, 5, 20):
        repo = tmp / f"siblings{count}"
        repo.mkdir()
        imports = "".join(f"import sib_{k}\n" for k in range(count))
        uses = " + ".join(f"sib_{k}.tag(x)" for k in range(count)) or "x"
        for k in range(count):
            (repo / f"sib_{k}.py").write_text(_sibling(k, 0) + helpers(30), encoding="utf-8")
        text = imports + PLAIN_HANDLER.format(call=f"{uses!r}") + helpers(80)
        (repo / "handler.py").write_text(text, encoding="utf-8")
        live = handler_kit.load(repo)
        if count:
            edited = repo / "sib_0.py"

            def edit(i: int, edited: Path = edited) -> tuple[Path, str]:
                return edited, _sibling(0, i) + helpers(30)

            run = [live.file, edited]
        else:

            def edit(i: int, live: handler_kit.LiveHandler = live) -> tuple[Path, str]:
                return live.file, PLAIN_HANDLER.format(call=i) + helpers(80)

            run = [live.file]
        times, floors = hot_series(live, edit, reloads, run)
        rows.append(
            hot_row(f"hot, {count} sibling modules (one edited)", times, floors, "<= 4x floor", 4)
        )
    return rows


def _sibling(k: int, version: int) -> str:
    return f"def tag(text):\n    return text + '{k}.{version}'\n\n\n"


SMALL_PROCESS = """
import json, statistics, sys, time
from pathlib import Path
sys.path.insert(0, {bench!r})
import handler_kit
from reload import PLAIN_HANDLER, helpers
repo = Path({repo!r})
live = handler_kit.load(repo)
times = []
for i in range(1, {reloads} + 2):
    live.file.write_text(PLAIN_HANDLER.format(call=1000 + i) + helpers(80))
    started = time.perf_counter()
    assert live.reload().hot
    if i > 1:
        times.append((time.perf_counter() - started) * 1000)
print(json.dumps({{"modules": len(sys.modules), "median": statistics.median(times)}}))
"""


def modules(tmp: Path, reloads: int) -> list[Row]:
    """The same hot reload in this process (torch, ~3,000 modules) and in a fresh one (~250)."""
    repo = tmp / "plain"
    repo.mkdir()
    (repo / "handler.py").write_text(PLAIN_HANDLER.format(call=0) + helpers(80))
    small = subprocess.run(
        [
            sys.executable,
            "-c",
            SMALL_PROCESS.format(bench=str(Path(__file__).parent), repo=str(repo), reloads=reloads),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    few = json.loads(small.stdout)
    live = handler_kit.load(repo)
    times, _ = hot_series(
        live, lambda i: (live.file, PLAIN_HANDLER.format(call=i) + helpers(80)), reloads
    )
    many = statistics.median(times)
    return [
        Row(
            f"hot, {len(sys.modules):,} modules imported",
            many,
            f"{few['modules']} modules: {few['median']:.2f} ms",
            many / few["median"],
            "<= 1.2x",
            many / few["median"] <= 1.2,
        ),
    ]


def large_model(dest: Path) -> Path:
    """A model about 5x MiniLM's size (bert-base, random weights), with MiniLM's tokenizer.

    BertConfig's defaults have MiniLM's 30522-token vocabulary: its tokenizer fits.
    """
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    BertModel(BertConfig()).save_pretrained(dest)  # bert-base: 110M parameters
    return samples.model_repo(dest, model_handler(100, 0))


def weights(repo: Path) -> float:
    return (repo / "model.safetensors").stat().st_size / 1e6


def model_size(tmp: Path, reloads: int, small_hot: float) -> tuple[list[Row], Path]:
    large = large_model(tmp / "large")
    live = handler_kit.load(large)
    live(dict(PAYLOAD))
    times, _ = hot_series(live, lambda i: (live.file, model_handler(100, i)), reloads)
    median = statistics.median(times)
    size = weights(large) / weights(samples.minilm_dir())
    return [
        Row(
            f"hot, a model {size:.1f}x MiniLM's size",
            median,
            f"MiniLM: {small_hot:.2f} ms",
            median / small_hot,
            "<= 1.2x",
            median / small_hot <= 1.2,
        ),
    ], large


def reinit(tmp: Path, reloads: int) -> list[Row]:
    """Re-init reloads against building the handler alone, interleaved."""
    repo = samples.model_repo(tmp / "reinit", model_handler(100, 0))
    live = handler_kit.load(repo)
    times, alone = [], []
    for i in range(1, reloads + 2):
        live.file.write_text(model_handler(100, 0, init=i), encoding="utf-8")
        started = time.perf_counter()
        report = live.reload()
        elapsed = (time.perf_counter() - started) * 1000
        if report.mode != "reinit":
            raise SystemExit(f"expected a re-init: {report}")
        cls = type(live.instance)
        started = time.perf_counter()
        cls(str(repo))
        if i > 1:
            times.append(elapsed)
            alone.append((time.perf_counter() - started) * 1000)
    a, b = statistics.median(times), statistics.median(alone)
    return [Row("re-init, MiniLM", a, f"__init__ alone {b:.0f} ms", a / b, "<= 1.3x", a / b <= 1.3)]


# Weights in memory of the process's own (float64 copies): safetensors maps the file's pages,
# which two models would share, and a swap would not show what it costs on a GPU.
RAM_HANDLER = """from transformers import AutoModel


class EndpointHandler:
    def __init__(self, path=""):
        self.model = AutoModel.from_pretrained(path).double()
        self.built = 0

    def __call__(self, data):
        return {"parameters": sum(p.numel() for p in self.model.parameters())}
"""
PEAK_PROCESS = """
import json, resource, threading
import handler_kit
from handler_kit.reload.memory import used
open({repo!r} + "/handler.py", "w").write({handler!r})
live = handler_kit.load({repo!r})
live({{"inputs": "warm up"}})
load_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the load's own peak
peak, stop = [used().ram], threading.Event()
def sample():
    while not stop.wait(0.002):
        peak.append(used().ram)
sampler = threading.Thread(target=sample)
sampler.start()
text = open(live.file).read()
open(live.file, "w").write(text.replace("self.built = 0", "self.built = 1"))
report = live.reload(memory={mode!r})
stop.set(); sampler.join()
print(json.dumps({{"load": load_peak, "peak": max(peak), "mode": str(report.mode)}}))
"""


# The same, with the model in a module global (`global model`): free-first must free it too.
GLOBAL_HANDLER = """from transformers import AutoModel

model = None


class EndpointHandler:
    def __init__(self, path=""):
        global model
        model = AutoModel.from_pretrained(path).double()
        self.built = 0

    def __call__(self, data):
        return {"parameters": sum(p.numel() for p in model.parameters())}
"""


def peak_memory(large: Path) -> list[Row]:
    """Peak resident memory during a re-init, in each mode, against the first load's peak."""
    rows = []
    cases = [
        ("swap", RAM_HANDLER, ""),
        ("free-first", RAM_HANDLER, ""),
        ("free-first", GLOBAL_HANDLER, ", global"),  # the model in a module global
    ]
    for mode, handler, what in cases:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                PEAK_PROCESS.format(repo=str(large), mode=mode, handler=handler),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        ratio = result["peak"] / result["load"]
        goal, met = ("<= 1.15x", ratio <= 1.15) if mode == "free-first" else ("", None)
        rows.append(
            Row(
                f"peak memory of a re-init, {mode}{what}",
                result["peak"] / 2**20,
                f"peak of the load: {result['load'] / 2**20:.0f} MB",
                ratio,
                goal,
                met,
                "MB",
            )
        )
    return rows


# A failed build: __init__ makes a model of 1 GiB, then raises (an adapter that does not fit).
TORCH_HANDLER = """import torch


class EndpointHandler:
    def __init__(self, path=""):
        self.model = torch.nn.Linear(4, 4)

    def __call__(self, data):
        return {"ok": True}
"""
FAILED_PROCESS = """
import json, sys
import handler_kit
from handler_kit.reload.memory import used
open({repo!r} + "/handler.py", "w").write({handler!r})
live = handler_kit.load({repo!r})
before = used().ram
text = {handler!r}.replace(
    "self.model = torch.nn.Linear(4, 4)",
    "self.model = torch.nn.Linear(16384, 16384, bias=False)  # 1 GiB of float32\\n"
    "        raise RuntimeError('the adapter does not fit')",
)
open({repo!r} + "/handler.py", "w").write(text)
try:
    live.reload()
except handler_kit.HandlerReloadError as error:
    sys.last_value = error  # kept, as a notebook keeps the last error
after = used().ram
print(json.dumps({{"before": before, "after": after}}))
"""


def failed_build(tmp: Path) -> list[Row]:
    """Memory after a build of a 1 GiB model fails, against before the attempt (a fresh
    process: nothing else allocated meanwhile)."""
    repo = tmp / "failed"
    repo.mkdir()
    code = FAILED_PROCESS.format(repo=str(repo), handler=TORCH_HANDLER)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = result["after"] / result["before"]
    return [
        Row(
            "memory after a failed build of a 1 GiB model",
            result["after"] / 2**20,
            f"before the attempt: {result['before'] / 2**20:.0f} MB",
            ratio,
            "<= 1.05x",
            ratio <= 1.05,
            "MB",
        )
    ]


def peers(tmp: Path, reloads: int, small_hot: float) -> list[Row]:
    """The same edit through IPython's autoreload and jurigged, each on its own module."""
    rows = []
    folder = tmp / "peers"
    folder.mkdir()
    sys.path.insert(0, str(folder))

    def module(name: str, i: int) -> str:
        return MODEL_HANDLER.format(init=0, call=i) + helpers(88)

    from IPython.extensions.autoreload import ModuleReloader

    (folder / "peer_autoreload.py").write_text(module("a", 0))
    importlib.import_module("peer_autoreload")
    reloader = ModuleReloader()
    reloader.enabled, reloader.check_all = True, True
    reloader.check()  # records the module's file time
    times = []
    for i in range(1, reloads + 2):
        time.sleep(0.01)  # autoreload compares modification times
        (folder / "peer_autoreload.py").write_text(module("a", i))
        started = time.perf_counter()
        reloader.check()
        if i > 1:
            times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    rows.append(
        Row(
            "IPython %autoreload, same edit",
            median,
            f"our hot reload {small_hot:.2f} ms",
            median / small_hot,
        )
    )
    try:
        from jurigged import registry
    except ImportError:
        print("jurigged is not installed: its row is skipped (pip install jurigged)")
        return rows
    file = folder / "peer_jurigged.py"
    file.write_text(module("j", 0))
    registry.auto_register(filter=lambda name: name == str(file))
    importlib.import_module("peer_jurigged")
    times = []
    for i in range(1, reloads + 2):
        file.write_text(module("j", i))
        started = time.perf_counter()
        registry.get(str(file)).refresh()
        if i > 1:
            times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    rows.append(
        Row(
            "jurigged refresh, same edit",
            median,
            f"our hot reload {small_hot:.2f} ms",
            median / small_hot,
        )
    )
    return rows


HANGING = """class EndpointHandler:
    def __init__(self, path=""):
        self.model = {"path": path}

    def __call__(self, data):
        return {"edit": -1}


while True:  # an edit that hangs
    pass
"""


def timeout(tmp: Path) -> list[Row]:
    """A hanging edit, abandoned after 1 s, while a client calls the endpoint all along."""
    import http.client

    repo = tmp / "timeout"
    repo.mkdir()
    (repo / "handler.py").write_text(PLAIN_HANDLER.format(call=1))
    live = handler_kit.load(repo)
    answered, failed, stop = [0], [0], threading.Event()
    with handler_kit.serve(live) as endpoint:

        def client() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
            body = json.dumps({"inputs": "x"})
            while not stop.is_set():
                connection.request("POST", "/", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                ok = response.status == 200 and json.loads(response.read())["edit"] == 1
                answered[0] += ok
                failed[0] += not ok

        caller = threading.Thread(target=client)
        caller.start()
        live.file.write_text(HANGING)
        started = time.perf_counter()
        with contextlib.suppress(handler_kit.HandlerReloadError):
            live.reload(timeout=1.0)
        took = time.perf_counter() - started
        stop.set()
        caller.join(10)
    return [
        Row(
            f"a hanging reload, abandoned after {took:.1f} s",
            answered[0],
            f"requests answered, {failed[0]} failed",
            answered[0] / took,
            "0 failed",
            failed[0] == 0,
            "",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=30, help="reloads per row")
    args = parser.parse_args()
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    print(
        f"Reload benchmark: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}; {args.reloads} reloads per row.\n"
        "Ratios are against the baseline named, measured in this run.\n",
        flush=True,
    )
    header = f"{'measured':<46} {'median':>11}  {'ratio':>8} {'against':<28} {'goal':<14}"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="handler-kit-bench-") as folder:
        tmp = Path(folder)
        model = samples.minilm_dir()
        size_rows, small_hot = sizes(tmp, args.reloads, model)
        rows += size_rows
        rows += siblings(tmp, args.reloads)
        rows += modules(tmp, args.reloads)
        large_rows, large = model_size(tmp, args.reloads, small_hot)
        rows += large_rows
        rows += reinit(tmp, max(5, args.reloads // 4))
        rows += peak_memory(large)
        rows += failed_build(tmp)
        rows += peers(tmp, args.reloads, small_hot)
        rows += timeout(tmp)
    print(header)
    print("-" * len(header))
    for row in rows:
        print(row.line())
    missed = [row.name for row in rows if row.met is False]
    print(f"\n{len(rows)} rows; goals missed: {', '.join(missed) if missed else 'none'}")


if __name__ == "__main__":
    main()
