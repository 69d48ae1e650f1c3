"""samples.py: the guide's emotion model repository, fine-tuned offline from the packaged MiniLM."""

import json
import shutil

import pytest

from handler_kit import samples
from handler_kit.cli import main
from handler_kit.errors import HandlerKitError


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
    monkeypatch.setattr(samples, "_train_emotion_model", lambda *args: trained.append(args))
    assert samples.emotion_repo(progress=False) == cached and trained == []
    monkeypatch.setitem(samples.RECIPE, "epochs", samples.RECIPE["epochs"] + 1)
    samples.emotion_repo(progress=False)
    assert len(trained) == 1 and trained[0][0].name != cached.name


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
def test_the_command_line_writes_the_repository(tmp_path, capsys):
    assert main(["sample", "emotion", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(tmp_path / "out")
    assert (tmp_path / "out" / "model.safetensors").is_file()


@pytest.mark.model
def test_fine_tuning_is_deterministic():
    import torch

    rows = samples.emotion_data()[0][::25]  # a few sentences of each label: seconds, not a minute
    recipe = {**samples.RECIPE, "epochs": 1}
    first, _ = samples.fine_tune(rows, recipe, progress=False)
    second, _ = samples.fine_tune(rows, recipe, progress=False)
    other, _ = samples.fine_tune(rows, {**recipe, "seed": recipe["seed"] + 1}, progress=False)
    a, b, c = (m.classifier.weight for m in (first, second, other))
    assert torch.equal(a, b) and not torch.equal(a, c)
