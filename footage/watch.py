"""footage watch: a live source's events and alerts as they happen, and its recordings indexed as they finish.

Library.watch runs this: frames come from footage/indexer/stream.py, each is embedded alone into Y space, and
footage/search/alerts.py turns the stream of vectors into events (selective decoding, causal) and alerts.
"""

import datetime
import math
import threading
from collections.abc import Callable, Iterable

import numpy as np

from footage.errors import BadValue
from footage.indexer import pipeline, stream
from footage.search.alerts import HOLD_SECONDS, THRESHOLD, Alerts, Events
from footage.settings import MAX_FPS
from footage.webhook import Webhook

RECORDINGS = "recordings"  # the folder in a library where `watch` records streams


def watch(
    lib,
    source: str,
    alerts: Iterable[str] = (),
    on_event: Callable[[dict], None] = print,
    threshold: float = THRESHOLD,
    fps: float = 1.0,
    realtime: bool = False,
    stop: threading.Event | None = None,
    said: Callable[[str], None] | None = None,
    webhook: str | None = None,
    record: bool = False,
    keep: float | None = None,
    hold: float = HOLD_SECONDS,
) -> None:
    """Library.watch for `lib` (a Library): its docstring says what each argument does."""
    stream.check(source)
    queries = [q.strip() for q in alerts]
    if any(not q for q in queries):
        raise BadValue("an empty --alert: say what to look for")
    if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise BadValue(f"fps must be a number above 0 and at most {MAX_FPS:g}, not {fps}")
    models, backbone = lib.models, lib.models.backbone
    vectors = np.stack([backbone.embed_query(q) for q in queries]) if queries else np.zeros((0, backbone.dim))
    if not (math.isfinite(hold) and hold >= 0):
        raise BadValue(f"hold must be a number of seconds, 0 or more, not {hold}")
    standing = Alerts(queries, vectors, threshold, hold)
    events = Events(lib.decoder)
    if keep is not None and not (math.isfinite(keep) and keep > 0):
        raise BadValue(f"keep must be a positive number of seconds, not {keep}")
    hook = Webhook(webhook, said) if webhook else None
    folder = lib.path / RECORDINGS if record else None
    recordings = None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        say = said or (lambda message: None)
        recordings = stream.Recordings(folder, lib.index, lib.remove, keep, say)
    t = 0.0

    def emit(kind: str, **fields) -> None:
        wall = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        message = {"type": kind, **{k: round(v, 3) if isinstance(v, float) else v for k, v in fields.items()}}
        message["wall"] = wall
        on_event(message)
        if hook:
            hook(message)

    def ended(alert) -> None:
        emit("alert_end", query=alert.query, start=alert.start, end=alert.end, score=alert.score)

    def closed(event) -> None:
        if event is not None:
            emit("event", start=event.start, end=event.end, caption=event.caption)

    with backbone.threads(pipeline.INFERENCE_THREADS):
        frames = stream.frames(source, fps, backbone.image_size, realtime, stop, said, folder)
        try:
            gap_from = None  # the last picture before the stream dropped, until pictures come back
            for item in frames:
                if isinstance(item, stream.Dropped):  # what was under way ends at the last picture
                    closed(events.flush(item.last))
                    for alert in standing.flush(item.last):
                        ended(alert)
                    gap_from = item.last
                    continue
                t, frame = item
                if gap_from is not None:
                    emit("gap", start=gap_from, end=t)
                    gap_from = None
                tokens, _ = backbone.embed_frames(frame[None])
                vector = models.predict([tokens])[0]  # (D,) the frame alone in Y space
                started, stopped = standing.add(t, vector)
                for alert in started:
                    caption = lib.decoder(vector[None])[0]
                    emit("alert", query=alert.query, start=t, score=alert.score, caption=caption)
                for alert in stopped:
                    ended(alert)
                closed(events.add(t, vector))
            closed(events.flush(t))
            for alert in standing.flush(t):
                ended(alert)
        finally:
            frames.close()  # ffmpeg stopped: the last recording is complete as far as it goes
            if hook:
                hook.close()
            if recordings is not None:
                recordings.close()  # indexes what is left
