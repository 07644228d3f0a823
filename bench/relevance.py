"""The cut-off (issue 26): each channel's floor, chosen on the tuning half, and what it costs on both halves.

    python bench/relevance.py FOLDER --library DIR

FOLDER holds the sample clips (scripts/fetch_samples.py FOLDER --film --speech); DIR is indexed there first, or
reused. Every labelled moment of bench/data (moments.jsonl and moments_experts.jsonl, each clip on one side of
the split: bench/retrieval.py) and every query of bench/data/nonsense.txt is searched once as `footage search`
runs it, and the ranked list of each channel is kept; the floors are then tried on those lists, which
engine.rank fuses and cuts as a search does (the cut-off hides the moments no channel found at or above its
floor, and leaves the order of the others as it was).

1. The sweep, on the tuning half only: per channel, each floor's loss (the tuning moments that leave the top 5)
   and how many nonsense queries that channel still answers. The floor chosen is the highest before more than
   TOLERANCE moments leave the top 5.
2. Each channel's confident level (Hit.relevance = 1): the median score of the hits that channel ranks first and
   that are their query's labelled moment, on the tuning half.
3. Both halves with footage's floors (footage/search/engine.py FLOORS), against no cut-off: R@5 and MRR per
   kind, nonsense queries that find nothing, off-topic queries' hits, and the mean hits per query (top 10).
"""

import argparse
import re
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from retrieval import KINDS, both_halves, by_kind

from footage import Library
from footage.models.experts import SEEN
from footage.search import engine
from footage.search.evaluate import EVAL_DEPTH, evaluate, finds

NONSENSE = Path(__file__).parent / "data" / "nonsense.txt"
# real queries about what none of the sample clips shows: not nonsense, so they may find something; reported only
OFF_TOPIC = (
    "a tax form being filled in",
    "a recipe for lasagna",
    "an orchestra playing a symphony",
    "a surgeon operating on a patient",
    "a submarine under the ice",
    "a wedding cake",
    "a tennis match",
    "a stock market chart",
    "a horse race",
    "fireworks over a harbour",
)
TOLERANCE = 1  # tuning moments all the floors together may push out of the top 5 (1 of 182: R@5 -0.005)
SHOWN = 10  # hits asked for when counting what a person sees (footage search's --top-k)
# the floors before the cut-off: what each channel needs to find anything (the pictures had none)
BEFORE = {
    "visual": -1.0,
    "speech": engine.SPEECH_MIN_SIMILARITY,
    "subtitles": engine.SPEECH_MIN_SIMILARITY,
    "on-screen": engine.ON_SCREEN_MIN_SIMILARITY,
    SEEN: engine.SEEN_MIN_SIMILARITY,
    "keyword": engine.KEYWORD_COVER,
}
GRIDS = {  # floors tried; subtitles take the speech floor (the sample clips have no subtitles)
    "visual": np.arange(0.0, 0.3001, 0.01),
    "speech": np.arange(0.25, 0.7001, 0.025),
    "on-screen": np.arange(0.5, 0.8001, 0.025),
    SEEN: np.arange(0.5, 0.8001, 0.025),
    "keyword": (0.5, 0.6, 2 / 3, 0.75, 0.8, 1.0),  # the share of the query's words
}


