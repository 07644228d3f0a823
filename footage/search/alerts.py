"""A live stream of frame vectors (Y space, one per sampled frame) -> events and alerts, as the frames come.

- Events: the causal form of selective decoding. The offline cut (footage.search.timeline.selective) needs
  the whole video; here an event closes when the stream has moved away from it for long enough: LEAVE
  consecutive frames whose cosine with the event's mean vector is under SAME. The event then ends where the
  stream left it, is captioned once (the Y-decoder on its mean vector), and a new one starts with the frames
  that left.
- Alerts: standing queries, each embedded once. An alert starts at the first frame that scores `threshold`
  or more against the query, and ends only when the query has scored under threshold - HYSTERESIS for
  `hold` seconds (HOLD_SECONDS): a match that lasts a minute, or dips for a second, is one alert, not sixty.
"""

from dataclasses import dataclass, field

import numpy as np

SAME = 0.7  # cosine with the event's mean under which a frame is elsewhere (one photo's frames: 0.95 and up)
LEAVE = 2  # frames elsewhere in a row that close the event
THRESHOLD = 0.3  # default alert threshold: the bundled backbone scores what a frame shows at 0.3-0.65 against a
# plain description ("a rocket launch", "a cup of coffee"), unrelated photos under 0.16 and a film's mountain
# landscape 0.29 against "a rocket launch" (bench/watch.py --footage): a query's own threshold is --threshold
HYSTERESIS = 0.05
# Seconds a query must stay under threshold - HYSTERESIS for its alert to end (--hold). At 1 fps, 2 s ends it at
# the third low frame in a row. Measured on bench/watch.py --subject (a cockatoo between two runs of a tree
# clip, "a white bird"): the bird's own dips last one frame; from 5 s, the backlit hand before it (scored as
# high as the bird) and the bird become one alert, and the rocket bench's rockets 5 s apart become one.
HOLD_SECONDS = 2.0


@dataclass
class Event:
    start: float
    end: float
    vector: np.ndarray  # (D,) the mean of its frames' vectors, unit length
    caption: str = ""


@dataclass
class Events:
    """Feed it (time, vector) frames in order; `add` returns the event it closed, if it closed one."""

    decoder: object  # (B, D) vectors -> B captions
    start: float | None = None
    total: np.ndarray | None = None  # sum of the current event's frame vectors
    away: list[tuple[float, np.ndarray]] = field(default_factory=list)  # the frames that left it, so far
    last: float = 0.0

    def add(self, t: float, vector: np.ndarray) -> Event | None:
        if self.total is None:
            self.start, self.total, self.last = t, vector.copy(), t
            return None
        mean = self.total / np.linalg.norm(self.total)
        if float(vector @ mean) >= SAME:
            self.total += vector + sum((v for _, v in self.away), np.zeros_like(vector))  # a blip: still here
            self.away, self.last = [], t
            return None
        self.away.append((t, vector))
        if len(self.away) < LEAVE:
            return None
        closed = self._close(self.away[0][0])
        self.start, self.last = self.away[0][0], t
        self.total = sum((v for _, v in self.away), np.zeros_like(vector))
        self.away = []
        return closed

    def flush(self, t: float) -> Event | None:
        """The event under way, closed at `t` (the stream ended or watching stopped)."""
        if self.total is None:
            return None
        for _, v in self.away:
            self.total += v
        closed = self._close(t)
        self.start, self.total, self.away = None, None, []
        return closed

    def _close(self, end: float) -> Event:
        mean = (self.total / np.linalg.norm(self.total)).astype(np.float32)
        return Event(self.start, end, mean, self.decoder(mean[None])[0])


@dataclass
class Alert:
    query: str
    start: float
    score: float  # the best so far
    end: float | None = None  # set when it has ended


@dataclass
class Alerts:
    """Standing queries over a frame stream: `add` returns the alerts that started and those that ended."""

    queries: list[str]
    vectors: np.ndarray  # (Q, D), one unit vector per query
    threshold: float = THRESHOLD
    hold: float = HOLD_SECONDS  # seconds under threshold - HYSTERESIS that end an alert
    on: dict[int, Alert] = field(default_factory=dict)  # query index -> its alert under way
    below_since: dict[int, float] = field(default_factory=dict)  # query index -> when it fell under

    def add(self, t: float, vector: np.ndarray) -> tuple[list[Alert], list[Alert]]:
        started, ended = [], []
        for q, score in enumerate((self.vectors @ vector).tolist()):
            alert = self.on.get(q)
            if alert is None:
                if score >= self.threshold:
                    self.on[q] = Alert(self.queries[q], t, score)
                    started.append(self.on[q])
                continue
            alert.score = max(alert.score, score)
            if score >= self.threshold - HYSTERESIS:
                self.below_since.pop(q, None)
            elif t - self.below_since.setdefault(q, t) >= self.hold:
                alert.end = self.below_since.pop(q)
                ended.append(self.on.pop(q))
        return started, ended

    def flush(self, t: float) -> list[Alert]:
        """The alerts under way, ended at `t`."""
        ended = []
        for q, alert in self.on.items():
            alert.end = self.below_since.get(q, t)
            ended.append(alert)
        self.on, self.below_since = {}, {}
        return ended
