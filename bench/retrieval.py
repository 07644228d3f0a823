"""Retrieval quality on real footage with hand-written, time-stamped descriptions.

    python bench/retrieval.py samples [MORE_FOLDERS...]

bench/data/annotations.jsonl holds {"clip", "start", "end", "text"} lines written by looking at the clips that
scripts/fetch_samples.py fetches (clip-14 and clip-15 come with --film; annotations of clips not found in the
folders given are left out). Every clip is indexed into a new library once per way of turning an ImageNet
class into text (the zero-shot bridge), and each library is evaluated with re-ranking on and off:
R@1, R@5 and MRR (footage.search.evaluate). Nothing here is trained, so there is no train/test split to keep.
"""

import argparse
import json
import tempfile
from pathlib import Path

import footage.models.backbone as backbone_module
from footage import Library
from footage.search.evaluate import Pair

ANNOTATIONS = Path(__file__).parent / "data" / "annotations.jsonl"

BRIDGES = {
    "name": lambda c: f"a photo of a {c.name}",
    "all lemmas": lambda c: ", ".join(c.lemmas),
    "name + definition": lambda c: f"a photo of a {c.name}: {c.definition}",
    "name + 3 hypernyms": lambda c: f"a photo of a {c.name}, a kind of {', '.join(c.hypernyms[:3])}",
    "name + 1 hypernym": lambda c: (
        f"a photo of a {c.name}, a kind of {c.hypernyms[0]}" if c.hypernyms else f"a photo of a {c.name}"
    ),
}


def load_pairs(folders: list[Path]) -> tuple[list[Pair], list[Path]]:
    clips = {p.name: p.resolve() for folder in folders for p in folder.iterdir() if p.name.startswith("clip-")}
    pairs = []
    for line in ANNOTATIONS.read_text().splitlines():
        row = json.loads(line)
        if row["clip"] in clips:
            pairs.append(Pair(str(clips[row["clip"]]), float(row["start"]), float(row["end"]), row["text"]))
    used = sorted({Path(p.path) for p in pairs})
    return pairs, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--bridge", action="append", choices=list(BRIDGES), help="only these (default: all)")
    args = parser.parse_args()
    pairs, clips = load_pairs(args.folders)
    print(f"{len(pairs)} annotated moments in {len(clips)} clips")
    print(f"{'class text (bridge)':24}{'re-rank':>8}{'R@1':>8}{'R@5':>8}{'MRR':>8}")
    original = backbone_module.class_text
    for name in args.bridge or list(BRIDGES):
        backbone_module.class_text = BRIDGES[name]
        with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "lib") as lib:
            report = lib.index(clips)
            assert not report.failed, report.failed
            for rerank in (False, True):
                s = lib.evaluate(pairs, rerank=rerank)
                print(f"{name:24}{'on' if rerank else 'off':>8}{s.r1:8.3f}{s.r5:8.3f}{s.mrr:8.3f}", flush=True)
    backbone_module.class_text = original


if __name__ == "__main__":
    main()
