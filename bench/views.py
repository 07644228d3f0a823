"""Index "views": would storing extra segment vectors, each pooled with attention on an indexing prompt, and
fusing them with the plain vector at search time (best score over views) find annotated moments better?

    cd bench && python views.py FOLDER [MORE_FOLDERS...]

Scored on the 71 annotated moments (bench/data/annotations.jsonl) with the zero-shot predictor, each view
alone and all fused, at two attention temperatures. Exact search over every segment, so the views' scores are
not confounded with FAISS's float16.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from retrieval import load_pairs

from footage import Library
from footage.models.predictor import PredictorConfig
from footage.search.evaluate import evaluate
from footage.search.search import search

PROMPTS = ["what is happening", "what objects are visible", "the place where this is", "the people and animals in it"]


class Fused:
    """Stands in for the FAISS index: a segment's score is its best over the views."""

    def __init__(self, ids: list[int], views: list[np.ndarray]):
        self.ids, self.views = np.array(ids), views

    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        scores = np.max([v @ query for v in self.views], axis=0)
        top = np.argsort(-scores)[:n]
        return self.ids[top], scores[top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    args = parser.parse_args()
    pairs, clips = load_pairs(args.folders)
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "lib") as lib:
        lib.index(clips)
        b = lib.backbone
        ids, tokens = lib.store.all_frame_tokens()
        plain = b.predict(tokens)

        def mrr(views: list[np.ndarray]) -> float:
            return evaluate(pairs, lambda text, k: search(lib.store, b, text, k, index=Fused(ids, views))).mrr

        print(f"{len(pairs)} moments, {len(ids)} segments\n{'vectors':52}{'MRR':>8}")
        print(f"{'plain (evenly pooled, what FAISS stores)':52}{mrr([plain]):8.3f}")
        for temperature in (0.05, 0.2):
            b.predictor.config = PredictorConfig(dim=b.dim, temperature=temperature)
            views = [b.predict(tokens, b.embed_query(p)) for p in PROMPTS]
            for prompt, view in zip(PROMPTS, views):
                print(f"{f'view {prompt!r}, t={temperature}':52}{mrr([view]):8.3f}")
            print(f"{f'plain + 4 views fused (max), t={temperature}':52}{mrr([plain, *views]):8.3f}")


if __name__ == "__main__":
    main()
