"""Query-conditioned re-ranking and the evaluation of search on labelled pairs."""

import json

import pytest
from conftest import run_cli
from media import PHOTOS, photo_video
from test_search import QUERIES

from footage import FootageError, Library
from footage.search.evaluate import Pair, read_pairs

PHOTO = {name: f for name, _, f in PHOTOS}


@pytest.fixture(scope="module")
def flash_library(tmp_path_factory):
    """One video that shows a cat for only 1 s of a coffee shot (too short to be a segment of its own), and
    one video of a motorcycle."""
    folder = tmp_path_factory.mktemp("flash")
    photo_video(
        folder / "flash.mp4",
        photos=[("coffee", 4, PHOTO["coffee"]), ("cat", 1, PHOTO["cat"]), ("coffee", 4, PHOTO["coffee"])],
    )
    photo_video(folder / "other.mp4", photos=[("motorcycle", 9, PHOTO["motorcycle"])])
    lib = Library(tmp_path_factory.mktemp("flash-lib"))
    assert len(lib.index([folder]).indexed) == 2
    yield lib, folder
    lib.close()


def test_rerank_finds_a_second_inside_a_long_segment(flash_library):
    lib, folder = flash_library
    plain = lib.search("a cat", top_k=2, rerank=False, cutoff=False)  # the second's cat: below the floor
    conditioned = lib.search("a cat", top_k=2, rerank=True)
    best = conditioned[0]
    assert best.path == str(folder / "flash.mp4") and best.start <= 4 and best.end >= 5 and best.end - best.start >= 4
    assert best.score > plain[0].score + 0.1  # the cat's second counts, not the average over the segment


def test_rerank_keeps_single_shot_results(photo_library, photos):
    path, stretches = photos
    for name, query in QUERIES.items():
        best = photo_library.search(query, top_k=1, rerank=True, cutoff=False)[0]  # the astronaut: under it
        stretch = next(s for s in stretches if s.name == name)
        assert (best.start, best.end) == pytest.approx((stretch.start, stretch.end), abs=1.0)


def test_evaluate_on_the_photo_video(photo_library, photos):
    path, stretches = photos
    pairs = [Pair(str(path), s.start, s.end, QUERIES[s.name]) for s in stretches]
    pairs.append(Pair(str(path), 0.0, 6.0, "a cup of coffee"))  # wrong on purpose: the cat is at 0-6 s
    scores = photo_library.evaluate(pairs)
    assert scores.pairs == 6 and scores.ranks[:5] == [1, 1, 1, 1, 1] and scores.ranks[5] > 1
    assert scores.r1 == pytest.approx(5 / 6) and scores.r5 >= 5 / 6
    assert scores.mrr == pytest.approx((5 + 1 / scores.ranks[5]) / 6)


def test_pairs_file_relative_paths_and_errors(tmp_path, photos):
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"path": "v.mp4", "start": 1, "end": 2, "text": "x"}) + "\n\n")
    assert read_pairs(tmp_path / "pairs.jsonl") == [Pair(str(tmp_path / "v.mp4"), 1.0, 2.0, "x")]
    (tmp_path / "bad.jsonl").write_text('{"path": "v.mp4", "start": 1}\n')
    with pytest.raises(FootageError, match=r"bad.jsonl:1: no end, text"):
        read_pairs(tmp_path / "bad.jsonl")


def test_eval_cli(photo_library, photos, footage_cli, tmp_path):
    path, stretches = photos
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps({"path": str(path), "start": s.start, "end": s.end, "text": QUERIES[s.name]}) + "\n"
            for s in stretches
        )
    )
    done = run_cli(footage_cli, "eval", pairs, library=photo_library.path)
    assert "5 pairs   R@1 1.000   R@5 1.000   MRR 1.000" in done.stdout
    scores = json.loads(run_cli(footage_cli, "eval", pairs, "--no-rerank", "--json", library=photo_library.path).stdout)
    assert scores["r1"] == 1.0 and scores["ranks"] == [1, 1, 1, 1, 1]
