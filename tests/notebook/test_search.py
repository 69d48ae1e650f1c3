"""search.py: images ranked by how nearly their vectors point the way a text's does."""

import numpy as np
import pytest

from handler_kit import HandlerKitError
from handler_kit.notebook.search import rank_images
from handler_kit.notebook.tables import result_table


def test_images_are_ranked_by_cosine_similarity_best_first():
    images = ["north", "east", "north-east", "south"]
    vectors = [[0, 2], [3, 0], [1, 1], [0, -1]]
    ranked = rank_images([0, 1], images, vectors, top=3)
    assert [m["image"] for m in ranked] == ["north", "north-east", "east"]
    assert [m["score"] for m in ranked] == [1.0, 0.7071, 0.0]
    assert len(rank_images(np.array([0, 1]), images, np.array(vectors))) == 4  # top: all


def test_a_zero_vector_scores_zero_rather_than_failing():
    assert rank_images([1, 0], ["a", "b"], [[0, 0], [1, 0]])[1] == {"image": "a", "score": 0.0}


def test_vectors_that_do_not_fit_are_refused_with_what_to_do():
    with pytest.raises(HandlerKitError, match="2 images, 1 vectors"):
        rank_images([1, 0], ["a", "b"], [[1, 0]])
    with pytest.raises(HandlerKitError, match="1 images, 1 vectors and 2 captions"):
        rank_images([1, 0], ["a"], [[1, 0]], captions=["x", "y"])
    with pytest.raises(HandlerKitError, match="the query has 3 numbers"):
        rank_images([1, 0, 0], ["a"], [[1, 0]])


def test_the_ranking_is_shown_as_an_image_grid():
    from PIL import Image

    images = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    ranked = rank_images([1, 0], images, [[0, 1], [1, 0]], captions=["red", "blue"])
    assert [m["caption"] for m in ranked] == ["blue", "red"]
    table = result_table(ranked)
    assert table.kind == "matches"
    assert table.sections[0].rows[0][:2] == [1, 1.0]
    assert table.sections[0].columns == ["#", "score", "image", "caption"]
    assert repr(table).splitlines()[3].endswith("image 8×8 RGB  blue")
    page = table._repr_html_()
    assert page.count('class="handler-kit-match"') == 2
    assert page.index("blue</figcaption>") < page.index("red</figcaption>")
