"""Vector search at archive scale: a library of N segments, built the way index runs grow it, then searched.

    python bench/scale.py --segments 1000000 [--queries 100] [--source .footage-demo] [--keep DIR] [--json]

Segment vectors have the structure of real ones: each synthetic video is a run of consecutive real segment
vectors from a library of the sample footage (`make run` builds .footage-demo), jittered once for the video
and again for each segment, 100 segments a video, each with 6 frame tokens (the sample footage averages 5.8).
The library is filled through Store.save_video (SQLite and the vector delta, one transaction a video) and
flushed every FLUSH segments as `index` does (the delta made a shard, shards merged, the IVF index trained at
APPROX_FROM and again at 10x growth): `build_s` is the time all that maintenance took. `--keep DIR` builds the
library in DIR and leaves it there; a later run with the same DIR searches it again without building.

Then, in the same run:
  add_video_s      one more one-minute video (30 segments) saved and maintained; the same in an empty library
  warm_p50/p99_ms  Library.search for real query texts (bench/data/moments.jsonl), no captions
  recall_at_10     the store's top 10 against exact search over every vector (as stored, float16)
  cold_search_s    `footage search QUERY --json` as a new process (median of 3), and its peak RSS (GNU time:
                   /usr/bin/time, Debian's `time`)
  bytes_per_segment  library.db and the vectors folder on disk, over the segments (thumbnails apart)
"""

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from footage import Library
from footage.store import FileFacts, NewSegment

PER_VIDEO = 100
FRAMES = 6
FLUSH = 20_000  # segments between flushes (an index run flushes every minute: 20k is the delta's size limit)
ROOT = Path(__file__).resolve().parent.parent


def real_vectors(source: Path) -> np.ndarray:
    """The sample library's segment vectors, (R, D) float32, in id order (so runs follow videos)."""
    db = source / "library.db"
    if not db.exists():
        sys.exit(f"{source}: no library of the sample footage here; `make run` builds .footage-demo")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        dim = int(conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()[0])
        blobs = [r[0] for r in conn.execute("SELECT vector FROM segments ORDER BY id")]
    kind = lambda b: np.float16 if len(b) == 2 * dim else np.float32  # noqa: E731
    return np.stack([np.frombuffer(b, kind(b)).astype(np.float32) for b in blobs])


