"""Library: the one object a media tool (or the CLI) needs. Index folders, search them, see what is inside."""

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from footage.indexer import pipeline
from footage.indexer.pipeline import IndexReport, Progress
from footage.models import Backbone
from footage.search import Hit, search
from footage.search.evaluate import Pair, Scores, evaluate, read_pairs
from footage.store import Stats, Store

DEFAULT_LIBRARY = Path("~/.footage")


def cache_dir() -> Path:
    """Where derived model data (class-name embeddings) is kept between runs: $XDG_CACHE_HOME/footage."""
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "footage"


def default_path() -> Path:
    """$FOOTAGE_LIBRARY, else ~/.footage."""
    return Path(os.environ.get("FOOTAGE_LIBRARY") or DEFAULT_LIBRARY).expanduser()


class Library:
    """A folder holding an index of videos.

    lib = Library("~/.footage")
    lib.index(["~/Videos"])
    for hit in lib.search("a dog lying on a tiled floor", top_k=5):
        print(hit.path, hit.start, hit.end, hit.score)
    """

    def __init__(self, path: str | Path | None = None, backbone: str | None = None, fps: float = 1.0):
        self.store = Store(Path(path).expanduser() if path else default_path())
        self.path = self.store.path
        name = backbone or self.store.meta("backbone") or "bundled"
        self.backbone = Backbone(name, cache_dir=cache_dir())
        self.store.attach(name, self.backbone.dim)
        if fps <= 0:
            raise ValueError(f"fps must be positive, not {fps}")
        self.fps = fps

    def index(self, paths: Iterable[str | Path], on_progress: Callable[[Progress], None] | None = None) -> IndexReport:
        """Indexes files and folders (recursively). Unchanged files are skipped, changed ones re-indexed,
        files gone from an indexed folder dropped. Raises LibraryBusy if another process is indexing."""
        with self.store.lock:
            return pipeline.index(self.store, self.backbone, paths, self.fps, on_progress)

    def search(self, text: str, top_k: int = 10, rerank: bool = False) -> list[Hit]:
        """The top_k best-matching time ranges, best first. `rerank` re-scores the nearest segments with the
        query-conditioned predictor (it attends to the frames the query is about: it finds a second-long
        moment inside a long segment, but did not raise MRR on the annotated sample footage)."""
        return search(self.store, self.backbone, text, top_k, rerank)

    def evaluate(self, pairs: str | Path | list[Pair], rerank: bool = False) -> Scores:
        """R@1, R@5 and MRR of this library's search on labelled pairs (a JSON Lines file or a list)."""
        pairs = pairs if isinstance(pairs, list) else read_pairs(pairs)
        return evaluate(pairs, lambda text, k: self.search(text, top_k=k, rerank=rerank))

    def remove(self, path: str | Path) -> list[str]:
        """Drops a file, or every file under a folder, from the library; returns the paths dropped."""
        target = Path(path).expanduser().absolute()
        with self.store.lock:
            videos = self.store.videos()
            gone = [v for v in videos.values() if v.path == str(target) or Path(v.path).is_relative_to(target)]
            if not gone and target.exists():
                resolved = target.resolve()
                gone = [v for v in videos.values() if v.path == str(resolved) or Path(v.path).is_relative_to(resolved)]
            self.store.remove([v.id for v in gone])
            self.store.flush()
        return sorted(v.path for v in gone)

    def stats(self) -> Stats:
        return self.store.stats()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
