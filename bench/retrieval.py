"""Retrieval quality on real footage: R@1, R@5 and MRR per kind of moment, on the tuning or the report half.

    python bench/retrieval.py FOLDER                          # the report half, as `footage search` runs
    python bench/retrieval.py FOLDER --split tune --sweep     # choosing weights: on the tuning half only
    python bench/retrieval.py FOLDER --library /tmp/bench-lib # keep the indexed library for the next run
    python bench/retrieval.py FOLDER --languages              # also 48 moments asked in French and Spanish

FOLDER holds the sample clips (scripts/fetch_samples.py FOLDER --film --speech), whose names say nothing of
what they show. bench/data/moments.jsonl holds 259 moments written by looking at frames and listening: the
clip, the seconds, a description and its kind (object, animal, person, place, action, colour: the picture
kinds; text on screen; dialogue; paraphrase of what is said). Each clip is on one side of the split (the
long film's two halves, at 300 s, on different sides): every threshold and weight is chosen on `tune`, and
the README reports `report`.

Every clip is indexed once, with the library's defaults (speech, on-screen text), then each moment is
searched for as a user would, and scored by the rank of the first hit that overlaps its time (MRR counts 0
beyond the first 50). Rows per kind, and two summaries: the picture kinds, and every moment.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from footage import Library, settings
from footage.search.evaluate import Pair

MOMENTS = Path(__file__).parent / "data" / "moments.jsonl"
EXPERT_MOMENTS = Path(__file__).parent / "data" / "moments_experts.jsonl"  # people and the look of pictures
# 48 of those moments with their text translated into French and Spanish (`lang`; the English one is `en`)
MULTILINGUAL = Path(__file__).parent / "data" / "moments_multilingual.jsonl"
ANNOTATIONS = Path(__file__).parent / "data" / "annotations.jsonl"
PICTURE = ("object", "animal", "person", "place", "action", "colour")
KINDS = (*PICTURE, "text", "dialogue", "paraphrase")
EXPERT_KINDS = ("people", "look")  # the experts' moments: apart from "all", which stays the first 259's
SWEEP_WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
SWEEP_PER_VIDEO = (None, 3)


def load_pairs(folders: list[Path]) -> tuple[list[Pair], list[Path]]:
    """The first, smaller set (bench/data/annotations.jsonl: 71 picture moments, no split) that the other
    benchmarks still use, and the clips it needs."""
    clips = {p.name: p.resolve() for folder in folders for p in folder.iterdir() if p.name.startswith("clip-")}
    pairs = []
    for line in ANNOTATIONS.read_text().splitlines():
        row = json.loads(line)
        if row["clip"] in clips:
            pairs.append(Pair(str(clips[row["clip"]]), float(row["start"]), float(row["end"]), row["text"]))
    return pairs, sorted({Path(p.path) for p in pairs})


def load_moments(folder: Path, split: str) -> tuple[list[Pair], list[str], list[Path]]:
    """(pairs, their kinds, every clip) of one half."""
    clips = {p.name: p.resolve() for p in folder.iterdir() if p.name.startswith("clip-")}
    pairs, kinds = [], []
    lines = MOMENTS.read_text().splitlines() + (
        EXPERT_MOMENTS.read_text().splitlines() if EXPERT_MOMENTS.exists() else []
    )
    for line in lines:
        row = json.loads(line)
        if row["split"] == split and row["clip"] in clips:
            pairs.append(Pair(str(clips[row["clip"]]), float(row["start"]), float(row["end"]), row["text"]))
            kinds.append(row["kind"])
    return pairs, kinds, sorted(clips.values())


def both_halves(parser: argparse.ArgumentParser, prefix: str) -> tuple[argparse.Namespace, dict, Library]:
    """A bench over both halves: its command line (FOLDER [--library DIR], and what `parser` adds), each half's
    (pairs, kinds, clips), and the library with every clip indexed: DIR (indexed there first, or reused), else
    a new one in a temporary folder named from `prefix`."""
    parser.add_argument("folder", type=Path)
    parser.add_argument("--library", type=Path, help="index here, or reuse what is indexed here")
    args = parser.parse_args()
    halves = {split: load_moments(args.folder, split) for split in ("tune", "report")}
    lib = Library(args.library or Path(tempfile.mkdtemp(prefix=prefix)))
    report = lib.index(halves["tune"][2])  # every clip: a half's clips are all of them
    assert not report.failed, report.failed
    return args, halves, lib


def load_translations(folder: Path, split: str) -> dict[str, list[Pair]]:
    """Language (en, fr, es) -> the translated moments of one half, in the same order in each language."""
    clips = {p.name: p.resolve() for p in folder.iterdir() if p.name.startswith("clip-")}
    pairs: dict[str, list[Pair]] = {}
    for line in MULTILINGUAL.read_text().splitlines():
        row = json.loads(line)
        if row["split"] == split and row["clip"] in clips:
            for lang in ("en", row["lang"]):
                text = row["en"] if lang == "en" else row["text"]
                pairs.setdefault(lang, []).append(Pair(str(clips[row["clip"]]), row["start"], row["end"], text))
    # each row holds one translation: English is listed once per language, so keep one copy
    pairs["en"] = list(dict.fromkeys(pairs.get("en", [])))
    return pairs


def languages(lib: Library, split: str, folder: Path, mode: str) -> None:
    """The same moments searched for in English and in translation: what a query's language costs."""
    pairs = load_translations(folder, split)
    english = scores(lib.evaluate(pairs["en"], mode=mode).ranks)[2]
    print(f"\n{split} half, mode {mode}, translated queries\n| language | n | R@1 | R@5 | MRR | of English |")
    print("|---|---|---|---|---|---|")
    for lang, group in pairs.items():
        r1, r5, mrr = scores(lib.evaluate(group, mode=mode).ranks)
        print(f"| {lang} | {len(group)} | {r1:.3f} | {r5:.3f} | {mrr:.3f} | {mrr / english:.0%} |")


