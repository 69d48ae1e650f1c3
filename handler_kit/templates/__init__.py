"""Handler templates: complete repositories to start a handler from, runnable offline.

The guide points at public templates (Optimum with ONNX Runtime, TrOCR, Donut, Flair NER,
SetFit, ...) whose models come from the Hub. Each template here is a repository of the same
shape, with a small real model built on this machine (from the packaged MiniLM or trained
from scratch on data the kit makes): ``handler.py``, ``requirements.txt`` (what production's
image lacks), ``cases/`` (requests and the answers they should get), a README and the model.
``new(name, dest)`` writes one; ``handler-kit new --list`` lists them. The models are built
once and cached (see ``handler_kit.templates.builds.cached_build``).
"""

from __future__ import annotations

import difflib
import importlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import HandlerKitError
from . import samples

FOLDER = Path(__file__).parent


@dataclass(frozen=True)
class Template:
    """A repository to start from: its files, the model it builds and its cases."""

    name: str
    summary: str  # one line, for `handler-kit new --list`
    guide: str  # the guide's public template(s) it stands for
    build: Callable[[bool], Path]  # the cached model folder: build(progress)
    write_cases: Callable[[Path, Path | None], None]  # write_cases(repo, model or None)

    @property
    def folder(self) -> Path:
        """The template's files as the kit ships them."""
        return FOLDER / self.name

    @property
    def files(self) -> list[Path]:
        """handler.py, requirements.txt, README.md and sibling modules."""
        return sorted(
            p for p in self.folder.iterdir() if p.is_file() and p.suffix in (".py", ".txt", ".md")
        )

    def requirements(self) -> list[str]:
        """The packages requirements.txt lists (what production's image lacks)."""
        file = self.folder / "requirements.txt"
        lines = file.read_text(encoding="utf-8").splitlines() if file.is_file() else []
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]

    def model(self, progress: bool = True) -> Path:
        """The template's model folder, built now unless cached."""
        return self.build(progress)

    def __repr__(self) -> str:
        return f"<Template {self.name}: {self.summary}>"


# Each template: its recipe (a module of recipes/) and the names there of the template's name,
# its build and its cases; one line for `handler-kit new --list`; the guide's public
# template(s) it stands for.
_TABLE = (
    (
        "onnx",
        "CLASSIFIER",
        "build_classifier",
        "write_classifier_cases",
        "the emotion classifier exported to ONNX, served by ONNX Runtime",
        "Optimum and ONNX Runtime (philschmid/distilbert-onnx-banking77)",
    ),
    (
        "onnx",
        "EMBEDDINGS",
        "build_embeddings",
        "write_embedding_cases",
        "MiniLM sentence embeddings, pooled and normalised in an ONNX graph",
        "optimised sentence-transformers (philschmid/all-MiniLM-L6-v2-optimum-embeddings)",
    ),
    (
        "setfit",
        "NAME",
        "build",
        "write_cases",
        "a few-shot topic classifier: SetFit on MiniLM, 8 sentences per label",
        "SetFit classifier (philschmid/setfit-ag-news-endpoint)",
    ),
    (
        "vision",
        "NAME",
        "build",
        "write_cases",
        "shapes in images: a small CNN trained on images the kit draws",
        "image models (BLIP image embeddings' input: binary or base64 images)",
    ),
    (
        "ocr",
        "NAME",
        "build",
        "write_cases",
        "reads lines of text from an image; fields as JSON with parameters.fields",
        "TrOCR (philschmid/trocr-base-printed) and Donut (donut-base-finetuned-cord-v2)",
    ),
    (
        "audio",
        "NAME",
        "build",
        "write_cases",
        "tones, chirps, beeps or noise in wav/flac audio, decoded with soundfile",
        "audio models (pyannote speaker diarisation's input: audio bytes)",
    ),
    (
        "ner",
        "NAME",
        "build",
        "write_cases",
        "named entities (people, places, organisations) with character offsets",
        "Flair NER (philschmid/flair-ner-english-ontonotes-large), LayoutLM's output",
    ),
    (
        "generation",
        "NAME",
        "build",
        "write_cases",
        "a tiny GPT-2 trained on the kit's sentences: sampling parameters, seeds",
        "GPT-J 6B on one GPU (philschmid/gpt-j-6B-fp16-sharded)",
    ),
    (
        "image_text",
        "NAME",
        "build",
        "write_cases",
        "images and captions as vectors in one space: text-to-image search",
        "BLIP image embeddings (florentgbelidji/blip_image_embeddings)",
    ),
    (
        "diarization",
        "NAME",
        "build",
        "write_cases",
        "who spoke when: speaker embeddings of synthetic voices, clustered",
        "pyannote speaker diarisation (philschmid/pyannote-speaker-diarization-endpoint)",
    ),
    (
        "layout",
        "NAME",
        "build",
        "write_cases",
        "words of a scanned form (Tesseract) labelled header, question, answer by LayoutLM",
        "LayoutLM (philschmid/layoutlm-funsd)",
    ),
)


