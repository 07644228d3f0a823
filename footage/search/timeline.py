"""Selective decoding (VL-JEPA): a video's timeline of events, decoding text once per stretch of stable meaning.

The stream of per-frame Y vectors is smoothed over a few seconds, then cut into events by agglomerative
clustering with Ward linkage under a temporal-connectivity constraint (only neighbouring stretches merge,
as in the paper); the decoder runs once per event, on the smoothed vector at its midpoint. `uniform`
decodes at a fixed rate instead, for comparison (bench/selective_decoding.py).
"""

from dataclasses import asdict, dataclass

import numpy as np

SMOOTH_SECONDS = 2.0  # moving average over +-1 s: a single odd frame does not start an event
WARD_THRESHOLD = 1.5  # stop merging when the cheapest merge costs more: 3.1x fewer decodes than 1 Hz (bench)


@dataclass
class Event:
    start: float  # seconds from the video's first frame
    end: float
    caption: str
    segment: int | None = None  # the segment shown for it (its thumbnail), when the library has the video

    def to_dict(self) -> dict:
        """start, end, caption, and segment when one is known (a library's video: Library.video)."""
        return {k: v for k, v in asdict(self).items() if k != "segment" or v is not None}


def smooth(times: np.ndarray, vectors: np.ndarray, seconds: float = SMOOTH_SECONDS) -> np.ndarray:
    """(N,) times and (N, D) unit vectors -> (N, D) unit vectors, each the mean over +-seconds/2 around it."""
    out = np.empty_like(vectors)
    lo = np.searchsorted(times, times - seconds / 2, "left")
    hi = np.searchsorted(times, times + seconds / 2, "right")
    csum = np.concatenate([np.zeros((1, vectors.shape[1]), vectors.dtype), np.cumsum(vectors, 0)])
    out[:] = (csum[hi] - csum[lo]) / (hi - lo)[:, None]
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def ward_segments(
    x: np.ndarray, threshold: float | None = None, n_events: int | None = None, frame_seconds: float = 1.0
) -> list[int]:
    """(N, D) -> the first index of each event, cut by Ward agglomeration where only neighbours merge.

    Merging clusters a and b costs the Ward distance sqrt(2 n_a n_b / (n_a + n_b)) |mean_a - mean_b| (the
    distance scikit-learn reports), with sizes n in seconds (frame_seconds each), so that one threshold
    means the same at any frame rate; merging stops at n_events events or when every merge costs more than
    threshold. O(N^2) with numpy: an hour at 1 fps takes well under a second."""
    starts = list(range(len(x)))
    sizes = np.full(len(x), frame_seconds)
    sums = x.astype(np.float64).copy()

    def cost(i: int) -> float:  # merging clusters i and i + 1
        a, b = sizes[i], sizes[i + 1]
        return float(np.sqrt(2 * a * b / (a + b)) * np.linalg.norm(sums[i] / a - sums[i + 1] / b))

    costs = np.array([cost(i) for i in range(len(x) - 1)])
    target = n_events or 1
    while len(starts) > target and len(costs):
        i = int(costs.argmin())
        if threshold is not None and costs[i] > threshold:
            break
        sums[i] += sums[i + 1]
        sizes[i] += sizes[i + 1]
        sums = np.delete(sums, i + 1, 0)
        sizes = np.delete(sizes, i + 1)
        del starts[i + 1]
        costs = np.delete(costs, i)
        if i < len(costs):
            costs[i] = cost(i)
        if i > 0:
            costs[i - 1] = cost(i - 1)
    return starts


def selective(times: np.ndarray, vectors: np.ndarray, end: float, threshold: float = WARD_THRESHOLD):
    """-> (events as (start, end) seconds, the (E, D) vectors to decode: the smoothed stream at each
    event's midpoint)."""
    smoothed = smooth(times, vectors)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    starts = ward_segments(smoothed, threshold, frame_seconds=step)
    bounds = [*starts, len(times)]
    spans = [(float(times[a]), float(times[b]) if b < len(times) else end) for a, b in zip(bounds, bounds[1:])]
    middles = [a + (b - a) // 2 for a, b in zip(bounds, bounds[1:])]
    return spans, smoothed[middles]


def uniform(times: np.ndarray, vectors: np.ndarray, end: float, hz: float):
    """-> (one (start, end) span per 1/hz seconds, the smoothed stream nearest each span's start)."""
    smoothed = smooth(times, vectors)
    ticks = np.arange(0, max(end, 1e-9), 1 / hz)
    nearest = np.abs(times[None, :] - ticks[:, None]).argmin(1)
    spans = [(float(t), float(min(t + 1 / hz, end))) for t in ticks]
    return spans, smoothed[nearest]
