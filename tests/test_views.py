"""Index views: extra segment vectors pooled for indexing prompts, kept with the segments and fused in search."""

import shutil

import numpy as np
import pytest

from footage import FootageError, Library
from footage.search.evaluate import Pair
from footage.store.store import VIEW_ID_BASE

VIEWS = ["what animals are visible", "what is on the table"]


def words(lib) -> int:
    """The library's text chunks (the experts' words of the photo video): in the index beside the pictures."""
    return sum(lib.stats().text_chunks.values())


@pytest.fixture
def viewed(tmp_path, photos):
    path, _ = photos
    lib = Library(tmp_path / "lib")
    lib.index([path], views=VIEWS)
    yield lib
    lib.close()


def test_each_segment_gets_a_vector_per_view_and_search_scores_its_best(viewed):
    lib = viewed
    ids, token_sets = lib.store.all_frame_tokens()
    assert len(lib.store.index) == 3 * len(ids) + words(lib) and lib.store.consistent()
    assert "+views-" in lib.models.model_id
    plain, views = lib.models.pool(token_sets)
    assert views.shape == (len(ids), 2, lib.backbone.dim) and not np.allclose(views[:, 0], plain)
    query = lib.backbone.embed_query("a cat")
    best = np.maximum(plain @ query, (views @ query).max(1))  # (S,)
    found, scores = lib.store.search(query, len(ids))
    assert sorted(found.tolist()) == sorted(ids)  # every segment once, whichever of its vectors matched
    np.testing.assert_allclose(scores, np.sort(best)[::-1], atol=2e-3)  # float16 in FAISS
    hits = lib.search("a cat", top_k=10)
    assert len({s for h in hits for s in h.segments}) == sum(len(h.segments) for h in hits)


def test_views_survive_repair_removal_and_training(viewed, photos, tmp_path):
    path, stretches = photos
    lib = viewed
    shutil.rmtree(lib.path / "vectors")
    lib.close()
    with Library(tmp_path / "lib") as again:  # the stored views are used when none are given
        assert again.settings.views == tuple(VIEWS) and again.store.consistent() and again.store.repaired[1] > 0
        pairs = [Pair(str(path), s.start, s.end, f"a photo of a {s.name}") for s in stretches] * 2
        assert again.train(pairs, epochs=5, holdout=0).kept
        ids, _ = again.store.all_frame_tokens()
        assert len(again.store.index) == 3 * len(ids) + words(again) and again.store.consistent()
        assert again.store.index.ids().max() >= 2 * VIEW_ID_BASE
        again.remove(path)
        assert len(again.store.index) == 0 and again.store.consistent()


def test_other_views_are_recomputed_from_the_cache_without_decoding(viewed, photos, tmp_path):
    path, _ = photos
    viewed.close()
    with Library(tmp_path / "lib") as none:
        assert not none.index([path], views=[]).indexed  # recomputed from the cache: nothing to decode
        n = len(none.store.all_frame_tokens()[0])
        assert len(none.store.index) == n + words(none) and none.store.consistent()
        assert "+views-" not in none.models.model_id
    with Library(tmp_path / "lib") as one:
        assert not one.index([], views=VIEWS[:1]).indexed
        assert len(one.store.index) == 2 * n + words(one) and one.store.consistent()
        assert one.stats().models == [one.models.model_id]
        with pytest.raises(FootageError, match="at most 8 views"):
            one.index([path], views=[f"prompt {i}" for i in range(9)])
