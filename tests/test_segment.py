import numpy as np
import pytest

from footage.indexer.segment import Span, segment


def shots(*lengths, dim=8):
    """Unit features: each shot a different axis, held for its number of frames."""
    return np.repeat(np.eye(dim)[: len(lengths)], lengths, axis=0)


def lengths(spans):
    return [s.stop - s.first for s in spans]


def test_cuts_where_the_picture_changes():
    assert segment(shots(4, 5, 3), fps=1) == [Span(0, 4), Span(4, 9), Span(9, 12)]


def test_spans_cover_every_frame_once():
    spans = segment(shots(3, 1, 7, 2, 15, 1), fps=1)
    assert spans[0].first == 0 and spans[-1].stop == 29
    assert all(a.stop == b.first for a, b in zip(spans, spans[1:]))


@pytest.mark.parametrize("fps", [1.0, 2.0, 0.5])
def test_lengths_stay_within_min_and_max(fps):
    spans = segment(shots(1, 30, 1, 1, 4, 25, 2), fps=fps, min_seconds=2, max_seconds=10)
    assert all(length / fps <= 10 for length in lengths(spans))
    assert all(length / fps >= 2 for length in lengths(spans)[:-1])


def test_long_shot_is_split_evenly():
    assert lengths(segment(shots(25), fps=1, max_seconds=10)) == [8, 9, 8]


def test_short_shot_joins_the_neighbour_it_resembles():
    a, b, c = np.eye(8)[:3]
    flash = 0.45 * a + 0.9 * c
    flash /= np.linalg.norm(flash)  # cosine 0.45 with a: a cut on both sides, but nearer a than b (0)
    features = np.stack([a] * 4 + [flash] + [b] * 4)
    spans = segment(features, fps=1, min_seconds=2)
    assert spans == [Span(0, 5), Span(5, 9)]


def test_single_frame_and_empty():
    assert segment(shots(1), fps=1) == [Span(0, 1)]
    assert segment(np.zeros((0, 8)), fps=1) == []