def _templates() -> dict[str, Template]:
    found = {}
    for module, name, build, cases, summary, guide in _TABLE:
        recipe = importlib.import_module(f".recipes.{module}", __name__)
        template = Template(
            getattr(recipe, name), summary, guide, getattr(recipe, build), getattr(recipe, cases)
        )
        found[template.name] = template
    return found


TEMPLATES: dict[str, Template] = _templates()


def names() -> list[str]:
    """The templates' names."""
    return list(TEMPLATES)


def get(name: str) -> Template:
    """The template called ``name``; a clear error naming the closest ones otherwise."""
    try:
        return TEMPLATES[name]
    except KeyError:
        close = difflib.get_close_matches(name, TEMPLATES, n=3, cutoff=0.4)
        said = f"did you mean {' or '.join(close)}? " if close else ""
        raise HandlerKitError(
            f"no template called {name!r}",
            hint=f"{said}The templates: {', '.join(TEMPLATES)} (handler-kit new --list).",
        ) from None


def listing() -> str:
    """One line per template: its name and what it is."""
    width = max(len(name) for name in TEMPLATES)
    return "\n".join(f"{t.name:<{width}}  {t.summary}" for t in TEMPLATES.values())


def new(name: str, dest: str | Path, model: bool = True, progress: bool = True) -> Path:
    """Write template ``name`` as a new repository at ``dest``; returns ``dest``.

    The repository holds the template's files, its payload cases and (unless ``model`` is
    False) its model, built now unless cached. ``dest`` must not exist or be empty: nothing a
    user has is overwritten.
    """
    template = get(name)
    dest = Path(dest).expanduser()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        what = "a file" if not dest.is_dir() else "not empty"
        raise HandlerKitError(
            f"{dest} is {what}: a template is written into a new folder",
            hint="Pass a folder that does not exist yet (or is empty).",
        )
    built = template.model(progress) if model else None
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if built is not None:
            samples.copy_build(built, dest)
        card = (dest / "README.md").read_text(encoding="utf-8") if built is not None else ""
        for file in template.files:
            shutil.copy2(file, dest / file.name)
        if card:
            readme = (dest / "README.md").read_text(encoding="utf-8")
            (dest / "README.md").write_text(with_model_card(readme, card), encoding="utf-8")
        samples.write_gitattributes(dest)
        samples.write_gitignore(dest)
        with samples.libraries_quiet():  # cases that load the model to record answers
            template.write_cases(dest, built)
    except BaseException:
        # Half a repository would only mislead: take back what was written.
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for path in list(dest.iterdir()):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        raise
    return dest


def with_model_card(readme: str, card: str) -> str:
    """The template's README with the model's card: its Hub metadata first, its text after."""
    front, body = "", card
    if card.startswith("---\n") and "\n---\n" in card[4:]:
        end = card.index("\n---\n", 4) + len("\n---\n")
        front, body = card[:end] + "\n", card[end:]
    lines = body.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]  # the card's title: the template's README has its own
    return f"{front}{readme.rstrip()}\n\n## The model\n\n" + "\n".join(lines).strip() + "\n"
