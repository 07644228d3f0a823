"""Hits: time ranges of videos, made by merging adjacent matching segments."""

from dataclasses import asdict, dataclass, field

MERGE_MARGIN = 0.02  # a neighbour joins a hit when it scores within this of the best segment: the parts of
# one long shot score within ~0.01 of each other, neighbouring shots of different things 0.03 and more apart


@dataclass
class Hit:
    path: str  # absolute path of the video
    start: float  # seconds from the video's first frame
    end: float
    score: float  # cosine similarity of the best segment to the query: higher is better
    caption: str | None = None  # decoded from the best segment's vector (None with caption=False)
    thumbnail: str | None = None  # JPEG of the best segment, inside the library folder
    segments: list[int] = field(default_factory=list)  # segment ids, in time order
    segment: int | None = None  # the best segment's id (for a hit on words only, the one they are said over)
    channels: list[str] = field(default_factory=list)  # what matched: visual, speech, subtitles, keyword
    transcript: str | None = None  # the words said, subtitled or shown on screen during the hit
    seen: list[str] = field(default_factory=list)  # what the experts saw during it ("a close-up of a person's face")
    offline: bool = False  # its file was missing at the last index run (a drive not mounted)
    video_id: int | None = None  # the video's id in the library (media, its timeline)
    more: int = 0  # further hits of the same video left out of this list (per-video limit)
    duration: float | None = None  # the whole video's length in seconds: where the hit lies in it
    # how well it matches, for people: 0 at the floor of the channel that found it, 1 from where that channel's
    # matches are confident (footage/search/engine.py FLOORS, CONFIDENT); a fused hit's is its best channel's.
    # None for a search by a picture or a segment, which has no floor
    relevance: float | None = None
    words_from: str | None = None  # the channel `transcript` is from: speech, subtitles or on-screen

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Candidate:
    segment: int
    video: int
    path: str
    start: float
    end: float
    score: float
    thumbnail: str | None
    offline: bool = False


def merge(candidates: list[Candidate]) -> list[Hit]:
    """Greedy, best first: a candidate seeds a hit, which grows over candidates of the same video that touch
    it (a video's segments tile it: one ends where the next starts) and score nearly as well."""
    by_start = {(c.video, c.start): c for c in candidates}
    by_end = {(c.video, c.end): c for c in candidates}
    used: set[int] = set()
    hits = []
    for seed in sorted(candidates, key=lambda c: -c.score):
        if seed.segment in used:
            continue
        used.add(seed.segment)
        group = [seed]
        for step in (lambda c: by_end.get((c.video, c.start)), lambda c: by_start.get((c.video, c.end))):
            edge = seed
            while (n := step(edge)) is not None and n.segment not in used and n.score >= seed.score - MERGE_MARGIN:
                used.add(n.segment)
                group.append(n)
                edge = n
        group.sort(key=lambda c: c.start)
        hits.append(
            Hit(
                seed.path,
                group[0].start,
                group[-1].end,
                seed.score,
                None,
                seed.thumbnail,
                [c.segment for c in group],
                seed.segment,
                ["visual"],
                offline=seed.offline,
                video_id=seed.video,
            )
        )
    return hits
