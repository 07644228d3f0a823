"""End to end: a video of real photos, indexed, then found by describing each photo."""

import shutil
import sqlite3

import pytest

from footage import Hit, Library
from footage.errors import BadValue, NoLibrary
from footage.search.engine import diversify
from footage.search.hits import Candidate, merge

QUERIES = {
    "cat": "a cat",
    "coffee": "a cup of coffee",
    "rocket": "space launch",
    "astronaut": "a person in a space suit",
    "motorcycle": "a motorcycle",
}


@pytest.fixture(scope="module", params=["exact", "approximate"])
def photo_library(request, photo_library, tmp_path_factory):
    """The photo library as it is (an exact index), and a copy whose vectors are in an IVF index, the kind a
    library past 300,000 segments gets: every search test runs on both."""
    if request.param == "exact":
        yield photo_library
        return
    copy = tmp_path_factory.mktemp("approximate") / "library"
    shutil.copytree(photo_library.path, copy)
    with Library(copy) as lib:
        with lib.store.writing():
            assert lib.store.maintain(force="train") == "train" and lib.store.index.approximate
        yield lib


@pytest.mark.parametrize("name", list(QUERIES))
def test_each_photo_is_found_first_at_its_time_range(photo_library, photos, name):
    """Where each photo ranks, before the cut-off: "a person in a space suit" finds the astronaut first, at a
    cosine (0.13) that nonsense reaches too, so the cut-off hides it (test_relevance.py)."""
    path, stretches = photos
    stretch = next(s for s in stretches if s.name == name)
    best = photo_library.search(QUERIES[name], top_k=5, cutoff=False)[0]
    assert isinstance(best, Hit)
    assert best.path == str(path)
    assert best.start == pytest.approx(stretch.start, abs=1.0)
    assert best.end == pytest.approx(stretch.end, abs=1.0)


def test_segments_follow_the_cuts(photo_library, photos):
    _, stretches = photos
    with sqlite3.connect(photo_library.path / "library.db") as db:
        spans = db.execute("SELECT start, end FROM segments ORDER BY start").fetchall()
    assert spans == [(s.start, s.end) for s in stretches]


def test_hits_are_best_first_with_thumbnails(photo_library):
    hits = photo_library.search("espresso", top_k=3)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.caption and h.segment in h.segments for h in hits)
    with open(hits[0].thumbnail, "rb") as f:
        assert f.read(2) == b"\xff\xd8"  # JPEG


def test_top_k_limits_hits(photo_library):
    assert len(photo_library.search("a cat", top_k=2, cutoff=False)) == 2


def test_empty_library_returns_no_hits(library, tmp_path):
    with pytest.raises(NoLibrary, match="no footage library here"):  # reading never makes a library
        library.search("anything")
    (tmp_path / "empty").mkdir()
    library.index([tmp_path / "empty"])
    assert library.search("anything") == []


def candidate(seg, start, score, video=1):
    return Candidate(seg, video, f"/v{video}.mp4", start, start + 10, score, None)


def test_merge_joins_neighbours_that_score_alike():
    cands = [candidate(1, 0, 0.50), candidate(2, 10, 0.49), candidate(3, 20, 0.30), candidate(9, 0, 0.45, video=2)]
    hits = merge(cands)
    assert [(h.path, h.start, h.end, h.segments) for h in hits] == [
        ("/v1.mp4", 0, 20, [1, 2]),
        ("/v2.mp4", 0, 10, [9]),
        ("/v1.mp4", 20, 30, [3]),
    ]
    assert hits[0].score == 0.50


def test_merge_does_not_bridge_a_gap():
    hits = merge([candidate(1, 0, 0.5), candidate(3, 20, 0.5)])  # segment 2 (10-20 s) is no candidate
    assert len(hits) == 2


def test_merge_grows_both_ways_from_the_best():
    hits = merge([candidate(1, 0, 0.49), candidate(2, 10, 0.50), candidate(3, 20, 0.485), candidate(4, 30, 0.2)])
    assert [(h.start, h.end, h.segments) for h in hits] == [(0, 30, [1, 2, 3]), (30, 40, [4])]


def test_one_video_takes_at_most_per_video_hits_and_counts_the_rest(photo_library, photos):
    every = photo_library.search("a photo", top_k=5, per_video=None, cutoff=False)  # a vague query: all of it
    assert len(every) >= 3 and all(h.more == 0 for h in every)
    capped = photo_library.search("a photo", top_k=5, per_video=1, cutoff=False)
    assert [(h.start, h.end) for h in capped] == [(every[0].start, every[0].end)]
    assert capped[0].more == len(every) - 1  # the others are counted on the video's best hit
    with pytest.raises(BadValue, match="per_video"):
        photo_library.search("a photo", per_video=0)


def test_diversify_keeps_the_best_of_each_video_in_order():
    hits = [Hit(path, i, i + 1, 1 - i / 10) for i, path in enumerate("aabaacb")]
    kept = diversify(hits, 2)
    assert [(h.path, h.start) for h in kept] == [("a", 0), ("a", 1), ("b", 2), ("c", 5), ("b", 6)]
    assert kept[0].more == 2 and kept[2].more == 0
