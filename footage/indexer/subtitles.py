"""Subtitles as timed text: sidecar files beside a video, text subtitle streams inside it, and CEA-608 closed
captions carried in its video stream (broadcast MPEG-TS).

Subtitle files in the wild come in any encoding and with broken cues; the parser never raises on content. It
keeps the cues it can read and counts the blocks it had to skip, and the caller turns that into a warning.
"""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from footage.indexer.probe import INPUT, VideoInfo, ffmpeg_reason, source_options, with_input

TEXT_CODECS = frozenset({"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"})
SIDECAR_SUFFIXES = (".srt", ".vtt")
EXTRACT_TIMEOUT = 600  # seconds for ffmpeg to write a stream's subtitles out
MAX_FILE_BYTES = 4 << 20  # a feature film's .srt is about 100 KB: more than this is not subtitles
MAX_CUE_CHARS = 500  # a cue is a line or two on screen
# Text a video can carry: 20 characters a second is fast reading speed; twice that, and never less than
# 4,000 characters (a short clip with a long caption).
MAX_CHARS_PER_SECOND = 40
MIN_CHARS = 4_000

TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
TIMING = re.compile(rf"^\s*{TIME}\s*-->\s*{TIME}")
TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")  # <i>, <font ...>, <c.yellow>, {\an7}


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str


@dataclass
class Parsed:
    cues: list[Cue]
    skipped: int  # cue blocks that could not be read
    encoding: str


def _seconds(h, m, s, ms) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def decode(data: bytes) -> tuple[str, str]:
    """Bytes of a subtitle file -> (text, encoding): a BOM says, else UTF-8, else Windows-1252 (which reads any
    byte), the usual encoding of old .srt files."""
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


def parse(data: bytes | str) -> Parsed:
    """SubRip or WebVTT -> cues in time order. A block is a timing line ('00:01:02,500 --> 00:01:04,000',
    hours optional, ',' or '.') and the text lines under it; tags are dropped, blank cues ignored."""
    text, encoding = decode(data) if isinstance(data, bytes) else (data, "str")
    cues, skipped = [], 0
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    for block in blocks:
        lines = [line for line in block.split("\n") if line.strip()]
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            header = lines and re.fullmatch(r"WEBVTT.*|NOTE.*|STYLE.*|REGION.*", lines[0].strip())
            if lines and not header and not (len(lines) == 1 and lines[0].strip().isdigit()):
                skipped += 1  # words without a timing line
            continue
        m = TIMING.match(lines[timing])
        if not m:
            skipped += 1
            continue
        start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
        words = " ".join(TAG.sub("", line).strip() for line in lines[timing + 1 :]).strip()
        if end <= start:
            skipped += 1
            continue
        if words:
            cues.append(Cue(start, end, re.sub(r"\s+", " ", words)))
    cues.sort(key=lambda c: c.start)
    return Parsed(cues, skipped, encoding)


def sidecars(video: Path, listing: list[Path] | None = None) -> list[Path]:
    """name.srt, name.vtt and name.LANG.srt / name.LANG.vtt beside the video (regular files only). `listing`
    is the folder's entries when the caller has them."""
    found = []
    try:
        for p in listing if listing is not None else sorted(video.parent.iterdir()):
            if p.suffix.lower() in SIDECAR_SUFFIXES:
                rest = p.name[: -len(p.suffix)]
                if rest == video.stem or (rest.startswith(video.stem + ".") and "." not in rest[len(video.stem) + 1 :]):
                    if p.is_file():
                        found.append(p)
    except OSError:
        pass
    return found