def read_nonsense() -> list[str]:
    lines = (line.strip() for line in NONSENSE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def record(lib: Library, texts: list[str]) -> dict[str, list[list]]:
    """Each query's ranked lists, one per channel, as the engine has them before fusion and the cut-off."""
    kept, shipped = {}, engine.rank

    def keep(ranked, *args):  # copied: fusion changes the hits
        kept[text] = [[replace(h, channels=list(h.channels)) for h in hits] for hits in ranked]
        return shipped(ranked, *args)

    engine.rank = keep
    try:
        for text in texts:
            lib.search(text, top_k=EVAL_DEPTH, captions=False)
    finally:
        engine.rank = shipped
    return kept


def level(hit, text: str) -> float:
    """A hit's level in its channel's units: the share of the query's words it holds (keyword), else its score."""
    if hit.channels[0] != "keyword":
        return hit.score
    words = engine.keywords(text)
    return len(set(words) & set(re.findall(r"\w+", hit.transcript.lower()))) / len(words)


def replay(lists: list[list], text: str, floors: dict[str, float], top_k: int = EVAL_DEPTH) -> list:
    """engine.search's steps after the channels, with these floors: relevance, fusion, the cut-off."""
    ranked = [[replace(h, channels=list(h.channels)) for h in hits] for hits in lists]
    for hits in ranked:
        for h in hits:  # the cut-off reads only its sign
            h.relevance = level(h, text) - floors[h.channels[0]]
    return engine.rank(ranked, top_k, engine.PER_VIDEO, cutoff=True)


def ranks(lists: dict, pairs, floors: dict[str, float]) -> list[int | None]:
    out = []
    for pair in pairs:
        hits = replay(lists[pair.text], pair.text, floors)
        out.append(next((i for i, h in enumerate(hits, 1) if finds(h, pair)), None))
    return out


def sweep(lists: dict, pairs, nonsense: list[str]) -> dict[str, float]:
    """Per channel, the highest floor before the tuning half loses more than TOLERANCE moments from its top 5
    (all the floors chosen so far together); prints the sweep. The pictures first: they find some moment in
    nearly every video, so while they show everything no other floor hides anything. A channel whose whole
    grid loses nothing keeps its floor of BEFORE: the tuning half sets it no limit, and says nothing for a
    higher one."""
    base = ranks(lists, pairs, BEFORE)
    chosen = dict(BEFORE)
    for channel, grid in GRIDS.items():
        print(f"\n{channel}: floor | tuning moments out of the top 5 | kinds they are | nonsense it answers")
        print("|---|---|---|---|")
        best = None
        for floor in grid:
            floors = chosen | {channel: float(floor)} | ({"subtitles": float(floor)} if channel == "speech" else {})
            lost = losses(base, ranks(lists, pairs, floors))
            answers = sum(
                any(level(h, t) >= floors[channel] for hits in lists[t] for h in hits if h.channels[0] == channel)
                for t in nonsense
            )
            kinds = ", ".join(sorted({kind_of[pairs[i]] for i in lost}))
            print(f"| {floor:.3f} | {len(lost)} | {kinds} | {answers} |", flush=True)
            if len(lost) > TOLERANCE:
                break
            best = float(floor)
        else:
            print("no limit on the tuning half: the floor stays the search's own")
            best = BEFORE[channel]
        chosen[channel] = best if best is not None else BEFORE[channel]
    chosen["subtitles"] = chosen["speech"]
    return chosen


def losses(base: list, now: list) -> list[int]:
    """The moments in the top 5 of `base` that are not in that of `now`."""
    return [i for i, (a, b) in enumerate(zip(base, now)) if a and a <= 5 and not (b and b <= 5)]


def confident(lists: dict, pairs) -> dict[str, tuple[float, int]]:
    """Per channel, (the median level of its first hits that are the labelled moment, how many there are)."""
    levels: dict[str, list[float]] = {}
    for pair in pairs:
        for hits in lists[pair.text]:
            if hits and finds(hits[0], pair):
                levels.setdefault(hits[0].channels[0], []).append(level(hits[0], pair.text))
    return {c: (statistics.median(v), len(v)) for c, v in levels.items()}


def shown(lib: Library, texts, cutoff: bool) -> list[int]:
    return [len(lib.search(t, top_k=SHOWN, captions=False, cutoff=cutoff)) for t in texts]


def report(lib: Library, split: str, pairs, kinds, nonsense: list[str]) -> None:
    def scored(cutoff):
        run = evaluate(pairs, lambda text, k: lib.search(text, top_k=k, captions=False, cutoff=cutoff))
        return by_kind(run.ranks, kinds)

    off, on = scored(False), scored(True)
    print(f"\n{split} half, mode all: no cut-off -> footage's floors")
    print("| kind | n | R@5 | R@5 cut | MRR | MRR cut |\n|---|---|---|---|---|---|")
    for kind, (_, r5, mrr, n) in off.items():
        print(f"| {kind} | {n} | {r5:.3f} | {on[kind][1]:.3f} | {mrr:.3f} | {on[kind][2]:.3f} |")
    texts = [p.text for p, k in zip(pairs, kinds) if k in KINDS]
    for name, group in ((f"the {split} half's queries", texts), ("nonsense", nonsense), ("off-topic", OFF_TOPIC)):
        a, b = shown(lib, group, False), shown(lib, group, True)
        print(
            f"{name} ({len(group)}): finding nothing {sum(n == 0 for n in a)} -> {sum(n == 0 for n in b)}; "
            f"mean hits of {SHOWN} {np.mean(a):.1f} -> {np.mean(b):.1f}"
        )


kind_of: dict = {}  # pair -> its kind, for the sweep's rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _, halves, lib = both_halves(parser, "footage-relevance-")
    nonsense = read_nonsense()
    with lib:
        pairs, kinds, _ = halves["tune"]
        kind_of.update(zip(pairs, kinds))
        lists = record(lib, list(dict.fromkeys([p.text for p in pairs] + nonsense)))
        shipped = {c: engine.FLOORS[c] for c in BEFORE}
        check = evaluate(pairs, lambda text, k: lib.search(text, top_k=k, captions=False)).ranks
        assert ranks(lists, pairs, shipped) == check, "the replay must rank as the engine does"

        print(f"tuning half: {len(pairs)} moments, {len(nonsense)} nonsense queries; tolerance {TOLERANCE} moment")
        chosen = sweep(lists, pairs, nonsense)
        print("\nchosen on the tuning half: " + ", ".join(f"{c} {v:.3f}" for c, v in chosen.items()))
        print("footage's floors:          " + ", ".join(f"{c} {v:.3f}" for c, v in shipped.items()))
        print("\nconfident level (median score of the tuning half's right first hits, per channel):")
        for channel, (median, n) in confident(lists, pairs).items():
            print(f"  {channel}: {median:.3f} ({n} hits); footage's {engine.CONFIDENT[channel]:.3f}")

        for split, (pairs, kinds, _) in halves.items():
            report(lib, split, pairs, kinds, nonsense)


if __name__ == "__main__":
    sys.exit(main())
