"""The pictures' floor under a trained predictor (engine.picture_levels): measured by made-up words in the library
itself, against no floor and against the untrained predictor's 0.18.

    python bench/relevance_trained.py --library DIR [--pairs 40]

DIR is a library of bench/data's clips (bench/relevance.py makes one); it is copied, and the copy's predictor
is trained on the first PAIRS moments of the tuning half (as `footage train` would, with its held-out check).
Then, with the trained predictor: the chance level the made-up words give (engine.CHANCE_WORDS, the floor), and
both halves' R@5 and how many of bench/data/nonsense.txt's 20 queries find nothing, with no floor, with that
floor, and with the untrained predictor's FLOORS["visual"]. The untrained library's own chance level is printed
first: it is what 0.18 is measured against.
"""

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from footage import Library
from footage.search import engine
from footage.search.evaluate import Pair, finds

DATA = Path(__file__).parent / "data"


def chance(lib: Library) -> float:
    engine._chance.clear()
    engine_zero_shot = engine.zero_shot
    engine.zero_shot = lambda models: False  # measured as for a trained predictor, whatever this one is
    try:
        return engine.picture_levels(lib.store, lib.models)[0]
    finally:
        engine.zero_shot = engine_zero_shot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=40)
    args = parser.parse_args()
    with Library(args.library) as lib:
        print(f"untrained: the made-up words' chance level {chance(lib):.3f} (FLOORS['visual'] "
              f"{engine.FLOORS['visual']})")  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="relevance-trained-"))
    shutil.copytree(args.library, work / "lib", ignore=shutil.ignore_patterns("write.lock"))
    lib = Library(work / "lib")
    paths = {Path(p).name: p for p in lib.store.videos()}
    moments = [json.loads(line) for name in ("moments.jsonl", "moments_experts.jsonl") for line in open(DATA / name)]
    moments = [m for m in moments if m["clip"] in paths]
    tune = [Pair(paths[m["clip"]], m["start"], m["end"], m["text"]) for m in moments if m["split"] == "tune"]
    print(lib.train(tune[: args.pairs], epochs=100).summary)
    floor = chance(lib)
    print(f"trained: the made-up words' chance level {floor:.3f}: the pictures' floor")
    nonsense = [q.strip() for q in open(DATA / "nonsense.txt") if q.strip() and not q.startswith("#")]
    print("| pictures' floor | tuning R@5 | report R@5 | nonsense finding nothing |\n|---|---|---|---|")
    for name, value in (("none", None), (f"chance level {floor:.3f} (footage)", floor),
                        (f"untrained {engine.FLOORS['visual']}", engine.FLOORS["visual"])):  # fmt: skip
        engine._chance.clear()
        engine.zero_shot = lambda models: False
        key = (str(lib.store.path), lib.store.index.generation, id(lib.models.predictor))
        engine._chance[key] = value or 0.0  # the floor tried, as if measured
        r5 = {}
        for split in ("tune", "report"):
            pairs = [Pair(paths[m["clip"]], m["start"], m["end"], m["text"]) for m in moments if m["split"] == split]
            found = [any(finds(h, p) for h in lib.search(p.text, top_k=5, captions=False, cutoff=value is not None))
                     for p in pairs]  # fmt: skip
            r5[split] = f"{np.mean(found):.3f} ({len(pairs)})"
        empty = sum(not lib.search(q, top_k=5, captions=False, cutoff=value is not None) for q in nonsense)
        print(f"| {name} | {r5['tune']} | {r5['report']} | {empty} of {len(nonsense)} |")
    lib.close()
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
