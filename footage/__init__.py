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
# name -> "module" (the same name there) or "module:name": the public API, and what the front ends (the CLI,
# the server) take from it, as they import nothing else of footage but footage.errors
_WHERE = {
    "Event": "footage.search.timeline",
    "Filters": "footage.search.filters",
    "FootageError": "footage.errors",
    "Hit": "footage.search.hits",
    "IndexReport": "footage.indexer.scan",
    "Library": "footage.library",
    "LibraryBusy": "footage.errors",
    "LibraryError": "footage.errors",
    "Mark": "footage.store.rows",
    "ModelError": "footage.errors",
    "Progress": "footage.indexer.pipeline",
    "Settings": "footage.settings",
    "Stats": "footage.store.store",
    "VideoError": "footage.errors",
    # the choices and limits of Library's arguments
    "ALERT_HOLD_SECONDS": "footage.search.alerts:HOLD_SECONDS",
    "ALERT_THRESHOLD": "footage.search.alerts:THRESHOLD",
    "DEVICES": "footage.models.runtime",
    "MAX_FPS": "footage.settings",
    "MAX_QUERY_CHARS": "footage.settings",
    "MAX_TOP_K": "footage.library",
    "PER_VIDEO": "footage.search.engine",
    "CHANNELS": "footage.search.filters",
    "SEARCH_MODES": "footage.search.engine:MODES",
    "SPEECH_MODELS": "footage.indexer.speech:MODELS",
    # paths as footage reads them, and memory handed back after a large request
    "default_path": "footage.library",
    "expand": "footage.files",
    "facets": "footage.search.filters",
    "give_back": "footage.memory",
    "resolve": "footage.files",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        module, _, attr = _WHERE[name].partition(":")
        return getattr(importlib.import_module(module), attr or name)
    raise AttributeError(f"module 'footage' has no attribute {name!r}")
