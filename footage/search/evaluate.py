"""Retrieval quality on labelled pairs: for each (video, time range, text), where does the right moment rank?

A hit finds a labelled moment when it is in the same video and either contains the middle of the labelled
range or has its own middle inside it: fair to a 2 s moment inside a 10 s segment, and to a long labelled
scene found by one short segment.
"""

import json
import math
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
    skipped: list[str] = field(default_factory=list)  # videos of pairs left out: not indexed in the library


def read_pairs(path: str | Path) -> list[Pair]:
    """JSON Lines of {"path", "start", "end", "text"}; relative paths are taken from the file's folder. Each
    line is checked: finite times, 0 <= start <= end, some text."""
    path = Path(path)
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except OSError as e:
        raise FootageError(f"{path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise FootageError(f"{path}: not a text file; pairs are JSON Lines (path, start, end, text)") from None
    pairs = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            video = Path(row["path"]).expanduser()
            video = video if video.is_absolute() else path.parent / video
            start, end, text = float(row["start"]), float(row["end"]), str(row["text"]).strip()
        except (ValueError, KeyError, TypeError) as e:
            raise FootageError(f"{path}:{n}: not a pair ({type(e).__name__}: {e})") from None
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start <= end):
            raise FootageError(f"{path}:{n}: times must be numbers with 0 <= start <= end, not {start} and {end}")
        if not text:
            raise FootageError(f"{path}:{n}: the text is empty")
        pairs.append(Pair(str(_resolve(video)), start, end, text))
    return pairs


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a link loop: not a video of the library either way
        return path


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