def scores(ranks: list[int | None]) -> tuple[float, float, float]:
    """(R@1, R@5, MRR) of 1-based ranks (None: not found)."""
    r = [k or 10**9 for k in ranks]
    return float(np.mean([k == 1 for k in r])), float(np.mean([k <= 5 for k in r])), float(np.mean([1 / k for k in r]))


def by_kind(ranks: list[int | None], kinds: list[str]) -> dict[str, tuple[float, float, float, int]]:
    groups = {k: [r for r, kk in zip(ranks, kinds) if kk == k] for k in (*KINDS, *EXPERT_KINDS)}
    groups["pictures"] = [r for r, k in zip(ranks, kinds) if k in PICTURE]
    groups["all"] = [r for r, k in zip(ranks, kinds) if k in KINDS]
    return {k: (*scores(v), len(v)) for k, v in groups.items() if v}


def evaluate(lib: Library, pairs, kinds, **settings) -> dict[str, tuple[float, float, float, int]]:
    return by_kind(lib.evaluate(pairs, **settings).ranks, kinds)


def speech_floor(lib: Library, pairs, kinds) -> tuple[float, float]:
    """(the lowest cosine of a paraphrase to the speech over its moment, the highest cosine of a picture query
    to speech anywhere but over its own moment): the speech channel's floor belongs between the two."""
    own, picture = [], []
    for pair, kind in zip(pairs, kinds):
        if kind not in ("paraphrase", *PICTURE):
            continue
        ids, cosines = lib.store.search_text(lib.backbone.embed_query(pair.text), 200)
        chunks = lib.store.chunks(ids.tolist())
        inside = [
            i in chunks and chunks[i].path == pair.path and chunks[i].start < pair.end and pair.start < chunks[i].end
            for i in ids.tolist()
        ]
        if kind == "paraphrase":
            own.append(max((c for c, x in zip(cosines.tolist(), inside) if x), default=0.0))
        else:
            picture.append(max((c for c, x in zip(cosines.tolist(), inside) if not x), default=0.0))
    return min(own, default=float("nan")), max(picture, default=float("nan"))


def steps(lib: Library, pairs, kinds, mode: str, search) -> None:
    """The search-time changes of issue 11 added one at a time, from the settings before them."""
    shipped = search.SPEECH_MIN_SIMILARITY, search.VIDEO_WEIGHT
    rows = [
        ("speech floor 0.35, no video weight, no per-video limit", 0.35, 0.0, None),
        ("+ speech floor 0.25", 0.25, 0.0, None),
        ("+ video weight 0.5", 0.25, 0.5, None),
        ("+ at most 3 per video", 0.25, 0.5, 3),
    ]
    print("| search settings | pictures MRR | text | dialogue | paraphrase | all MRR |\n|---|---|---|---|---|---|")
    for name, floor, weight, per_video in rows:
        search.SPEECH_MIN_SIMILARITY, search.VIDEO_WEIGHT = floor, weight
        s = evaluate(lib, pairs, kinds, mode=mode, per_video=per_video)
        cells = " | ".join(f"{s[k][2]:.3f}" for k in ("pictures", "text", "dialogue", "paraphrase", "all"))
        print(f"| {name} | {cells} |", flush=True)
    search.SPEECH_MIN_SIMILARITY, search.VIDEO_WEIGHT = shipped


