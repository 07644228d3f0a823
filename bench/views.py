"""Index views: do extra segment vectors, each pooled with attention on an indexing prompt and fused with the
plain vector in search (a segment scores as its best vector), find annotated moments better?

    cd bench && python views.py FOLDER [MORE_FOLDERS...]

Scored on the 71 annotated moments (bench/data/annotations.jsonl) with the zero-shot predictor: the library
is indexed once, then given each set of views in turn (`Library.index([], views=...)` recomputes the vectors
from the cached frame tokens) and evaluated with footage's own search.
"""

import argparse
import shutil
import tempfile
from pathlib import Path

from retrieval import load_pairs

from footage import Library

PROMPTS = ["what is happening", "what objects are visible", "the place where this is", "the people and animals in it"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    args = parser.parse_args()
    pairs, clips = load_pairs(args.folders)
    with tempfile.TemporaryDirectory() as tmp:
        with Library(Path(tmp) / "lib") as lib:
            lib.index(clips)
            segments = lib.stats().segments
        print(f"{len(pairs)} moments, {segments} segments\n{'views':60}{'R@1':>7}{'R@5':>7}{'MRR':>7}")
        for views in [[], *([p] for p in PROMPTS), PROMPTS]:
            shutil.copytree(Path(tmp) / "lib", Path(tmp) / "try")
            with Library(Path(tmp) / "try") as lib:
                lib.index([], views=views)
                s = lib.evaluate(pairs)
            shutil.rmtree(Path(tmp) / "try")
            name = "none (the plain vector only)" if not views else f"{views[0]!r}" if len(views) == 1 else "all four"
            print(f"{name[:60]:60}{s.r1:7.3f}{s.r5:7.3f}{s.mrr:7.3f}")


if __name__ == "__main__":
    main()
