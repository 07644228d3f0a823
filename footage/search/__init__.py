"""Search: embed the query, find the nearest segments, merge them into time-ranged hits."""

from footage.search.engine import search
from footage.search.hits import Hit

__all__ = ["Hit", "search"]
