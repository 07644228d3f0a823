"""A library's vectors: main shards frozen once written, a small delta beside them, and tombstones.

    LIBRARY/vectors/main-K.faiss  a shard: a plain FAISS file (exact, or IVF past APPROX_FROM), read
                                  memory-mapped, so a new `footage search` does not read it whole
    LIBRARY/vectors/state.npz     the SQLite generation all this matches, the shards' names and sides, the
                                  delta's ids and float16 vectors, and the tombstones: ids deleted from the
                                  shards

A shard holds one side: segments' and views' vectors, or text chunks' (ids from TEXT_IDS up). New vectors
go to the delta and deletions become tombstones, so saving after a change writes the state file only, and
the delta never holds more than MERGE_AT vectors: adding a one-minute video to a 10M-segment library writes
what it writes to an empty one. `maintain` (run by `index`, never by `search`) turns a full delta into new
shards (one a side), and merges a side's newest shards while the newest is at least half the size of the
one before (the logarithmic method: a vector is rewritten about log2(N / MERGE_AT) times over the library's
growth, and there are as many shards). It builds the IVF index anew from all stored vectors when the
library crosses APPROX_FROM or has grown RETRAIN_GROWTH times since the last training. The state file is
replaced atomically after the shard files it names are on disk, so a crash at any point leaves a matching
set; shard files no state names are deleted at the next maintenance.
"""

import io
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import numpy as np

from footage.errors import BadValue
from footage.files import write_atomically
from footage.store import faiss_index
from footage.store.faiss_index import ApproxIndex, VectorIndex, read, rescore

FOLDER = "vectors"
STATE = "state.npz"
# Ids from here up are text chunks' (the store's TEXT_ID_BASE), the rest segments' and views': each shard holds
# one side, so a search of pictures never scans text codes, nor one of words picture codes (at 10M segments
# the text search's selector rejecting 300k picture codes cost 19 ms).
TEXT_IDS = 1 << 56
MIXED = -1  # the side of a shard holding both (made before shards had sides): searched for either
MERGE_AT = 20_000  # delta vectors that make a shard: a saved state stays under 16 MB
RETRAIN_GROWTH = 10  # an IVF index is trained again when the library holds this many times what it was trained on

Batches = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]  # () -> (ids, (B, D) float32) over all vectors
Shard = VectorIndex | ApproxIndex


def approx_from() -> int:
    """Vectors past which the shards are IVF: faiss_index.APPROX_FROM, or FOOTAGE_APPROX_FROM (the tests make
    small libraries approximate with it)."""
    given = os.environ.get("FOOTAGE_APPROX_FROM", "").strip()
    if not given:
        return faiss_index.APPROX_FROM
    if not given.isdigit() or int(given) < 1:
        raise BadValue(f"FOOTAGE_APPROX_FROM={given!r}: not a number of vectors (a whole number, 1 or more)")
    return int(given)


