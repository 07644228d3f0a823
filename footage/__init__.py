"""footage: semantic search over a video library, offline.

from footage import Library
lib = Library("~/.footage")
lib.index(["~/Videos"])
hits = lib.search("a dog lying on a tiled floor", top_k=10)  # Hit: path, start, end, score, caption
events = lib.describe("~/Videos/holiday.mp4")  # Event: start, end, caption
"""

from footage.errors import FootageError, LibraryBusy, LibraryError, ModelError, VideoError
from footage.indexer.pipeline import IndexReport, Progress
from footage.library import Library
from footage.search import Hit
from footage.search.timeline import Event
from footage.store import Stats

__version__ = "0.1.0"
__all__ = [
    "Event",
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
