"""Timed text (subtitle cues, speech segments) -> chunks worth embedding: a few seconds to a sentence or two."""

from dataclasses import dataclass

from footage.indexer.subtitles import Cue

MIN_SECONDS = 4.0  # shorter cues join their neighbours ("Yes." alone says little)
MAX_SECONDS = 12.0
MAX_GAP = 1.5  # seconds of silence that end a chunk
MAX_CHARS = 1_000  # a chunk is a sentence or two: what the text encoder reads whole, and a hit can show


@dataclass(frozen=True)
class Chunk:
    channel: str  # "speech" | "subtitles"
    start: float
    end: float
    text: str


def drop_rollup(cues: list[Cue]) -> list[Cue]:
    """Roll-up captions (CEA-608) repeat the previous line at the start of each cue; keep only what is new."""
    out, previous = [], ""
    for cue in cues:
        text = cue.text
        for k in range(min(len(previous), len(text)), 0, -1):
            if previous.endswith(text[:k]) and (k == len(text) or text[k] == " "):
                text = text[k:].strip()
                break
        if text:
            out.append(Cue(cue.start, cue.end, text))
        previous = cue.text
    return out


def chunk(cues: list[Cue], channel: str) -> list[Chunk]:
    """Joins consecutive cues until a chunk lasts MIN_SECONDS, ends a sentence past that, or a pause comes;
    never past MAX_SECONDS or MAX_CHARS."""
    out: list[Chunk] = []
    for cue in drop_rollup(sorted(cues, key=lambda c: c.start)):
        last = out[-1] if out else None
        if (
            last is not None
            and cue.start - last.end <= MAX_GAP
            and cue.end - last.start <= MAX_SECONDS
            and len(last.text) + 1 + len(cue.text) <= MAX_CHARS
            and (last.end - last.start < MIN_SECONDS or not last.text.endswith((".", "!", "?")))
        ):
            out[-1] = Chunk(channel, last.start, max(last.end, cue.end), f"{last.text} {cue.text}")
        else:
            out.append(Chunk(channel, cue.start, cue.end, cue.text))
    return out