class Vectors:
    """The library's searchable vectors, with VectorIndex's interface (add, remove, search, ids, len)."""

    def __init__(self, dim: int):
        self.dim = dim
        self.shards: list[tuple[str, Shard]] = []  # (file name, index), oldest (largest) first
        self.sides: dict[str, int] = {}  # shard name -> 0 (segments), 1 (text chunks) or MIXED
        self.delta = VectorIndex(dim)
        self.tombstones = np.zeros(0, np.int64)  # sorted ids in the shards that are deleted
        self.trained = 0  # vectors the IVF quantizer was trained on (0: exact shards)
        self.nlist = 0
        self.generation = -1  # the SQLite generation these vectors match; -1: unknown
        self._shard_ids: np.ndarray | None = None  # sorted ids of all shards, read once when needed
        self._exact: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def approximate(self) -> bool:
        return self.trained > 0

    def set_exact(self, exact: Callable[[np.ndarray], np.ndarray] | None) -> None:
        """Where IVF shards read the stored vectors they re-score with."""
        self._exact = exact
        for _, shard in self.shards:
            if isinstance(shard, ApproxIndex):
                shard.exact = exact

    def __len__(self) -> int:
        return sum(len(s) for _, s in self.shards) - len(self.tombstones) + len(self.delta)

    def describe(self) -> dict:
        """What `stats` shows of the index."""
        return {
            "index": "ivf-sq8" if self.approximate else "exact",
            "cells": self.nlist,
            "trained_on": self.trained,
            "shards": len(self.shards),
            "delta": len(self.delta),
            "tombstones": len(self.tombstones),
        }

    def shard_ids(self) -> np.ndarray:
        if self._shard_ids is None:
            parts = [s.ids() for _, s in self.shards]
            self._shard_ids = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        return self._shard_ids

    def ids(self) -> np.ndarray:
        live = np.setdiff1d(self.shard_ids(), self.tombstones, assume_unique=True)
        return np.concatenate([live, self.delta.ids()])

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.delta.add(ids, vectors)

    def remove(self, ids) -> None:
        ids = np.unique(np.asarray(list(ids), np.int64))
        if not len(ids):
            return
        self.delta.remove(ids)
        if self.shards:
            held = ids[np.isin(ids, self.shard_ids(), assume_unique=True)]
            self.tombstones = np.union1d(self.tombstones, held)

    def search(
        self,
        query: np.ndarray,
        n: int,
        ids: tuple[int, int] | None = None,
        skip: np.ndarray | None = None,
        keep: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """As VectorIndex.search, over the shards less their tombstones, and the delta."""
        found = self.nearest(query, n, ids, skip, keep)
        return found.finish(self._exact(found.pending) if found.rescored and len(found.pending) else None)

    def nearest(
        self,
        query: np.ndarray,
        n: int,
        ids: tuple[int, int] | None = None,
        skip: np.ndarray | None = None,
        keep: np.ndarray | None = None,
    ) -> "Nearest":
        """`search` up to the read of the stored vectors that IVF candidates are re-scored with: whoever reads
        the database anyway reads them along (a search's second round trip, footage/store/query.py)."""
        if len(self.tombstones):
            skip = self.tombstones if skip is None or not len(skip) else np.concatenate([skip, self.tombstones])
        parts, approx = [], []
        nprobe = faiss_index.plan_probes(self.nlist) if self.approximate else 0
        for name, shard in self.shards:
            if not _overlaps(self.sides.get(name, MIXED), ids):
                continue
            if isinstance(shard, ApproxIndex):
                shard.nprobe = nprobe  # the shards share the cells: each scans the same ones
                approx.append(shard)
            else:
                parts.append(shard.search(query, n, ids, skip, keep))
        k = n * faiss_index.RESCORE
        # FAISS lets go of the GIL: shards are scanned side by side on as many cores (1.4x on 2 at 10M)
        candidates = list(_pool().map(lambda shard: shard.candidates(query, k, ids, skip, keep), approx))
        delta = self.delta.search(query, n, ids, skip, keep) if len(self.delta) else None
        # the best of all IVF shards' candidates, re-scored in one read of the stored vectors
        best = _best_of(candidates, k) if candidates else None
        return Nearest(query, n, parts, best, delta, rescored=self._exact is not None)

    # --- on disk ----------------------------------------------------------------------------------------

    def save(self, library: Path) -> None:
        """Writes the delta and tombstones with the shards' names (the shards are on disk already). A temp
        file renamed over the old one: a crash leaves the old state or the new."""
        folder = library / FOLDER
        folder.mkdir(exist_ok=True)
        meta = {
            "generation": self.generation,
            "shards": [name for name, _ in self.shards],
            "sides": {name: self.sides[name] for name, _ in self.shards if name in self.sides},
            "trained": self.trained,
            "nlist": self.nlist,
        }
        buffer = io.BytesIO()
        np.savez(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
            ids=self.delta.ids(),
            vectors=self.delta.vectors().astype(np.float16),
            tombstones=self.tombstones,
        )
        write_atomically(folder / STATE, lambda f: f.write(buffer.getbuffer()), durable=True)

    @classmethod
    def load(cls, library: Path, dim: int) -> "Vectors":
        """The saved vectors, or empty ones (generation -1) when missing, damaged or of another width: SQLite
        holds every vector, and the store repairs from it. Raises OSError when the files cannot be read."""
        folder = library / FOLDER
        for _ in range(2):  # a writer may replace a shard between our reading the state and the shard
            out = cls._load(folder, dim)
            if out is not None:
                return out
        return cls(dim)

    @classmethod
    def _load(cls, folder: Path, dim: int) -> "Vectors | None":
        """As load; None when a shard the state names is gone."""
        out = cls(dim)
        try:
            with np.load(folder / STATE, allow_pickle=False) as state:
                meta = json.loads(state["meta"].tobytes())
                ids, vectors, tombstones = state["ids"], state["vectors"], state["tombstones"]
            if vectors.ndim != 2 or (len(vectors) and vectors.shape[1] != dim):
                return out
        except FileNotFoundError:
            return out
        except (ValueError, KeyError, EOFError, zipfile.BadZipFile):  # damaged: repaired from SQLite
            return out
        if not isinstance(meta.get("shards"), list):  # not a state this footage writes: repaired from SQLite
            return out
        out.trained, out.nlist = int(meta.get("trained", 0)), int(meta.get("nlist", 0))
        out.sides = {name: int(side) for name, side in meta.get("sides", {}).items()}
        for name in meta["shards"]:
            if not (folder / name).exists():
                return None
            try:
                out.shards.append((name, read(folder / name, dim)))
            except (RuntimeError, ValueError):  # damaged: repaired from SQLite
                return cls(dim)
        out.delta.add(ids, vectors.astype(np.float32))
        out.tombstones = tombstones.astype(np.int64)
        out.generation = int(meta["generation"])
        return out

    # --- maintenance (the write lock's holder, from `index`) ---------------------------------------------

    def delta_full(self) -> bool:
        return len(self.delta) >= MERGE_AT

    def due(self) -> str | None:
        """What maintenance is due: "train" (build the IVF index from all vectors), "merge" or None."""
        total = len(self)
        held = sum(len(s) for _, s in self.shards)
        if (not self.approximate and total >= approx_from()) or (
            # grown 10x, or most vectors replaced (a trained predictor, new views): cells and code ranges
            # fitted to vectors that are no longer there
            self.approximate and (total >= RETRAIN_GROWTH * self.trained or 2 * len(self.tombstones) > held)
        ):
            return "train"
        if self.delta_full() or len(self.tombstones) >= max(MERGE_AT, len(self) // 10):
            return "merge"
        return None

    def maintain(self, library: Path, batches: Batches, force: str | None = None) -> str | None:
        """Does what `due` says (or `force`), writes the new shard files, then the state naming them; returns
        what it did. `batches` reads every stored vector (SQLite, the source of truth) for a training."""
        what = force or self.due()
        if what is None:
            return None
        folder = library / FOLDER
        folder.mkdir(exist_ok=True)
        mapped = {name for name, _ in self.shards}  # on disk and mapped already: not read again below
        for name, shard in self.shards:  # shards from before sides were kept: learn theirs, once
            if name not in self.sides:
                found = np.unique(side_of(shard.ids()))
                self.sides[name] = int(found[0]) if len(found) == 1 else MIXED
        if what == "train" and len(self) == 0:  # everything deleted: back to an empty exact index
            self.shards, self.sides, self.trained, self.nlist = [], {}, 0, 0
            self.delta, self.tombstones = VectorIndex(self.dim), np.zeros(0, np.int64)
        elif what == "train":
            built = ApproxIndex.build(self.dim, len(self), batches, side_of)
            self.trained = sum(len(b) for b in built.values())
            self.nlist = faiss.extract_index_ivf(next(iter(built.values())).index).nlist
            self.shards, self.sides = [], {}
            for side, shard in sorted(built.items()):
                self._append(folder, shard, side)
            self.delta, self.tombstones = VectorIndex(self.dim), np.zeros(0, np.int64)
        else:
            if len(self.delta):
                ids, vectors = self.delta.ids(), self.delta.vectors()
                sides = side_of(ids)
                for side in np.unique(sides):
                    shard = self._empty_like(folder) if self.approximate else VectorIndex(self.dim)
                    self._add(shard, ids[sides == side], vectors[sides == side])
                    self._append(folder, shard, int(side))
                self.delta = VectorIndex(self.dim)
            compact = len(self.tombstones) >= max(MERGE_AT, len(self) // 10)  # many deletions: rewrite all
            for side in sorted({self.sides.get(name, MIXED) for name, _ in self.shards}):
                while len(mine := self._of_side(side)) >= 2:
                    newest, before = len(self.shards[mine[-1]][1]), len(self.shards[mine[-2]][1])
                    if not compact and 2 * newest < before:
                        break
                    self._merge(folder, [mine[-2], mine[-1]])
                if compact and len(mine) == 1:
                    self._merge(folder, mine)
        self._shard_ids = None
        # the new shards, built in memory, mapped from their files instead, as a reader has them
        self.shards = [(name, s if name in mapped else read(folder / name, self.dim)) for name, s in self.shards]
        self.set_exact(self._exact)
        self.save(library)  # from here on the new shards are the library's
        prune(folder, keep={name for name, _ in self.shards})
        return what

    def _empty_like(self, folder: Path) -> ApproxIndex:
        """An empty IVF shard with the trained cells the others share, read from the smallest (not the largest:
        gigabytes at 10M segments, read whole for every new shard)."""
        name, _ = min(self.shards, key=lambda entry: len(entry[1]))
        shard = faiss.read_index(str(folder / name))
        shard.reset()
        return ApproxIndex(shard, 0)

    def _add(self, shard: Shard, ids: np.ndarray, vectors: np.ndarray) -> None:
        if isinstance(shard, VectorIndex):
            shard.add(ids, vectors)
        else:
            shard.index.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.asarray(ids, np.int64))

    def _of_side(self, side: int) -> list[int]:
        """Positions of the shards of one side, oldest first."""
        return [i for i, (name, _) in enumerate(self.shards) if self.sides.get(name, MIXED) == side]

    def _append(self, folder: Path, shard: Shard, side: int) -> None:
        name = self._write(folder, shard)
        self.shards.append((name, shard))
        self.sides[name] = side

    def _merge(self, folder: Path, positions: list[int]) -> None:
        """Replaces the shards at these positions (one or two, of one side) by one, without their tombstoned
        ids, at the first one's place."""
        take = [self.shards[i] for i in positions]
        held = np.concatenate([s.ids() for _, s in take])
        dead = self.tombstones[np.isin(self.tombstones, held)]
        if self.approximate:
            merged = faiss.read_index(str(folder / take[0][0]))  # into memory, to change it
            for name, _ in take[1:]:
                merged.merge_from(faiss.read_index(str(folder / name)), 0)
            if len(dead):
                merged.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(dead, np.int64)))
            shard: Shard = ApproxIndex(merged, 0)
        else:
            shard = VectorIndex(self.dim)
            for _, old in take:
                ids = old.ids()
                live = ~np.isin(ids, dead)
                shard.add(ids[live], old.vectors()[live])
        name = self._write(folder, shard)
        self.sides[name] = self.sides.get(take[0][0], MIXED)
        self.shards[positions[0]] = (name, shard)
        for i in sorted(positions[1:], reverse=True):
            del self.shards[i]
        self.tombstones = np.setdiff1d(self.tombstones, dead, assume_unique=True)

    def _write(self, folder: Path, shard: Shard) -> str:
        """Writes a shard under a new name, durably; returns the name."""
        taken = [int(m) for m in re.findall(r"main-(\d+)\.faiss", " ".join(os.listdir(folder)))]
        name = f"main-{1 + max(taken, default=0)}.faiss"
        tmp = folder / f"{name}.tmp"
        shard.write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, folder / name)
        return name


