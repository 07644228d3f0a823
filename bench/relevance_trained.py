"""The pictures' floor under a trained predictor (engine.picture_levels): measured by made-up words in the library
itself, against no floor and against the untrained predictor's 0.18.

    python bench/relevance_trained.py FOLDER [--library DIR] [--pairs 40]

FOLDER holds the sample clips and DIR their library, as for bench/relevance.py (indexed there first, or reused).
The library is copied, and the copy's predictor trained on the first PAIRS moments of the tuning half (as
`footage train` would, with its held-out check). Then, with the trained predictor: the chance level the made-up
words give (engine.CHANCE_WORDS: the floor), and both halves' R@5 and how many of bench/data/nonsense.txt's
queries find nothing, with no floor, with that floor, and with the untrained predictor's FLOORS["visual"]. The
untrained library's own chance level is printed first: it is what 0.18 is measured against.
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
from relevance import read_nonsense
from retrieval import both_halves

from footage import Library
from footage.search import engine
from footage.search.evaluate import finds


def chance(lib: Library) -> float:
    """The chance level the made-up words give in a library, whatever its predictor."""
    untrained = engine.zero_shot
    engine._chance.clear()
    engine.zero_shot = lambda models: False  # measured as for a trained predictor
    try:
        return engine.picture_levels(lib.store, lib.models)[0]
    finally:
        engine.zero_shot = untrained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=40)
    args, halves, lib = both_halves(parser, "footage-relevance-")
    with lib:
        print(f"untrained: the made-up words' chance level {chance(lib):.3f} (FLOORS['visual'] "
              f"{engine.FLOORS['visual']})")  # fmt: skip
        source = lib.path
    work = Path(tempfile.mkdtemp(prefix="relevance-trained-"))
    shutil.copytree(source, work / "lib", ignore=shutil.ignore_patterns("write.lock"))
    lib = Library(work / "lib")
    print(lib.train(halves["tune"][0][: args.pairs], epochs=100).summary)
    floor = chance(lib)
    print(f"trained: the made-up words' chance level {floor:.3f}: the pictures' floor")
    nonsense = read_nonsense()
    engine.zero_shot = lambda models: False
    print("| pictures' floor | tuning R@5 | report R@5 | nonsense finding nothing |\n|---|---|---|---|")
    for name, value in (("none", None), (f"chance level {floor:.3f} (footage)", floor),
                        (f"untrained {engine.FLOORS['visual']}", engine.FLOORS["visual"])):  # fmt: skip
        engine._chance.clear()
        key = (str(lib.store.path), lib.store.index.generation, id(lib.models.predictor))
        engine._chance[key] = value or 0.0  # the floor tried, as if measured
        r5 = {}
        for split, (pairs, _, _) in halves.items():
            found = [any(finds(h, p) for h in lib.search(p.text, top_k=5, captions=False, cutoff=value is not None))
                     for p in pairs]  # fmt: skip
            r5[split] = f"{np.mean(found):.3f} ({len(pairs)})"
        empty = sum(not lib.search(q, top_k=5, captions=False, cutoff=value is not None) for q in nonsense)
        print(f"| {name} | {r5['tune']} | {r5['report']} | {empty} of {len(nonsense)} |")
    lib.close()
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
