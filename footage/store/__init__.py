"""The library on disk: SQLite metadata (SQLAlchemy), the FAISS vector index and thumbnails. No model code here."""

from footage.store.store import FileFacts, NewSegment, Scope, Stats, Store, StoredSegment, StoredVideo, VideoRow

__all__ = ["FileFacts", "NewSegment", "Scope", "Stats", "Store", "StoredSegment", "StoredVideo", "VideoRow"]