class Nearest:
    """A search halfway: the best of the exact shards and of the delta, and the IVF shards' candidates, which
    `finish` re-scores with their stored vectors (when `rescored`; else their approximate scores stand)."""

    def __init__(self, query, n: int, exact: list, candidates=None, delta=None, rescored: bool = False):
        self.query, self.n = query, n
        self.exact = exact  # (ids, scores) of each shard searched exactly
        self.candidates = candidates  # (ids, approximate scores) of the IVF shards, best first; None: none
        self.delta = delta  # (ids, scores) of the delta; None: empty
        self.rescored = rescored

    @classmethod
    def of(cls, found: tuple[np.ndarray, np.ndarray], n: int) -> "Nearest":
        """A search already finished (an exact index's)."""
        return cls(None, n, [found])

    @property
    def pending(self) -> np.ndarray:
        """The ids whose stored vectors `finish` needs, in the order it needs them."""
        return self.candidates[0] if self.candidates is not None and self.rescored else np.zeros(0, np.int64)

    def ids(self) -> np.ndarray:
        """Every id the search may return."""
        parts = [p[0] for p in (*self.exact, self.candidates, self.delta) if p is not None]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def finish(self, vectors: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The n best ids and scores, best first; `vectors`: the stored vectors of `pending`, (P, D) float32."""
        parts = list(self.exact)
        if self.candidates is not None:
            exact = None if vectors is None else lambda _: vectors
            parts.append(rescore(self.query, *self.candidates, self.n, exact))
        if self.delta is not None:
            parts.append(self.delta)
        return _best_of(parts, self.n)


def _best_of(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of several (ids, scores) lists, best first."""
    if len(parts) == 1:
        return parts[0][0][:k], parts[0][1][:k]
    found = np.concatenate([p[0] for p in parts] or [np.zeros(0, np.int64)])
    scores = np.concatenate([p[1] for p in parts] or [np.zeros(0, np.float32)])
    best = np.argsort(-scores, kind="stable")[:k]
    return found[best], scores[best]


def side_of(ids: np.ndarray) -> np.ndarray:
    """0 for segments' and views' ids, 1 for text chunks'."""
    return (np.asarray(ids) >= TEXT_IDS).astype(np.int64)


def _overlaps(side: int, ids: tuple[int, int] | None) -> bool:
    """Whether a shard of this side may hold ids in [lo, hi)."""
    if ids is None or side == MIXED:
        return True
    lo, hi = ids
    return hi > TEXT_IDS if side == 1 else lo < TEXT_IDS


_threads: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _threads
    if _threads is None:
        _threads = ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="footage-shards")
    return _threads


def prune(folder: Path, keep: set[str]) -> None:
    """Deletes shard files the state does not name, and temp files a crash left. A process that still has an
    old one mapped keeps reading it: the file goes when it is unmapped."""
    for path in folder.iterdir():
        if (path.name.startswith("main-") and path.name not in keep) or path.name == f"{STATE}.tmp":
            path.unlink(missing_ok=True)


def clear_leftovers(folder: Path) -> None:
    """Deletes the shard and temporary files a killed maintenance left: those the saved state does not name (a
    merge killed between writing its shards and the state kept them until the next merge, gigabytes at 10M
    segments). Only the write lock's holder calls it; a state that cannot be read is left to the repair."""
    try:
        with np.load(folder / STATE, allow_pickle=False) as state:
            shards = json.loads(state["meta"].tobytes())["shards"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return
    if isinstance(shards, list):
        prune(folder, keep=set(shards))
