"""Search by vectors: the images nearest a text's vector, as records a result table shows as a
grid (what a text-to-image search with an image-and-text embedding model answers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import HandlerKitError


def rank_images(
    query: Sequence[float],
    images: Sequence[Any],
    vectors: Sequence[Sequence[float]],
    top: int = 8,
    captions: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The ``top`` images whose vectors point most nearly the way ``query`` does, best first.

    ``vectors[i]`` is the embedding of ``images[i]`` (in the query's space: a text's vector for
    a text-to-image search). The score is the cosine similarity. Answers ``[{"image": ...,
    "score": 0.93}, ...]``, with a ``caption`` each when ``captions`` says what each image
    shows: ``show`` draws it as an image grid.
    """
    import numpy as np

    if len(images) != len(vectors) or (captions is not None and len(captions) != len(images)):
        said = "" if captions is None else f" and {len(captions)} captions"
        raise HandlerKitError(
            f"rank_images got {len(images)} images, {len(vectors)} vectors{said}",
            hint="Give one vector (and caption) per image, in the same order.",
        )
    matrix = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), -1)
    wanted = np.asarray(query, dtype=np.float64).ravel()
    if matrix.shape[1] != wanted.size:
        raise HandlerKitError(
            f"the query has {wanted.size} numbers and the images' vectors {matrix.shape[1]}",
            hint="Embed the text and the images with the same model.",
        )
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(wanted)
    scores = matrix @ wanted / np.where(norms == 0, 1, norms)
    best = np.argsort(-scores, kind="stable")[:top]
    ranked = [{"image": images[i], "score": round(float(scores[i]), 4)} for i in best]
    if captions is not None:
        for match, i in zip(ranked, best, strict=True):
            match["caption"] = captions[i]
    return ranked
