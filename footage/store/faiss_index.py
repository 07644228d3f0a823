"""The FAISS index of segment vectors, under segment ids, saved atomically with the generation it matches."""

import struct
from pathlib import Path

import faiss
import numpy as np

from footage.files import write_atomically

MAGIC = b"FOOTAGE-FAISS-1\n"

# One query at a time gains nothing from FAISS's OpenMP threads, and their spinning after each search slowed
# the next query's text encoding (numpy/OpenBLAS) twofold on 2 cores: 4.6 ms instead of 10.6 ms per search.
faiss.omp_set_num_threads(1)


class VectorIndex:
    """Inner-product search over unit vectors (= cosine), keyed by segment id, exhaustive over vectors kept
    as float16: half the memory of float32 and 4x faster at 100k segments, with the same top 50 as float32
    (bench/search_latency.py measures both)."""

    def __init__(self, dim: int):
        self.dim = dim
        quantizer = faiss.ScalarQuantizer.QT_fp16
        self.index = faiss.IndexIDMap2(faiss.IndexScalarQuantizer(dim, quantizer, faiss.METRIC_INNER_PRODUCT))
        self.generation = -1  # the SQLite generation these vectors match; -1: unknown

    def __len__(self) -> int:
        return self.index.ntotal

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

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
        n = min(n, len(self))
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        selectors = [faiss.IDSelectorRange(*ids)] if ids else []
        if skip is not None and len(skip):
            batch = faiss.IDSelectorBatch(np.ascontiguousarray(skip, np.int64))
            selectors.append(faiss.IDSelectorNot(batch))  # `batch` stays referenced here: SWIG does not keep it
        if keep is not None:
            if not len(keep):
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            selectors.append(faiss.IDSelectorBatch(np.ascontiguousarray(keep, np.int64)))
        sel = selectors[0] if selectors else None
        for more in selectors[1:]:
            sel = faiss.IDSelectorAnd(sel, more)
            selectors.append(sel)  # kept referenced until the search is done
        params = faiss.SearchParameters(sel=sel) if sel is not None else None
        scores, ids = self.index.search(np.ascontiguousarray(query[None], np.float32), n, params=params)  # (1, n)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def save(self, path: Path) -> None:
        """Writes a temp file and renames it over `path`: a crash leaves the old file or the new, never half."""
        data = faiss.serialize_index(self.index)

        def write(f) -> None:
            f.write(MAGIC + struct.pack("<q", self.generation))
            f.write(memoryview(data))

        write_atomically(path, write, durable=True)

    @classmethod
    def load(cls, path: Path, dim: int) -> "VectorIndex":
        """The saved index, or an empty one (generation -1) when the file is missing, damaged or of another width."""
        out = cls(dim)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return out
        head = len(MAGIC) + 8
        if not raw.startswith(MAGIC) or len(raw) < head:
            return out
        try:
            index = faiss.deserialize_index(np.frombuffer(raw, np.uint8, offset=head))
        except RuntimeError:
            return out
        if index.d != dim or not isinstance(index, faiss.IndexIDMap2):
            return out
        out.index = index
        (out.generation,) = struct.unpack("<q", raw[len(MAGIC) : head])
        return out