def video(v: int, real: np.ndarray, n: int = PER_VIDEO) -> np.ndarray:
    """Video v's (n, D) unit vectors: deterministic, so exact search can regenerate them."""
    rng = np.random.default_rng(v)
    dim = real.shape[1]
    start = int(rng.integers(len(real)))
    base = real[(start + np.arange(n)) % len(real)]
    x = base + rng.standard_normal(dim).astype(np.float32) * (0.3 / np.sqrt(dim))
    x += rng.standard_normal((n, dim)).astype(np.float32) * (0.2 / np.sqrt(dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def save(lib: Library, v: int, vectors: np.ndarray, name: str) -> None:
    rng = np.random.default_rng(v + 1)
    tokens = lib.backbone.token_dim
    segments = []
    for k, x in enumerate(vectors):
        frames = (
            np.repeat(x[None], FRAMES, 0)
            if tokens == len(x)
            else rng.standard_normal((FRAMES, tokens)).astype(np.float32)
        )
        times = 2.0 * k + np.arange(FRAMES, dtype=np.float32) / 3
        segments.append(NewSegment(2.0 * k, 2.0 * k + 2, x, times, frames))
    facts = FileFacts(f"/archive/{name}.mp4", 1, 1.0, f"fp-{name}", duration=2.0 * len(vectors))
    lib.store.save_video(facts, segments, lib.models.model_id)


def add_one_video(lib: Library, real: np.ndarray) -> float:
    """Seconds to save a one-minute video (30 segments) and end the run as `index` does."""
    t = time.perf_counter()
    save(lib, 10**9, video(10**9, real, 30), "one-more")
    lib.store.maintain()
    return time.perf_counter() - t


def exact_top(queries: np.ndarray, videos: int, real: np.ndarray, extra, k: int = 10) -> np.ndarray:
    """(Q, k) segment ids of the exact top k over every video's vectors and `extra` (ids, vectors), rounded
    to float16 as stored."""
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.zeros((len(queries), k), np.int64)
    chunk = 100
    for first in range(0, videos + chunk, chunk):
        if first < videos:
            x = np.concatenate([video(v, real) for v in range(first, min(videos, first + chunk))])
            ids = first * PER_VIDEO + 1 + np.arange(x.shape[0])
        else:
            ids, x = extra
        x = x.astype(np.float16).astype(np.float32)
        s = queries @ x.T  # (Q, chunk * PER_VIDEO)
        s_all = np.concatenate([best_s, s], axis=1)
        i_all = np.concatenate([best_i, np.broadcast_to(ids, s.shape)], axis=1)
        top = np.argpartition(-s_all, k, axis=1)[:, :k]
        best_s = np.take_along_axis(s_all, top, 1)
        best_i = np.take_along_axis(i_all, top, 1)
    return best_i


def cold_search(path: Path, text: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of `footage search` as a new process. The RSS is GNU time's report: a
    child's own rusage would count the pages it shared with this (large) process between fork and exec."""
    exe = str(Path(sys.executable).parent / "footage")
    t = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", exe, "--library", str(path), "search", text, "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"footage search failed: {done.stderr}")
    return wall, int(done.stderr.strip().splitlines()[-1]) / 1024


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_relative_to(path / "thumbs"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--source", type=Path, default=ROOT / ".footage-demo")
    parser.add_argument("--keep", type=Path, help="build the library here and keep it (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    real = real_vectors(args.source)
    videos = args.segments // PER_VIDEO
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else print
    texts = list(dict.fromkeys(json.loads(line)["text"] for line in open(ROOT / "bench/data/moments.jsonl")))
    texts = texts[: args.queries]

    with tempfile.TemporaryDirectory() as tmp:
        empty = Library(Path(tmp) / "empty")
        empty.index([])
        with empty.store.writing():
            add_empty = add_one_video(empty, real)
        empty.close()

        path = args.keep or Path(tmp) / "archive"
        built = (path / "library.db").exists()
        lib = Library(path)
        lib.index([])  # makes the library
        started, build, fill, add = time.perf_counter(), 0.0, 0.0, 0.0
        with lib.store.writing():
            for v in range(0 if built else videos):
                save(lib, v, video(v, real), f"v{v:07d}")
                if (v + 1) * PER_VIDEO % FLUSH == 0 or v == videos - 1:
                    t = time.perf_counter()
                    shards = len(lib.store.index.shards)
                    lib.store.flush()
                    build += time.perf_counter() - t
                    if len(lib.store.index.shards) != shards or time.perf_counter() - t > 1:
                        say(
                            f"  {(v + 1) * PER_VIDEO:>10,} segments  {time.perf_counter() - started:7.0f} s  "
                            f"flush {time.perf_counter() - t:.1f} s, {len(lib.store.index.shards)} shards"
                        )
            fill = time.perf_counter() - started
            if not built:
                add = add_one_video(lib, real)
        index = lib.store.index
        say(f"filled {args.segments:,} segments in {fill:.0f} s, {build:.0f} s of it maintenance")

        queries = np.stack([lib.backbone.embed_query(t) for t in texts])
        more = video(10**9, real, 30)  # add_one_video's, under the ids after the archive's
        truth = exact_top(queries, videos, real, extra=(videos * PER_VIDEO + 1 + np.arange(30), more))
        recall, store_ms = [], []
        for q, want in zip(queries, truth):
            t = time.perf_counter()
            found, _ = lib.store.search(q, 10)
            store_ms.append((time.perf_counter() - t) * 1000)
            recall.append(len(set(found.tolist()) & set(want.tolist())) / 10)
        lib.search(texts[0], top_k=10, captions=False)  # warm up
        warm = []
        for text in texts:
            t = time.perf_counter()
            lib.search(text, top_k=10, captions=False)
            warm.append((time.perf_counter() - t) * 1000)
        kind = "IVF-SQ8" if index.approximate else "exact"
        lib.close()
        cold = [cold_search(path, text) for text in texts[1:4]]
        on_disk = disk_bytes(path)
        out = {
            "segments": args.segments,
            "index": kind,
            "shards": len(index.shards),
            "build_s": round(build, 1),
            "fill_s": round(fill, 1),
            "add_video_s": round(add, 3),
            "add_video_empty_s": round(add_empty, 3),
            "warm_p50_ms": round(float(np.percentile(warm, 50)), 1),
            "warm_p99_ms": round(float(np.percentile(warm, 99)), 1),
            "store_p50_ms": round(float(np.percentile(store_ms, 50)), 1),
            "cold_search_s": round(float(np.median([c[0] for c in cold])), 2),
            "recall_at_10": round(float(np.mean(recall)), 4),
            "bytes_per_segment": round(on_disk / args.segments),
            "search_rss_mb": round(float(np.median([c[1] for c in cold]))),
        }
    if built:
        out["build_s"] = out["fill_s"] = out["add_video_s"] = None  # built by an earlier run
    if args.json:
        print(json.dumps(out))
        return
    print(
        f"{out['segments']:,} segments ({kind}, {out['shards']} shards): build {out['build_s']} s of maintenance "
        f"(fill {out['fill_s']} s); one more 1-minute video {out['add_video_s']} s (empty library "
        f"{out['add_video_empty_s']} s)\nwarm Library.search p50 {out['warm_p50_ms']} ms, p99 {out['warm_p99_ms']} ms "
        f"(store alone p50 {out['store_p50_ms']} ms); recall@10 vs exact {out['recall_at_10']}\n"
        f"cold `footage search` {out['cold_search_s']} s, peak RSS {out['search_rss_mb']} MB; "
        f"{out['bytes_per_segment']} bytes a segment on disk (library.db + vectors, thumbnails apart)"
    )


if __name__ == "__main__":
    main()
