"""The library on disk: SQLite metadata (SQLAlchemy), the FAISS vector index and thumbnails. No model code here."""

from footage.store.store import FileFacts, NewSegment, Stats, Store, StoredSegment, StoredVideo

__all__ = ["FileFacts", "NewSegment", "Stats", "Store", "StoredSegment", "StoredVideo"]
