"""A tiny causal language model trained from scratch on the sentences the kit ships.

A byte-level BPE tokenizer (``tokenizers``) and a two-layer GPT-2 (``GPT2LMHeadModel``, about
100k weights) are trained on the emotion and topic sentences in ``handler_kit/data``; every
5th emotion sentence is held out and the build measures the model's perplexity on them. It
writes short sentences in their style; the template is about the handler's side of
generation: parameters, sampling, seeds.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from ...cases.case import cases_folder, save_case
from .. import builds, training
from . import card, fit, recipe_table, steps
from .setfit import DATA as TOPICS

NAME = "text-generation"
EOS = "<|endoftext|>"
RECIPE = {
    "tokenizer": "byte-level BPE",
    "vocab_size": 600,
    "model": {"n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": 64},
    "block": 32,
    "epochs": 20,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "seed": 13,
    "version": 1,
}
PACKAGES = ("torch", "transformers", "tokenizers")


def corpus() -> tuple[list[str], list[str]]:
    """Sentences to train on and the held-out ones (every 5th emotion sentence)."""
    train, held_out = training.emotion_data()
    with TOPICS.open(encoding="utf-8", newline="") as file:
        topics = [row["text"] for row in csv.DictReader(file)]
    return [text for text, _ in train] + topics, [text for text, _ in held_out]


def build(progress: bool = True) -> Path:
    """The model's folder (``pipeline("text-generation", model=folder)`` loads it)."""
    inputs = [Path(__file__), training.DATA, TOPICS]
    return builds.cached_build(NAME, RECIPE, _train, inputs, PACKAGES, progress)


def _tokenizer(sentences: list[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=RECIPE["vocab_size"],
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(sentences, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS
    )


def _train(dest: Path, progress: bool) -> dict:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(RECIPE["seed"])
    train, held_out = corpus()
    tokenizer = _tokenizer(train)
    eos = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer), bos_token_id=eos, eos_token_id=eos, **RECIPE["model"]
    )
    model = GPT2LMHeadModel(config)
    blocks = _blocks(tokenizer, train)
    optimizer = torch.optim.AdamW(model.parameters(), lr=RECIPE["learning_rate"])
    total = steps(len(blocks), RECIPE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, RECIPE["learning_rate"], total)

    def loss_of(batch: Any) -> Any:
        return model(input_ids=blocks[batch], labels=blocks[batch]).loss

    fit(model, len(blocks), RECIPE, loss_of, optimizer, schedule, f"training {NAME}", progress)
    held_blocks = _blocks(tokenizer, held_out)
    with torch.inference_mode():
        loss = model(input_ids=held_blocks, labels=held_blocks).loss.item()
    perplexity = math.exp(loss)
    model.generation_config.pad_token_id = eos
    model.generation_config.max_new_tokens = 20
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    # transformers 5 names the class "TokenizersBackend", which production's 4.51 does not
    # know; both know it by its older name.
    settings = json.loads((dest / "tokenizer_config.json").read_text(encoding="utf-8"))
    settings["tokenizer_class"] = "PreTrainedTokenizerFast"
    (dest / "tokenizer_config.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    (dest / "README.md").write_text(_card(perplexity, len(tokenizer)), encoding="utf-8")
    if progress:
        print(f"{NAME}: held-out perplexity {perplexity:.1f} (vocabulary {len(tokenizer)})")
    return {"perplexity": perplexity, "vocab_size": len(tokenizer), "held_out": len(held_out)}


def _blocks(tokenizer: Any, sentences: list[str]) -> Any:
    """The sentences as one stream of tokens (EOS between them), cut into equal blocks."""
    import torch

    ids = []
    for text in sentences:
        ids += tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
    block = RECIPE["block"]
    usable = len(ids) // block * block
    return torch.tensor(ids[:usable]).view(-1, block)


def _card(perplexity: float, vocabulary: int) -> str:
    return card(
        "Tiny GPT-2",
        "text-generation",
        ("gpt2",),
        f"""\
A two-layer GPT-2 and a byte-level BPE tokenizer ({vocabulary} tokens), trained from scratch
by handler_kit on the English sentences it ships (emotions and topics). It writes short
sentences in their style: a stand-in for a large model, to develop the handler around.

- Held-out perplexity: **{perplexity:.1f}** (every 5th emotion sentence, never trained on;
  a model that guessed uniformly would score {vocabulary}).

## Recipe

{recipe_table(RECIPE)}
""",
    )


PROMPT = "I feel"


def write_cases(repo: Path, model: Path | None) -> None:
    """Greedy decoding and seeded sampling, their answers recorded when the model is built."""
    folder = cases_folder(repo)
    greedy = {"inputs": PROMPT, "parameters": {"max_new_tokens": 8, "do_sample": False}}
    sampled = {
        "inputs": PROMPT,
        "parameters": {
            "max_new_tokens": 12,
            "do_sample": True,
            "temperature": 0.8,
            "top_k": 20,
            "seed": 7,
        },
    }
    for name, payload in (("greedy", greedy), ("seeded_sampling", sampled)):
        expect = {"expected": _answer(model, payload)} if model is not None else {}
        save_case(folder, name, payload, expect=expect)


def _answer(model: Path, payload: dict) -> Any:
    """The template's handler's answer to ``payload`` with this model: what a case expects."""
    import importlib.util

    from . import template_file

    spec = importlib.util.spec_from_file_location(
        "_generation_handler", template_file(NAME, "handler.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EndpointHandler(str(model))(payload)
