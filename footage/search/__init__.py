"""Search: embed the query, find the nearest segments, merge them into time-ranged hits."""

from footage.search.hits import Hit
from footage.search.search import search

__all__ = ["Hit", "search"]