def table(title: str, off: dict, on: dict) -> None:
    print(f"\n{title}\n| kind | n | R@1 | R@5 | MRR | with --rerank: MRR |\n|---|---|---|---|---|---|")
    for kind, (r1, r5, mrr, n) in off.items():
        print(f"| {kind} | {n} | {r1:.3f} | {r5:.3f} | {mrr:.3f} | {on[kind][2]:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--split", choices=("tune", "report"), default="report")
    parser.add_argument("--library", type=Path, help="index here, or reuse what is indexed here")
    parser.add_argument("--mode", default="all", help="the channel searched (default: all, as footage search)")
    parser.add_argument("--sweep", action="store_true", help="video weight, per-video limit, rerank, speech floor")
    parser.add_argument("--steps", action="store_true", help="each search-time change's effect, one at a time")
    parser.add_argument("--experts", help="a new library's experts, comma-separated, or none (default: footage's)")
    parser.add_argument("--languages", action="store_true", help="also the moments asked in French and Spanish")
    parser.add_argument("--seen-floors", help="comma-separated floors for the experts' words, tried one by one")
    args = parser.parse_args()
    if args.experts is not None:
        settings.DEFAULT_EXPERTS = tuple(e for e in args.experts.split(",") if e and e != "none")
    pairs, kinds, clips = load_moments(args.folder, args.split)
    print(f"{len(pairs)} moments ({args.split} half) over {len(clips)} clips", file=sys.stderr)
    folder = args.library or Path(__import__("tempfile").mkdtemp(prefix="footage-retrieval-"))
    with Library(folder) as lib:
        report = lib.index(clips)
        assert not report.failed, report.failed
        search = sys.modules["footage.search.engine"]
        if args.sweep:
            print("| video weight | per video | rerank | pictures MRR | all MRR |\n|---|---|---|---|---|")
            chosen = search.VIDEO_WEIGHT
            for weight in SWEEP_WEIGHTS:
                search.VIDEO_WEIGHT = weight
                for per_video in SWEEP_PER_VIDEO:
                    for rerank in (False, True):
                        s = evaluate(lib, pairs, kinds, mode=args.mode, per_video=per_video, rerank=rerank)
                        row = f"| {weight} | {per_video} | {'on' if rerank else 'off'} |"
                        print(f"{row} {s['pictures'][2]:.3f} | {s['all'][2]:.3f} |", flush=True)
            search.VIDEO_WEIGHT = chosen
            own, picture = speech_floor(lib, pairs, kinds)
            print(f"\nspeech floor: paraphrases' own chunks >= {own:.3f}; picture queries' best chunk <= {picture:.3f}")
        if args.seen_floors:
            print("| seen floor | people MRR | look MRR | pictures MRR | all MRR |\n|---|---|---|---|---|")
            chosen = search.SEEN_MIN_SIMILARITY
            for floor in map(float, args.seen_floors.split(",")):
                search.SEEN_MIN_SIMILARITY = floor
                s = evaluate(lib, pairs, kinds, mode=args.mode)
                cells = " | ".join(f"{s[k][2]:.3f}" for k in ("people", "look", "pictures", "all"))
                print(f"| {floor} | {cells} |", flush=True)
            search.SEEN_MIN_SIMILARITY = chosen
        if args.languages:
            languages(lib, args.split, args.folder, args.mode)
        if args.steps:
            steps(lib, pairs, kinds, args.mode, search)
        off = evaluate(lib, pairs, kinds, mode=args.mode)
        on = evaluate(lib, pairs, kinds, mode=args.mode, rerank=True)
        table(f"{args.split} half, mode {args.mode}, as shipped", off, on)
        plain = evaluate(lib, pairs, kinds, mode="visual", per_video=None)
        print(f"\npictures, mode visual, no per-video limit: MRR {plain['pictures'][2]:.3f}")


if __name__ == "__main__":
    main()