def read_file(path: Path) -> bytes:
    """A subtitle file's bytes; one too big to be subtitles is refused (OSError), not read into memory."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise OSError(f"{size / 1e6:.1f} MB is too big for subtitles (at most {MAX_FILE_BYTES / 1e6:.0f} MB); skipped")
    with open(path, "rb") as f:
        return f.read(MAX_FILE_BYTES + 1)


def cap(cues: list[Cue], duration: float | None) -> tuple[list[Cue], str | None]:
    """Cues a video of this length can carry: none that start after it ends (and none that end after it),
    none longer than MAX_CUE_CHARS, and no more text than MAX_CHARS_PER_SECOND of it. Returns the cues kept
    and what was cut (None: nothing)."""
    late = sum(duration is not None and c.start > duration + 1.0 for c in cues)
    cues = [c for c in cues if duration is None or c.start <= duration + 1.0]
    if duration is not None:  # a cue that runs on for hours ends with the video
        cues = [Cue(c.start, min(c.end, max(duration, c.start)), c.text) for c in cues]
    long = sum(len(c.text) > MAX_CUE_CHARS for c in cues)
    cues = [Cue(c.start, c.end, c.text[:MAX_CUE_CHARS]) if len(c.text) > MAX_CUE_CHARS else c for c in cues]
    budget = max(MIN_CHARS, MAX_CHARS_PER_SECOND * (duration or 0.0))
    kept, total = [], 0
    for c in cues:
        total += len(c.text)
        if total > budget:
            break
        kept.append(c)
    said = []
    if late:
        said.append(f"{late} cue(s) after the video ends ignored")
    if long:
        said.append(f"{long} cue(s) cut to {MAX_CUE_CHARS} characters")
    if len(kept) < len(cues):
        said.append(f"{len(cues) - len(kept)} cue(s) past {budget:,.0f} characters ignored")
    return kept, "; ".join(said) or None


def _to_srt(args: list[str], what: str) -> bytes:
    done = subprocess.run(args, capture_output=True, timeout=EXTRACT_TIMEOUT, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise OSError(f"ffmpeg could not read the {what} ({ffmpeg_reason(done.stderr, 'no reason given')})")
    return done.stdout


def stream(path: Path, index: int) -> bytes:
    """One text subtitle stream of the file as SubRip."""
    command = ffmpeg.input(INPUT, **source_options()).output("pipe:", map=f"0:{index}", format="srt")
    command = command.global_args("-nostdin")
    return _to_srt(with_input(command.compile(), path), f"subtitle stream {index}")


def lavfi_escape(path: str) -> str:
    """A path as the movie source's filename inside a filter graph: escaped for the option ('=' too, or
    'a=b.ts' reads as an option a), then for the graph."""
    value = re.sub(r"([\\':=])", r"\\\1", path)
    return re.sub(r"([\\'\[\],;])", r"\\\1", value)


def closed_captions(path: Path, demuxer: str) -> bytes:
    """The video's CEA-608 captions as SubRip (ffmpeg's lavfi movie source with its subcc output). The movie
    source opens the file itself, outside the command's input options: it is held to the file protocol and to
    the demuxer that probed it (one of probe.readable_formats(), none of which opens other files)."""
    source = f"filename={lavfi_escape(str(path))}:f={demuxer}:format_opts=protocol_whitelist=file"
    graph = f"movie={source}[out0+subcc]"
    args = ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", graph, "-map", "0:1", "-f", "srt", "-"]
    return _to_srt(args, "closed captions")


def read(path: Path, info: VideoInfo) -> tuple[list[Cue], list[str]]:
    """Every subtitle cue of a video (sidecars, text streams, closed captions) and warnings, one line each,
    about what could not be read. Never raises on a bad subtitle: the video is indexed without it."""
    sources = [(f"subtitle file {p.name}", lambda p=p: read_file(p)) for p in sidecars(path)]
    sources += [
        (f"subtitle stream {index} ({codec})", lambda index=index: stream(path, index))
        for index, codec in info.subtitle_streams
        if codec in TEXT_CODECS
    ]
    if info.closed_captions:
        sources.append(("closed captions", lambda: closed_captions(path, info.demuxer)))
    cues, warnings = [], []
    for what, load in sources:
        try:
            data = load()
        except (OSError, subprocess.TimeoutExpired) as e:
            warnings.append(f"{what}: {e}")
            continue
        parsed = parse(data)
        if parsed.skipped or (data.strip() and not parsed.cues):
            warnings.append(f"{what}: {parsed.skipped} unreadable cue(s) skipped, {len(parsed.cues)} read")
        cues += parsed.cues
    return sorted(cues, key=lambda c: c.start), warnings
