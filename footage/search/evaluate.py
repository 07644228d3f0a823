"""Retrieval quality on labelled pairs: for each (video, time range, text), where does the right moment rank?

A hit finds a labelled moment when it is in the same video and either contains the middle of the labelled
range or has its own middle inside it: fair to a 2 s moment inside a 10 s segment, and to a long labelled
scene found by one short segment.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from footage.errors import FootageError
from footage.search.hits import Hit

EVAL_DEPTH = 50  # hits looked at per query; a moment not among them scores 0 in MRR


@dataclass(frozen=True)
class Pair:
    path: str
    start: float
    end: float
    text: str


@dataclass
class Scores:
    pairs: int
    r1: float  # share of pairs whose moment is the first hit
    r5: float  # ... among the first five
    mrr: float  # mean of 1 / rank (0 when not in the first EVAL_DEPTH)
    ranks: list[int | None] = field(default_factory=list)  # per pair, None when not found


def read_pairs(path: str | Path) -> list[Pair]:
    """JSON Lines of {"path", "start", "end", "text"}; relative paths are taken from the file's folder."""
    path = Path(path)
    pairs = []
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise FootageError(f"{path}: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            video = Path(row["path"]).expanduser()
            video = video if video.is_absolute() else path.parent / video
            pairs.append(Pair(str(video.resolve()), float(row["start"]), float(row["end"]), str(row["text"])))
        except (ValueError, KeyError, TypeError) as e:
            raise FootageError(f"{path}:{n}: not a pair ({type(e).__name__}: {e})") from None
    return pairs


def finds(hit: Hit, pair: Pair) -> bool:
    if hit.path != pair.path:
        return False
    return hit.start <= (pair.start + pair.end) / 2 <= hit.end or pair.start <= (hit.start + hit.end) / 2 <= pair.end


def evaluate(pairs: list[Pair], search: Callable[[str, int], list[Hit]]) -> Scores:
    ranks = []
    for pair in pairs:
        hits = search(pair.text, EVAL_DEPTH)
        ranks.append(next((i for i, h in enumerate(hits, 1) if finds(h, pair)), None))
    n = len(pairs) or 1
    return Scores(
        pairs=len(pairs),
        r1=sum(r == 1 for r in ranks) / n,
        r5=sum(r is not None and r <= 5 for r in ranks) / n,
        mrr=sum(1 / r for r in ranks if r) / n,
        ranks=ranks,
    )
