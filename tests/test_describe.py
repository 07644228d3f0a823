"""The Y-decoder (captions for hits) and selective decoding (footage describe), on the photo video."""

import json

import numpy as np
import pytest
from conftest import run_cli
from sklearn.cluster import AgglomerativeClustering

from footage import Library, VideoError
from footage.search import timeline
from footage.search.evaluate import Pair

COFFEE_WORDS = ("coffee", "cup", "espresso", "mug")


def best_hit(lib, query, stretch):
    hits = lib.search(query, top_k=5)
    return next(h for h in hits if h.start <= (stretch.start + stretch.end) / 2 <= h.end)


def test_captions_are_grounded_in_what_the_hit_shows(photo_library, photos):
    _, stretches = photos
    by_name = {s.name: s for s in stretches}
    cat = best_hit(photo_library, "a cat", by_name["cat"])
    assert "cat" in cat.caption.lower(), cat.caption
    coffee = best_hit(photo_library, "something to drink", by_name["coffee"])
    assert any(w in coffee.caption.lower() for w in COFFEE_WORDS), coffee.caption
    # decoded from the hit, not from the query: another query finding the same segment gets the same caption
    again = best_hit(photo_library, "a kitten looking up", by_name["cat"])
    assert again.segment == cat.segment and again.caption == cat.caption
    assert photo_library.search("a cat", top_k=3, captions=False)[0].caption is None


class CountingDecoder:
    """Wraps a decoder and counts what it decodes."""

    def __init__(self, inner):
        self.inner, self.id, self.decoded = inner, inner.id, 0

    def __call__(self, vectors):
        self.decoded += len(vectors)
        return self.inner(vectors)


def test_captions_are_cached_per_segment(photos, tmp_path):
    path, _ = photos
    with Library(tmp_path / "lib") as lib:
        lib.index([path])
        counting = CountingDecoder(lib.decoder)
        lib._decoder = counting
        first = lib.search("a cat", top_k=3, cutoff=False)  # three hits: the cat and two under the floor
        assert counting.decoded == len({h.segment for h in first}) == 3  # only the hits returned
        second = lib.search("a cat", top_k=3, cutoff=False)
        assert counting.decoded == 3 and [h.caption for h in second] == [h.caption for h in first]
    with Library(tmp_path / "lib", decoder=counting) as reopened:  # the cache is in the library, not memory
        reopened.search("a cat", top_k=3, cutoff=False)
        assert counting.decoded == 3


def test_a_trained_librarys_decoder_speaks_its_users_words(photos, tmp_path):
    path, stretches = photos
    words = {"cat": "our office cat Miso", "coffee": "the morning coffee", "motorcycle": "Dad's scooter"}
    with Library(tmp_path / "lib") as lib:
        lib.index([path])
        lib.train([Pair(str(path), s.start, s.end, words[s.name]) for s in stretches if s.name in words], holdout=0)
        words = lib.search("a cat", top_k=1)[0].caption.split("; ")[0]  # then the look: a 320x240 video is small
        assert words == "Our office cat Miso: an Egyptian cat"
        assert lib.search("a scooter", top_k=1)[0].caption.startswith("Dad's scooter: ")
        assert ":" not in lib.search("a rocket", top_k=1)[0].caption  # no user text fits the rocket


def test_ward_with_a_time_constraint_matches_scikit_learn():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(m, 0.3, (n, 8)) for m, n in [(0, 7), (2, 5), (0.5, 9), (3, 4)]])
    chain = np.eye(len(x), k=1) + np.eye(len(x), k=-1)
    for k in (2, 4, 6):
        labels = AgglomerativeClustering(n_clusters=k, linkage="ward", connectivity=chain).fit(x).labels_
        theirs = [0] + [i for i in range(1, len(x)) if labels[i] != labels[i - 1]]
        assert timeline.ward_segments(x, n_events=k) == theirs


def test_describe_cuts_where_the_pictures_change(photo_library, photos):
    path, stretches = photos
    events = photo_library.describe(path)
    assert events[0].start == 0 and events[-1].end == pytest.approx(stretches[-1].end, abs=1)
    assert all(a.end == b.start for a, b in zip(events, events[1:]))  # a tiling of the video
    cuts = [e.start for e in events[1:]]
    for s in stretches[1:]:  # every change of picture has a cut within 1.5 s
        assert min(abs(c - s.start) for c in cuts) <= 1.5, (s, cuts)
    assert len(events) <= 2 * len(stretches)  # and there are not many more
    inside = [e for e in events if e.start <= 3 <= e.end][0]
    assert "cat" in inside.caption.lower()
    uniform = photo_library.describe(path, uniform=0.5)
    assert [e.start for e in uniform] == pytest.approx(np.arange(0, stretches[-1].end, 2).tolist())
    assert len(events) < len(uniform) / 2


def test_describe_decodes_a_video_that_is_not_indexed(library, photos):
    path, stretches = photos
    events = library.describe(path)
    assert len(events) >= len(stretches) - 1 and not library.path.exists()  # nothing was stored, no library made


def test_describe_rejects_what_it_cannot_read(library, tmp_path, footage_cli):
    with pytest.raises(VideoError, match="no such file"):
        library.describe(tmp_path / "gone.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    done = run_cli(footage_cli, "describe", text, library=tmp_path / "lib", check=False)
    assert done.returncode == 1 and str(text) in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_cli_describe_and_search_print_captions(photos, photo_library, footage_cli):
    path, _ = photos
    done = run_cli(footage_cli, "describe", path, "--json", library=photo_library.path)
    events = json.loads(done.stdout)
    assert events and set(events[0]) == {"start", "end", "caption"}
    table = run_cli(footage_cli, "describe", path, library=photo_library.path).stdout
    assert "0:00:00" in table and "cat" in table.lower()
    hits = json.loads(run_cli(footage_cli, "search", "a cat", "--json", library=photo_library.path).stdout)
    assert "cat" in hits[0]["caption"].lower()
    bare = json.loads(
        run_cli(footage_cli, "search", "a cat", "--json", "--no-caption", library=photo_library.path).stdout
    )
    assert bare[0]["caption"] is None


def test_a_shot_is_captioned_by_what_most_of_its_frames_show(photo_library):
    """Two frames of a cat (with a little of a shuttle in them) and one of a shuttle: the mean vector is
    nearer the shuttle, but the shot is of a cat."""
    decoder = photo_library.decoder
    texts = [p.text for p in decoder.phrases]
    cat, shuttle = decoder.vectors[texts.index("a tabby cat")], decoder.vectors[texts.index("a space shuttle")]
    mostly_cat = (cat + 0.8 * shuttle) / np.linalg.norm(cat + 0.8 * shuttle)
    frames = np.stack([mostly_cat, mostly_cat, shuttle])  # (3, D)
    assert [texts[i] for i in (frames @ decoder.vectors.T).argmax(1)] == ["a tabby cat"] * 2 + ["a space shuttle"]
    assert decoder(frames.mean(0, keepdims=True))[0].startswith("A space shuttle")  # one vector: the mixture
    assert decoder.segments([frames])[0].startswith("A tabby cat")
