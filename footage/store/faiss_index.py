"""The two FAISS indexes a library's vectors live in: exact for small libraries, IVF past APPROX_FROM.

Both search inner products over unit vectors (= cosine) under 64-bit ids, restricted by id selectors, and
are written as plain FAISS files, read back memory-mapped: a new process answers without reading them whole.
footage/store/vectors.py puts one of them (the main index, frozen between merges) beside a small exact delta.
"""

import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import faiss
import numpy as np

# One query at a time gains nothing from FAISS's OpenMP threads, and their spinning after each search slowed
# the next query's text encoding (numpy/OpenBLAS) twofold on 2 cores: 4.6 ms instead of 10.6 ms per search.
faiss.omp_set_num_threads(1)


# Past this many vectors the exhaustive scan costs more than 20 ms a query (bench/scale.py) and an IVF index
# takes over: a query scans the cells nearest it, not all.
APPROX_FROM = 300_000
# A query scans 1/PROBE_SHARE of the cells (at least NPROBE_MIN). With 4 sqrt(N) cells, 1M segments of real
# structure (bench/scale.py's vectors) and real query texts, recall@10 after re-scoring was 0.88, 0.978 and 1.0
# scanning 1/64, 1/32 and 1/16 of them; at 10M (8192 cells trained at 3M), 0.943, 0.950, 0.983 and 0.983
# scanning 1/48, 1/32, 1/24 and 1/16, the store's search taking 26, 32, 41 and 54 ms (one thread).
PROBE_SHARE = 24
NPROBE_MIN = 32
RESCORE = 2  # the IVF index proposes RESCORE x n candidates; the n best by exact score are kept
TRAIN_PER_LIST = 20  # k-means training points per cell: 20 trains 4096 cells in 16 s on 2 cores, as good as 40
QUANTIZER_EF = 64  # the breadth of the walk over the cells' HNSW graph, at least


def _selector(ids: tuple[int, int] | None, skip: np.ndarray | None, keep: np.ndarray | None, refs: list):
    """One FAISS id selector from an id range, ids to leave out and ids to keep to (None: no restriction).
    `refs` keeps every part referenced until the search is done: SWIG does not."""
    selectors = [faiss.IDSelectorRange(*ids)] if ids else []
    if skip is not None and len(skip):
        batch = faiss.IDSelectorBatch(np.ascontiguousarray(skip, np.int64))
        refs.append(batch)
        selectors.append(faiss.IDSelectorNot(batch))
    if keep is not None:
        selectors.append(faiss.IDSelectorBatch(np.ascontiguousarray(keep, np.int64)))
    refs += selectors
    sel = selectors[0] if selectors else None
    for more in selectors[1:]:
        sel = faiss.IDSelectorAnd(sel, more)
        refs.append(sel)
    return sel


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.float32)


def _plain(sel):
    return faiss.SearchParameters(sel=sel) if sel is not None else None


def _best(index, query, k, ids, skip, keep, params) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest of a FAISS index within the selectors (see VectorIndex.search): ids and scores, best
    first. `params(selector or None)` makes the index's search parameters."""
    k = min(k, index.ntotal)
    if k == 0 or (keep is not None and not len(keep)):
        return _empty()
    refs: list = []
    sel = _selector(ids, skip, keep, refs)
    scores, found = index.search(np.ascontiguousarray(query[None], np.float32), k, params=params(sel))  # (1, k)
    good = found[0] >= 0
    return found[0][good], scores[0][good]


