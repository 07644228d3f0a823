"""Cut a video's frame stream into segments at shot changes, each between a minimum and a maximum length."""

import math
from dataclasses import dataclass

import numpy as np

CUT_SIMILARITY = 0.5  # consecutive frames less alike than this (cosine of X features) start a new shot:
# measured at 1 fps, real cuts fall at 0.27-0.45 and motion within a shot stays above 0.46 on the sample footage
MIN_SECONDS = 2.0
MAX_SECONDS = 10.0


@dataclass(frozen=True)
class Span:
    first: int  # index of the segment's first frame
    stop: int  # one past its last frame


def segment(features: np.ndarray, fps: float, min_seconds=MIN_SECONDS, max_seconds=MAX_SECONDS) -> list[Span]:
    """features (N, F), unit rows, sampled at fps -> contiguous spans covering all N frames."""
    n = len(features)
    if n == 0:
        return []
    min_frames = max(1, round(min_seconds * fps))
    max_frames = max(min_frames, math.floor(max_seconds * fps))
    similarity = (features[1:] * features[:-1]).sum(1)  # (N-1,) frame i vs i+1
    cuts = [0, *(i + 1 for i in np.flatnonzero(similarity < CUT_SIMILARITY)), n]
    spans = [[a, b] for a, b in zip(cuts[:-1], cuts[1:])]

    # Fold shots shorter than the minimum into the neighbour they look more like, shortest first.
    def mean(span):
        m = features[span[0] : span[1]].mean(0)
        return m / (np.linalg.norm(m) + 1e-12)

    while len(spans) > 1:
        i = min(range(len(spans)), key=lambda k: spans[k][1] - spans[k][0])
        if spans[i][1] - spans[i][0] >= min_frames:
            break
        if i == 0:
            j = 1
        elif i == len(spans) - 1:
            j = i - 1
        else:
            j = i - 1 if mean(spans[i]) @ mean(spans[i - 1]) >= mean(spans[i]) @ mean(spans[i + 1]) else i + 1
        a, b = sorted((i, j))
        spans[a : b + 1] = [[spans[a][0], spans[b][1]]]

    # Split shots longer than the maximum into equal parts.
    out = []
    for first, stop in spans:
        parts = math.ceil((stop - first) / max_frames)
        edges = np.linspace(first, stop, parts + 1).round().astype(int)
        out += [Span(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
    return out
