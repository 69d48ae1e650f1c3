"""samples.py: the guide's emotion model repository, fine-tuned offline from the packaged MiniLM."""

import json
import shlex
import shutil

import pytest

from handler_kit import load
from handler_kit.cases.case import load_cases
from handler_kit.cli import main
from handler_kit.errors import HandlerKitError
from handler_kit.templates import samples, training


def test_the_shipped_data_has_the_guides_six_labels_and_a_fixed_split():
    train, held_out = samples.emotion_data()
    assert len(train) + len(held_out) >= 600
    assert {label for _, label in train} == set(samples.EMOTIONS)
    # every 5th sentence of each label is held out, the same on every call
    assert len(held_out) == sum(
        (len([1 for _, lab in train + held_out if lab == label])) // 5 for label in samples.EMOTIONS
    )
    assert samples.emotion_data() == (train, held_out)
    assert not {text for text, _ in train} & {text for text, _ in held_out}


def test_model_repo_rejects_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(HandlerKitError, match="is not a model folder"):
        samples.model_repo(tmp_path / "repo", model=tmp_path)


@pytest.mark.model
def test_emotion_repo_is_a_text_classification_model_that_answers_joy(tmp_path):
    from transformers import pipeline

    repo = samples.emotion_repo(tmp_path / "emotion", progress=False)
    config = json.loads((repo / "config.json").read_text())
    assert list(config["id2label"].values()) == list(samples.EMOTIONS)
    stamp = json.loads((samples.emotion_repo() / ".handler_kit_sample.json").read_text())
    assert stamp["accuracy"] >= 0.8 and stamp["guide_label"] == "joy"
    card = (repo / "README.md").read_text()
    assert f"**{stamp['accuracy']:.3f}**" in card and "pipeline_tag: text-classification" in card
    classifier = pipeline("text-classification", model=str(repo))
    assert classifier(samples.GUIDE_PAYLOAD)[0]["label"] == "joy"


@pytest.mark.model
def test_emotion_repo_is_cached_and_rebuilt_when_the_recipe_changes(tmp_path, monkeypatch):
    built = samples.emotion_repo(progress=False)
    monkeypatch.setenv("HANDLER_KIT_CACHE", str(tmp_path / "cache"))
    cached = tmp_path / "cache" / built.name
    shutil.copytree(built, cached)
    trained = []
    monkeypatch.setattr(training, "train_emotion_model", lambda *args: trained.append(args))
    assert samples.emotion_repo(progress=False) == cached and trained == []
    monkeypatch.setitem(training.RECIPE, "epochs", training.RECIPE["epochs"] + 1)
    rebuilt = samples.emotion_repo(progress=False)
    assert len(trained) == 1 and rebuilt.parent == cached.parent and rebuilt != cached


@pytest.mark.model
def test_a_repository_gets_only_what_the_build_wrote(tmp_path):
    cache = samples.emotion_repo(progress=False)
    stray = cache / "handler.py"
    stray.write_text("broken(")  # somebody used the cache folder as their repository
    try:
        repo = samples.emotion_repo(tmp_path / "emotion", progress=False)
    finally:
        stray.unlink()
    assert not (repo / "handler.py").exists()
    assert {"config.json", "model.safetensors", "README.md", ".gitattributes"} <= {
        p.name for p in repo.iterdir()
    }


