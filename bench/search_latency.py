"""Search latency over a large library, warm (in process) and cold (a fresh `footage search` from a shell).

    python bench/search_latency.py [--segments 100000] [--queries 100]

Fills a temporary library with synthetic segments (random unit vectors; 100 segments per video), then times
Library.search on new query texts (each one embedded by the text encoder) and on repeated ones (cached
vectors), next to FAISS's search alone, and the wall time of `footage search` as a new process. Then the cost
of captioning the 10 hits: decoded the first time a segment is shown, read from the library's cache after.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from footage import Library
from footage.models import imagenet
from footage.store import FileFacts, NewSegment

SEGMENTS_PER_VIDEO = 100


def fill(lib: Library, n: int, rng) -> np.ndarray:
    """Adds n random segments; returns their vectors in id order."""
    dim = lib.backbone.dim
    added = []
    with lib.store.lock:
        for v in range(n // SEGMENTS_PER_VIDEO):
            vectors = rng.standard_normal((SEGMENTS_PER_VIDEO, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            segments = [
                NewSegment(5.0 * k, 5.0 * k + 5, vectors[k], np.array([5.0 * k], np.float32), vectors[k][None])
                for k in range(SEGMENTS_PER_VIDEO)
            ]
            facts = FileFacts(f"/synthetic/video{v:05d}.mp4", 1, 1.0, f"fp{v}", duration=500.0)
            lib.store.save_video(facts, segments, lib.models.model_id)
            added.append(vectors)
        lib.store.flush()
    return np.concatenate(added)


def percentiles(samples_ms):
    q = np.percentile(samples_ms, [50, 99])
    return f"p50 {q[0]:6.1f} ms   p99 {q[1]:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp())
    try:
        lib = Library(tmp / "lib")
        lib.index([])  # makes the library
        t = time.perf_counter()
        vectors = fill(lib, args.segments, rng)
        print(
            f"{len(lib.store.index)} segments in {lib.stats().videos} videos (filled in "
            f"{time.perf_counter() - t:.0f} s)"
        )
        names = [c.name for c in imagenet.classes()]
        texts = [f"a {names[i]} next to a {names[j]}" for i, j in rng.integers(0, 1000, (args.queries, 2))]
        lib.search("warm up", top_k=10)  # with captions: builds the decoder

        exact = faiss.IndexFlatIP(vectors.shape[1])  # float32, exhaustive: the reference
        exact.add(vectors)
        new, repeated, faiss_only, exact_ms, recall = [], [], [], [], []
        for text in texts:
            t = time.perf_counter()
            lib.search(text, top_k=10, captions=False)
            new.append((time.perf_counter() - t) * 1000)
        for text in texts:
            t = time.perf_counter()
            lib.search(text, top_k=10, captions=False)
            repeated.append((time.perf_counter() - t) * 1000)
            q = lib.backbone.embed_query(text)
            t = time.perf_counter()
            ids, _ = lib.store.index.search(q, 50)
            faiss_only.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            _, ref = exact.search(q[None], 50)
            exact_ms.append((time.perf_counter() - t) * 1000)
            recall.append(len(set(ids.tolist()) & set((ref[0] + 1).tolist())) / 50)  # segment id = row + 1
        decoded, cached = [], []
        for text in texts:  # repeated queries: the caption's share of the time is seen without the encoder's
            t = time.perf_counter()
            lib.search(text, top_k=10)
            decoded.append((time.perf_counter() - t) * 1000)
        for text in texts:
            t = time.perf_counter()
            lib.search(text, top_k=10)
            cached.append((time.perf_counter() - t) * 1000)
        lib.close()
        print(f"warm Library.search, new queries     {percentiles(new)}   (no captions)")
        print(f"warm Library.search, repeated        {percentiles(repeated)}   (no captions)")
        extra = np.median(decoded) - np.median(repeated)
        print(
            f"  + 10 captions, decoded             {percentiles(decoded)}   +{extra:.1f} ms at p50, "
            f"{extra / np.median(new):.0%} of a new query's search"
        )
        print(f"  + 10 captions, from the cache      {percentiles(cached)}")
        print(f"FAISS top-50 alone (float16)         {percentiles(faiss_only)}")
        print(
            f"exact float32 top-50 (IndexFlatIP)   {percentiles(exact_ms)}   "
            f"float16 recall@50 vs it: {np.mean(recall):.4f}"
        )

        exe = str(Path(sys.executable).parent / "footage")
        cold = []
        for text in texts[:5]:
            t = time.perf_counter()
            subprocess.run(
                [exe, "--library", str(tmp / "lib"), "search", text, "--json"], check=True, capture_output=True
            )
            cold.append(time.perf_counter() - t)
        print(
            f"cold `footage search` (new process)  median {statistics.median(cold):.2f} s over {len(cold)} runs "
            "(with captions)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
