"""The library on disk: SQLite metadata (SQLAlchemy), the FAISS vector index and thumbnails. No model code here."""

from footage.store.rows import FileFacts, NewSegment, Scope, Stats, StoredSegment, StoredVideo, VideoRow
from footage.store.store import Store

__all__ = ["FileFacts", "NewSegment", "Scope", "Stats", "Store", "StoredSegment", "StoredVideo", "VideoRow"]
