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

from footage.errors import BadValue, FootageError
from footage.files import expand, resolve
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
    line is checked: a JSON object, finite numbers with 0 <= start <= end, some text."""
    if not str(path).strip():
        raise BadValue("an empty path (an unset shell variable?): name the file of pairs")
    path = Path(path)
    try:
        lines = path.read_bytes().decode("utf-8-sig").splitlines()
    except OSError as e:
        raise FootageError(f"{path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise FootageError(f"{path}: not a text file; pairs are JSON Lines (path, start, end, text)") from None
    pairs = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            pairs.append(_pair(line, path, f"{path}:{n}"))
    if not pairs:
        raise FootageError(f"{path}: no pairs in it; one JSON object per line: path, start, end, text")
    return pairs


def _pair(line: str, source: Path, where: str) -> Pair:
    try:
        row = json.loads(line)
    except ValueError:
        raise FootageError(f"{where}: not JSON") from None
    if not isinstance(row, dict):
        raise FootageError(f"{where}: not a JSON object with path, start, end and text")
    missing = [key for key in ("path", "start", "end", "text") if key not in row]
    if missing:
        raise FootageError(f"{where}: no {', '.join(missing)}")
    numbers = (row["start"], row["end"])
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in numbers):
        raise FootageError(f"{where}: start and end must be numbers of seconds")
    start, end = float(row["start"]), float(row["end"])
    if not (math.isfinite(start) and math.isfinite(end) and 0 <= start <= end):
        raise FootageError(f"{where}: times must be numbers with 0 <= start <= end, not {start} and {end}")
    if not isinstance(row["path"], str) or not row["path"].strip():
        raise FootageError(f"{where}: path must be a file name")
    text = str(row["text"]).strip()
    if not text:
        raise FootageError(f"{where}: the text is empty")
    video = expand(row["path"])
    video = video if video.is_absolute() else source.parent / video
    return Pair(str(resolve(video)), start, end, text)


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
