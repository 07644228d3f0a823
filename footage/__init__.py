"""footage: semantic search over a video library, offline.

from footage import Library
lib = Library("~/.footage")
lib.index(["~/Videos"])
hits = lib.search("a dog lying on a tiled floor", top_k=10)  # Hit: path, start, end, score, caption
events = lib.describe("~/Videos/holiday.mp4")  # Event: start, end, caption

The names below load on first use (PEP 562): `footage --version` and Ctrl-C while the command starts do not
wait for numpy, FAISS and SQLAlchemy to import.
"""

import importlib

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
_WHERE = {
    "Event": "footage.search.timeline",
    "FootageError": "footage.errors",
    "Hit": "footage.search",
    "IndexReport": "footage.indexer.pipeline",
    "Library": "footage.library",
    "LibraryBusy": "footage.errors",
    "LibraryError": "footage.errors",
    "ModelError": "footage.errors",
    "Progress": "footage.indexer.pipeline",
    "Stats": "footage.store",
    "VideoError": "footage.errors",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'footage' has no attribute {name!r}")
