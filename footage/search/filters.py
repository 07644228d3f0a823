"""What narrows a search (a folder, the files' dates, the videos' lengths, one video, what found a moment), and
the counts a page shows beside its results to narrow them further (facets)."""

import datetime as dt
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from footage.errors import BadValue, NotFound
from footage.files import expand, resolve
from footage.search.hits import Hit
from footage.store.rows import ID_END, Scope

# what found a moment, as hits name it, in the order a page lists them
CHANNELS = ("visual", "speech", "subtitles", "on-screen", "keyword", "seen")
# video lengths as a page offers them: (name, at least, less than) in seconds
LENGTHS = (("under 1 min", 0, 60), ("1-10 min", 60, 600), ("10-60 min", 600, 3600), ("over 1 h", 3600, None))
FOLDERS_SHOWN = 10  # the folders holding most hits; the rest are left out of the facet


@dataclass(frozen=True)
class Filters:
    """Each field None (or empty) narrows nothing. `since` and `until` bound the file's modification date:
        a date ("2024-05-31", from its first moment / to its last, local time), a datetime or a unix time
        (`until` exclusive). `min_length` and `max_length` bound the video's length in seconds. `video` keeps to
        one video (its id); `found_by` keeps the moments found by one of these channels (CHANNELS: the search
    engine applies it, before the best are taken)."""

    under: str | Path | None = None
    since: str | dt.date | float | None = None
    until: str | dt.date | float | None = None
    min_length: float | None = None
    max_length: float | None = None
    video: int | None = None
    found_by: tuple[str, ...] = ()

    def bounds(self) -> dict:
        """The store's bounds on videos (Scope's since, until, min_length, max_length), checked."""
        since, until = when(self.since, "since"), when(self.until, "until", end=True)
        if since is not None and until is not None and until <= since:
            raise BadValue(f"until ({self.until}) must come after since ({self.since})")
        for name in ("min_length", "max_length"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and 0 <= value < 1e9):
                raise BadValue(f"{name} must be a number of seconds, 0 or more, not {value!r}")
        if self.min_length is not None and self.max_length is not None and self.max_length < self.min_length:
            raise BadValue(f"max_length ({self.max_length:g}) is below min_length ({self.min_length:g})")
        unknown = [c for c in self.found_by if c not in CHANNELS]
        if unknown:
            raise BadValue(f"found_by: {', '.join(unknown)} is not a channel; channels: {', '.join(CHANNELS)}")
        return dict(since=since, until=until, min_length=self.min_length, max_length=self.max_length)

    def scope(self, offline: bool = False, under: str | Path | None = None, exclude=frozenset()) -> Scope:
        """What a search looks through: offline videos or not, the videos under a folder (`under`, or the
        filters' own), within the filters' bounds, less the segments `exclude` names."""
        if under is not None and self.under is not None and str(under) != str(self.under):
            raise BadValue("two folders to search under: give under or filters.under")
        under = under if under is not None else self.under
        if self.video is not None and not (isinstance(self.video, int) and 0 <= self.video <= ID_END):
            raise NotFound(f"video {self.video}: not in the library")
        folders = None
        if under is not None:
            if not str(under).strip():
                raise BadValue("an empty folder to search under")
            root = expand(under).absolute()
            folders = frozenset({str(root), str(resolve(root))})  # the store finds the videos under them
        videos = frozenset({self.video}) if self.video is not None else None
        return Scope(offline=offline, under=folders, exclude=exclude, videos=videos, **self.bounds())


def when(value, name: str, end: bool = False) -> float | None:
    """A date bound as a unix time: a date is its local midnight, or the next one for the `end` of a range (so
    until=2024-05-31 holds all of that day)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value) if "T" in value or " " in value else dt.date.fromisoformat(value)
        except ValueError:
            raise BadValue(f"{name}: {value!r} is not a date (YYYY-MM-DD) or a date and time") from None
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dt.date):
        day = value + dt.timedelta(days=1) if end else value
        return dt.datetime.combine(day, dt.time()).timestamp()
    raise BadValue(f"{name}: {value!r} is not a date")


def facets(hits: list[Hit]) -> dict[str, dict[str, int]]:
    """How many of these hits each filter would keep: by what found them, their video's length, and their
    folder (the FOLDERS_SHOWN holding most)."""
    found_by = Counter(c for h in hits for c in dict.fromkeys(h.channels))
    lengths = Counter(
        name
        for h in hits
        if h.duration is not None
        for name, low, high in LENGTHS
        if low <= h.duration and (high is None or h.duration < high)
    )
    folders = Counter(os.path.dirname(h.path) for h in hits)
    return {
        "found_by": {c: found_by[c] for c in CHANNELS if found_by[c]},
        "length": {name: lengths[name] for name, _, _ in LENGTHS if lengths[name]},
        "folder": dict(folders.most_common(FOLDERS_SHOWN)),
    }