class VectorIndex:
    """Exact inner-product search over vectors kept as float16: half the memory of float32, the same top 50
    (bench/search_latency.py). Mutable: a small library's main index, the delta beside a large one, a trial
    index of new vectors."""

    def __init__(self, dim: int, index=None):
        self.dim = dim
        if index is None:
            flat = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
            index = faiss.IndexIDMap2(flat)
        self.index = index

    def __len__(self) -> int:
        return self.index.ntotal

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def vectors(self) -> np.ndarray:
        """(N, D) float32 in the order of ids()."""
        inner = faiss.downcast_index(self.index.index)
        return inner.reconstruct_n(0, inner.ntotal) if inner.ntotal else np.zeros((0, self.dim), np.float32)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.asarray(ids, np.int64))

    def remove(self, ids) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(list(ids), np.int64))

    def search(
        self,
        query: np.ndarray,
        n: int,
        ids: tuple[int, int] | None = None,
        skip: np.ndarray | None = None,
        keep: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(D,) query -> ids (n,), scores (n,), best first; fewer when the index is smaller. `ids` = (lo, hi)
        searches only the vectors whose ids are in [lo, hi); `skip` leaves these ids out; `keep` searches
        only these ids."""
        return _best(self.index, query, n, ids, skip, keep, _plain)

    def write(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))


class ApproxIndex:
    """IVF-SQ8: k-means cells with an HNSW graph over their centroids (fast to assign to), each vector as one
    byte a dimension. A query scans the nprobe nearest cells and re-scores the best RESCORE x n candidates with
    their stored vectors (`exact`: FAISS ids -> (n, D) float32), so the scores it returns are exact. Built
    once from all vectors; later additions go to the delta (footage/store/vectors.py).

    Why SQ8 and not PQ: on clustered vectors with queries from elsewhere (text against pictures, as in
    search), PQ with 48 or 96 bytes kept 0.56 or 0.90 of the exact top 10 among 4x candidates; SQ8 kept 1.0,
    and trains in a second instead of a minute (tests/test_vectors.py's data, 20k vectors)."""

    def __init__(self, index, nprobe: int, exact: Callable[[np.ndarray], np.ndarray] | None = None):
        self.index = index
        self.dim = index.d
        self.nprobe = nprobe
        self.exact = exact

    @classmethod
    def build(
        cls,
        dim: int,
        total: int,
        batches: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
        side: Callable[[np.ndarray], np.ndarray] = lambda ids: np.zeros(len(ids), np.int64),
    ) -> "dict[int, ApproxIndex]":
        """Trains on a sample and adds every vector, into one index per side (`side`: ids -> 0 or 1, each
        index sharing the trained cells). `batches()` yields (ids, (B, D) float32) over all of them, and is
        called twice: once for the training sample, once to add."""
        nlist = plan_lists(total)
        index = faiss.index_factory(dim, f"IVF{nlist}_HNSW32,SQ8", faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
        ivf.cp.niter = 10  # k-means converges enough for cells in 10 rounds; FAISS's 25 is 2.5x the training
        ivf.cp.min_points_per_centroid = 1  # a small library made approximate (tests): fine, say nothing
        ivf.sq.rangestat_arg = 0.2  # each dimension's range 20% wider than the sample's: room for new vectors
        want = min(total, TRAIN_PER_LIST * nlist)
        every = max(1, total // want)
        sample = [v[::every] for _, v in batches()]  # an even spread across videos, not the first ones
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # k-means and assignment use every core; a search one
        try:
            index.train(np.ascontiguousarray(np.concatenate(sample)[:want], np.float32))
            # adding needs each vector's one nearest cell: a short walk of the graph (a search asks for more)
            faiss.downcast_index(ivf.quantizer).hnsw.efSearch = QUANTIZER_EF
            out: dict[int, faiss.Index] = {}
            for ids, vectors in batches():
                ids, vectors = np.asarray(ids, np.int64), np.ascontiguousarray(vectors, np.float32)
                sides = side(ids)
                for k in np.unique(sides):
                    if int(k) not in out:
                        out[int(k)] = faiss.deserialize_index(faiss.serialize_index(index))  # trained, empty
                    mine = sides == k
                    out[int(k)].add_with_ids(np.ascontiguousarray(vectors[mine]), ids[mine])
        finally:
            faiss.omp_set_num_threads(threads)
        return {k: cls(built, plan_probes(nlist)) for k, built in out.items()}

    def __len__(self) -> int:
        return self.index.ntotal

    def ids(self) -> np.ndarray:
        invlists = faiss.extract_index_ivf(self.index).invlists
        parts = [
            faiss.rev_swig_ptr(invlists.get_ids(k), invlists.list_size(k)).copy()
            for k in range(invlists.nlist)
            if invlists.list_size(k)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def search(
        self,
        query: np.ndarray,
        n: int,
        ids: tuple[int, int] | None = None,
        skip: np.ndarray | None = None,
        keep: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        found, scores = self.candidates(query, n * RESCORE if self.exact else n, ids, skip, keep)
        return rescore(query, found, scores, n, self.exact)

    def candidates(
        self,
        query: np.ndarray,
        k: int,
        ids: tuple[int, int] | None = None,
        skip: np.ndarray | None = None,
        keep: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best by their SQ8 codes: ids and approximate scores, best first."""
        walk = faiss.SearchParametersHNSW(efSearch=max(QUANTIZER_EF, 2 * self.nprobe))  # finds nprobe cells
        return _best(
            self.index,
            query,
            k,
            ids,
            skip,
            keep,
            lambda sel: faiss.SearchParametersIVF(sel=sel, nprobe=self.nprobe, quantizer_params=walk),
        )

    def write(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))


def rescore(query: np.ndarray, found: np.ndarray, scores: np.ndarray, n: int, exact) -> tuple[np.ndarray, np.ndarray]:
    """The n best of candidates by their exact scores (`exact`: ids -> stored vectors); None: as they are."""
    if exact is not None and len(found):
        scores = exact(found) @ np.asarray(query, np.float32)
        best = np.argsort(-scores, kind="stable")[:n]
        found, scores = found[best], scores[best]
    return found[:n], np.asarray(scores[:n], np.float32)


def plan_lists(total: int) -> int:
    """Inverted lists (cells) for `total` vectors: the power of two nearest 4 sqrt(total), as autofaiss takes
    (finer cells: 4x more of them kept recall@10 0.978 for half the codes scanned at 1M), and no more than
    TRAIN_PER_LIST training points each can fill (a small library made approximate in tests)."""
    lists = 2 ** round(math.log2(4 * math.sqrt(max(total, 1))))
    return max(1, min(lists, total // TRAIN_PER_LIST))


def plan_probes(nlist: int) -> int:
    """Lists a query scans: 1/PROBE_SHARE of them, at least NPROBE_MIN (all, when there are fewer)."""
    return min(nlist, max(NPROBE_MIN, nlist // PROBE_SHARE))


def read(path: Path, dim: int) -> "VectorIndex | ApproxIndex":
    """A main index written by `write`, memory-mapped (read-only: the delta takes the changes)."""
    with open(path, "rb") as f:
        kind = f.read(4)
    # the flags differ by kind (FAISS refuses the IVF one's on a flat index and the other way round); either way
    # the codes stay on disk, paged in as queries touch them
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if kind == b"IxM2" else faiss.IO_FLAG_MMAP)
    if index.d != dim:
        raise ValueError(f"vectors of width {index.d}, not {dim}")
    if isinstance(index, faiss.IndexIDMap2):
        return VectorIndex(dim, index)
    try:
        faiss.extract_index_ivf(index)
    except RuntimeError:
        raise ValueError(f"an index of kind {type(index).__name__}") from None
    return ApproxIndex(index, 0)  # nprobe: set for each search by the library's size
