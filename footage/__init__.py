"""footage: semantic search over a video library, offline.

from footage import Library
lib = Library("~/.footage")
lib.index(["~/Videos"])
hits = lib.search("a dog lying on a tiled floor", top_k=10)
"""

from footage.errors import FootageError, LibraryBusy, LibraryError, ModelError, VideoError
from footage.indexer.pipeline import IndexReport, Progress
from footage.library import Library
from footage.search import Hit
from footage.store import Stats

__version__ = "0.1.0"
__all__ = [
    "FootageError",
    "Hit",
    "IndexReport",
    "Library",
    "LibraryBusy",
    "LibraryError",
    "ModelError",
    "Progress",
    "Stats",
    "VideoError",
]