@pytest.mark.model
def test_the_command_line_writes_the_guides_repository_and_says_what_next(tmp_path, capsys):
    out = tmp_path / "my repo"
    assert main(["sample", "emotion", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote the guide's repository to {out}:")
    for name in ("handler.py", "requirements.txt", "cases/", "model.safetensors"):
        assert name in printed
    assert (out / "handler.py").read_text() == samples.GUIDE_HANDLER
    assert (out / "requirements.txt").read_text() == "holidays\n"
    assert (out / "model.safetensors").is_file()
    # The next command it prints runs as printed (the folder quoted for the shell).
    call = next(line for line in printed.splitlines() if "handler-kit call" in line)
    command = shlex.split(call.strip())
    assert command[:3] == ["handler-kit", "call", str(out)]
    assert main(command[1:]) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] == "joy"
    # Its cases are the guide's two payloads, and they pass.
    cases = load_cases(out / "cases")
    assert [c.payload for c in cases] == [samples.GUIDE_DAY, samples.GUIDE_HOLIDAY]
    live = load(out)
    for case in cases:
        case.check(live(case.data()))


@pytest.mark.model
def test_the_command_line_can_write_the_model_only(tmp_path, capsys):
    assert main(["sample", "emotion", str(tmp_path / "out"), "--model-only"]) == 0
    assert "no handler.py: write yours there" in capsys.readouterr().out
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert not (tmp_path / "out" / "handler.py").exists()
    assert not (tmp_path / "out" / "cases").exists()


@pytest.mark.model
def test_fine_tuning_is_deterministic():
    import torch

    rows = samples.emotion_data()[0][::25]  # a few sentences of each label: seconds, not a minute
    recipe = {**training.RECIPE, "epochs": 1}
    first, _ = training.fine_tune(rows, recipe, progress=False)
    second, _ = training.fine_tune(rows, recipe, progress=False)
    other, _ = training.fine_tune(rows, {**recipe, "seed": recipe["seed"] + 1}, progress=False)
    a, b, c = (m.classifier.weight for m in (first, second, other))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_cached_build_builds_once_and_stamps_what_it_measured(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLER_KIT_CACHE", str(tmp_path / "cache"))
    calls = []

    def train(folder, progress):
        calls.append(folder)
        (folder / "weights.bin").write_bytes(b"w")
        (folder / "sub").mkdir()
        (folder / "sub" / "extra.txt").write_text("x")
        return {"accuracy": 0.97}

    first = samples.cached_build("toy", {"epochs": 1}, train, progress=False)
    again = samples.cached_build("toy", {"epochs": 1}, train, progress=False)
    assert first == again and len(calls) == 1 and calls[0] != first  # built aside, then moved
    info = samples.build_info(first)
    assert info["accuracy"] == 0.97 and info["files"] == ["sub/extra.txt", "weights.bin"]
    other = samples.cached_build("toy", {"epochs": 2}, train, progress=False)
    assert other != first and len(calls) == 2
    copied = samples.copy_build(first, tmp_path / "repo")
    assert (copied / "sub" / "extra.txt").is_file() and (copied / ".gitattributes").is_file()


def test_a_failed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLER_KIT_CACHE", str(tmp_path / "cache"))

    def broken(folder, progress):
        (folder / "half.bin").write_bytes(b"half")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        samples.cached_build("toy", {}, broken, progress=False)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [".toy.lock"]
    built = samples.cached_build("toy", {}, lambda folder, progress: None, progress=False)
    assert samples.build_info(built)["files"] == []


def test_two_processes_build_a_model_once(tmp_path):
    import subprocess
    import sys

    log = tmp_path / "trained.log"
    script = f"""
import time
from pathlib import Path
from handler_kit.templates import samples

def train(folder, progress):
    with open({str(log)!r}, "a") as file:
        file.write("trained\\n")
    time.sleep(1.5)
    (folder / "w.bin").write_bytes(b"w")

print(samples.cached_build("toy", {{}}, train, progress=False))
"""
    env = {**__import__("os").environ, "HANDLER_KIT_CACHE": str(tmp_path / "cache")}
    runs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    folders = {run.communicate(timeout=60)[0].strip() for run in runs}
    assert len(folders) == 1 and log.read_text() == "trained\n"


def test_a_build_draws_its_own_bar_and_none_of_the_libraries(tmp_path, monkeypatch, capfd):
    """Cold builds in a notebook showed "Loading weights", "Map", a config warning, ..."""
    import torch
    from datasets import Dataset
    from transformers import AutoModel
    from transformers.utils import logging

    from handler_kit.templates.recipes import fit

    monkeypatch.setenv("HANDLER_KIT_CACHE", str(tmp_path / "cache"))

    def train(folder, progress):
        model = AutoModel.from_pretrained(training.minilm_dir())  # transformers' load bar
        Dataset.from_dict({"x": [1, 2]}).map(lambda row: row)  # datasets' Map bar
        logging.get_logger("transformers").warning("loss_type=None was set in the config")
        weight = torch.nn.Linear(1, 1)
        fit(
            weight,
            2,
            {"epochs": 1, "batch_size": 2, "seed": 0},
            lambda rows: weight.weight.sum(),
            torch.optim.SGD(weight.parameters(), lr=0.1),
            desc="training toy",
            progress=progress,
        )
        model.save_pretrained(folder)  # transformers' write bar
        return {}

    samples.cached_build("toy", {}, train, progress=True)
    drawn = capfd.readouterr().err
    assert "training toy" in drawn, drawn
    for noise in ("Loading weights", "Map", "Writing model shards", "loss_type"):
        assert noise not in drawn, drawn
