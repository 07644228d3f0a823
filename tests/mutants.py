"""Hostile media for the fuzz runs (tests/test_fuzz_media.py, bench/fuzz_media.py): real seed clips made with
ffmpeg from real photos, in several containers and codecs with audio and subtitle streams, and mutants of them
(truncated, bit-flipped, header-swapped, container-swapped, spliced, with huge or broken declared durations,
with hostile subtitle streams and sidecar files). Every mutant is a pure function of (seed clips, its number):
the same number makes the same bytes on every run.

Also the check of one `footage index` run over a folder of mutants: no traceback, no hang, every file either
indexed or named on one `skipping PATH: REASON` line, no reason that is a Python exception's name (a crash the
pipeline caught), and the library consistent.
"""

import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from media import PHOTOS, ffmpeg, photo_video

from footage.store import Store

SEED_PHOTOS = [p for p in PHOTOS if p[0] in ("cat", "rocket")]  # 6 + 7 s: a cat, then a rocket
CAT_QUERY = "a cat"  # the pristine clips' cat stretch is the top hit of this query
SIZE = "240x180"

NORMAL_SRT = (
    "1\n00:00:00,500 --> 00:00:02,000\nA cat looks at the camera\n\n"
    "2\n00:00:07,000 --> 00:00:09,000\nThe rocket stands on its pad\n"
)

# Subtitle streams a hostile file can carry; each is muxed into a Matroska seed as it is written.
HOSTILE_ASS_HEADER = (
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
    "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, "
    "MarginR, MarginV, Encoding\n"
    "Style: Default,{font},{size},&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,1,0,2,10,10,"
    "10,1\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)


def _ass(events: list[str], font: str = "Arial", size: str = "16") -> bytes:
    return (HOSTILE_ASS_HEADER.format(font=font, size=size) + "\n".join(events) + "\n").encode("utf-8", "surrogatepass")


def hostile_subtitles() -> dict[str, tuple[str, bytes]]:
    """name -> (format, bytes) of subtitle files with hostile content, to mux as streams or lay beside a video."""
    deep = "{" + "\\b1\\i1\\u1\\s1\\bord9\\shad9\\blur20\\fscx9999\\fscy9999\\frz999" * 2000 + "}deep"
    nested = "{\\t(" * 500 + "\\fs99" + ")" * 500 + "}nested"
    return {
        "ass-deep-overrides": ("ass", _ass([f"Dialogue: 0,0:00:00.50,0:00:05.00,Default,,0,0,0,,{deep}"])),
        "ass-nested-transforms": ("ass", _ass([f"Dialogue: 0,0:00:01.00,0:00:04.00,Default,,0,0,0,,{nested}"])),
        "ass-huge-line": ("ass", _ass(["Dialogue: 0,0:00:00.00,0:00:09.00,Default,,0,0,0,,huge " * 1 + "x" * 300_000])),
        "ass-huge-style": (
            "ass",
            _ass(["Dialogue: 0,0:00:00.00,0:00:02.00,Default,,0,0,0,,big"], font="F" * 50_000, size="99999999"),
        ),
        "ass-many-events": (
            "ass",
            _ass(
                [f"Dialogue: 0,0:00:0{i % 9}.{i % 100:02d},0:00:09.00,Default,,0,0,0,,cue {i}" for i in range(20_000)]
            ),
        ),
        "ass-negative-and-reversed": (
            "ass",
            _ass(
                [
                    "Dialogue: 0,-0:00:05.00,0:00:02.00,Default,,0,0,0,,before zero",
                    "Dialogue: 0,0:00:08.00,0:00:01.00,Default,,0,0,0,,ends before it starts",
                    "Dialogue: 0,9:59:59.99,0:00:01.00,Default,,0,0,0,,far away",
                ]
            ),
        ),
        "srt-huge-cue": ("srt", ("1\n00:00:00,000 --> 00:00:05,000\n" + "word " * 200_000 + "\n").encode()),
        "srt-many-cues": (
            "srt",
            "".join(
                f"{i}\n00:00:0{i % 9},{i % 1000:03d} --> 00:00:09,000\ncue {i}\n\n" for i in range(30_000)
            ).encode(),
        ),
        "srt-nul-and-latin1": (
            "srt",
            b"1\n00:00:00,500 --> 00:00:03,000\ncaf\xe9 \x00\x00 na\xefve \xff\xfe\x00bytes\n\n"
            b"2\n00:00:03,000 --> 00:00:06,000\n\x00\x01\x02\x1b[31mred\x1b[0m \xc3\x28 \xed\xa0\x80\n",
        ),
        "srt-deep-tags": ("srt", ("1\n00:00:00,000 --> 00:00:05,000\n" + "<i><b><u>" * 20_000 + "x\n").encode()),
        "srt-huge-times": (
            "srt",
            b"1\n99999999:59:59,999 --> 99999999:59:59,999\nfar\n\n2\n00:00:01,000 --> 4294967296:00:00,000\nlong\n",
        ),
    }


def hostile_sidecars() -> dict[str, bytes]:
    """Sidecar subtitle files (name suffix -> bytes) laid beside a good video."""
    subs = {name: data for name, (fmt, data) in hostile_subtitles().items() if fmt == "srt"}
    return {
        **{f"{name}.srt": data for name, data in subs.items()},
        "utf16-no-bom.srt": NORMAL_SRT.encode("utf-16-le"),
        "binary.srt": random.Random(7).randbytes(50_000),
        "nul-only.vtt": b"\x00" * 10_000,
        "too-big.srt": b"1\n00:00:00,000 --> 00:00:01,000\n" + b"a" * (5 << 20),
        "vtt-negative.vtt": b"WEBVTT\n\n-00:00:01.000 --> 00:00:02.000\nneg\n\n00:00.000 --> 00:00.000\nzero\n",
        "timing-only.srt": b"00:00:00,000 --> 00:00:01,000\n" * 50_000,
    }


# --- seeds ------------------------------------------------------------------------------------------------


SEEDS = {  # name -> (ffmpeg output args after the inputs, which extra streams it carries)
    "h264-aac-movtext.mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-c:s", "mov_text"],
    "h264-opus-srt-ass.mkv": ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libopus", "-c:s", "srt"],
    "mpeg4-mp3.avi": ["-c:v", "mpeg4", "-q:v", "5", "-c:a", "libmp3lame"],
    "vp8-vorbis-webvtt.webm": ["-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libvorbis", "-c:s", "webvtt"],
    "mpeg2-mp2.ts": ["-c:v", "mpeg2video", "-q:v", "5", "-c:a", "mp2"],
    "mjpeg-pcm.mov": ["-c:v", "mjpeg", "-q:v", "5", "-c:a", "pcm_s16le"],
    "flv1-mp3.flv": ["-c:v", "flv", "-q:v", "5", "-c:a", "libmp3lame", "-ar", "44100"],
    "vp9-opus.mkv": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"],
}
SUBTITLED = {"mp4", "mkv", "webm"}


def make_seeds(folder: Path) -> dict[str, bytes]:
    """The seed clips' bytes by file name: real photos (a cat, then a rocket) with a tone and subtitles, one per
    container and codec in SEEDS, and Matroska clips carrying each hostile subtitle stream."""
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / "base.mkv"
    photo_video(base, photos=SEED_PHOTOS, size=SIZE, fps=5)
    srt = folder / "normal.srt"
    srt.write_text(NORMAL_SRT)
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=13:sample_rate=48000"]
    seeds = {}
    for name, args in SEEDS.items():
        out = folder / name
        subs = ["-i", str(srt)] if out.suffix[1:] in SUBTITLED and "-c:s" in args else []
        maps = ["-map", "0:v", "-map", "1:a"] + (["-map", "2:s"] if subs else [])
        extra = []
        if name.endswith("-ass.mkv"):  # a second, ASS, subtitle stream
            subs += ["-i", str(srt)]
            maps += ["-map", "3:s"]
            extra = ["-c:s:1", "ass"]
        ffmpeg("-i", str(base), *tone, *subs, *maps, *args, *extra, str(out))
        seeds[name] = out.read_bytes()
    many = folder / "streams-64-subtitles-8-audio.mkv"  # one ffmpeg run per text stream, 64 of them
    inputs = ["-i", str(base), *tone, "-i", str(srt)]
    maps = ["-map", "0:v", *["-map", "1:a"] * 8, *["-map", "2:s"] * 64]
    ffmpeg(*inputs, *maps, "-c:v", "copy", "-c:a", "libopus", "-c:s", "srt", str(many))
    seeds[many.name] = many.read_bytes()
    for name, (fmt, data) in hostile_subtitles().items():
        sub = folder / f"{name}.{fmt}"
        sub.write_bytes(data)
        out = folder / f"subs-{name}.mkv"
        try:  # ffmpeg reads the file as its demuxer can; what it keeps is muxed as it is
            ffmpeg(
                "-i", str(base), "-i", str(sub), "-map", "0:v", "-map", "1:s", "-c:v", "copy", "-c:s", "copy", str(out)
            )
        except subprocess.CalledProcessError:
            ffmpeg("-i", str(base), "-f", fmt, "-i", str(sub), "-map", "0:v", "-map", "1:s?", "-c", "copy", str(out))
        seeds[out.name] = out.read_bytes()
    return seeds


# --- mutants ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    name: str  # file name, unique in a run: NNNN-kind-seed.ext
    kind: str
    data: bytes
    sidecars: dict[str, bytes] = field(default_factory=dict)  # suffix after the video's stem -> bytes

    @property
    def number(self) -> int:
        return int(self.name[:4])

    def write(self, folder: Path) -> Path:
        path = folder / self.name
        path.write_bytes(self.data)
        stem = path.name[: -len(path.suffix)]
        for suffix, data in self.sidecars.items():
            (folder / f"{stem}.{suffix}").write_bytes(data)
        return path


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[1]


def _flip(data: bytes, rng: random.Random, flips: int, within: int | None = None) -> bytes:
    out = bytearray(data)
    span = min(len(out), within or len(out))
    for _ in range(flips):
        i = rng.randrange(span)
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def _patch_all(data: bytes, tag: bytes, patch) -> bytes:
    """Applies patch(out, at) at every occurrence of `tag` (an atom or element name)."""
    out = bytearray(data)
    at = out.find(tag)
    while at != -1:
        patch(out, at)
        at = out.find(tag, at + 1)
    return bytes(out)


def _mp4_duration(data: bytes, rng: random.Random) -> bytes:
    """mvhd/tkhd/mdhd durations (version 0) made huge, or zero, or the timescale 1 or 0."""
    value = rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0, 1])
    scale = rng.choice([None, 1, 0, 0xFFFFFFFF])

    def patch(out: bytearray, at: int) -> None:
        box = bytes(out[at : at + 4])
        body = at + 4
        if box == b"mvhd" or box == b"mdhd":  # version, flags, created, modified, timescale, duration
            if scale is not None:
                out[body + 12 : body + 16] = struct.pack(">I", scale)
            out[body + 16 : body + 20] = struct.pack(">I", value)
        elif box == b"tkhd":  # version, flags, created, modified, track id, reserved, duration
            out[body + 20 : body + 24] = struct.pack(">I", value)

    for box in (b"mvhd", b"mdhd", b"tkhd"):
        data = _patch_all(data, box, patch)
    return data


def _mkv_duration(data: bytes, rng: random.Random) -> bytes:
    """Matroska's Duration element (0x4489, an 8-byte float) set to a hostile value; a 4-byte one is too."""
    value = rng.choice([1e300, float("inf"), float("nan"), -5.0, 0.0, 1e18, 5e-324])

    def patch(out: bytearray, at: int) -> None:
        if out[at + 2] == 0x88:
            out[at + 3 : at + 11] = struct.pack(">d", value)
        elif out[at + 2] == 0x84:
            out[at + 3 : at + 7] = struct.pack(">f", value if abs(value) < 3e38 or value != value else float("inf"))

    return _patch_all(data, b"\x44\x89", patch)


def _avi_frames(data: bytes, rng: random.Random) -> bytes:
    """AVI's avih total frames and strh length set huge, and its frame period to 0 or huge."""
    frames, period = rng.choice([0xFFFFFFFF, 0, 1]), rng.choice([0, 0xFFFFFFFF, 1])

    def avih(out: bytearray, at: int) -> None:  # 'avih' size, microseconds per frame, ..., total frames at +16
        out[at + 8 : at + 12] = struct.pack("<I", period)
        out[at + 24 : at + 28] = struct.pack("<I", frames)

    def strh(out: bytearray, at: int) -> None:  # length at +32 of the body
        out[at + 8 + 32 : at + 8 + 36] = struct.pack("<I", frames)

    return _patch_all(_patch_all(data, b"avih", avih), b"strh", strh)


HOSTILE_NAMES = (
    "new\nline",
    "carriage\rreturn",
    "\x1b[31mred\x1b[0m\x1b]0;title\x07",
    "tab\tand\x7fdel\x01",
    "latin1-caf\udce9",  # the byte 0xE9, not UTF-8: a name from an old disk
    "\u202eright-to-left",
    "[bold]markup[\\bold] $(echo no) `x` *?",
    "colon: and -- dashes",
    "x" * 200,
)

KINDS = (
    "truncated",
    "bit-flipped",
    "header-bit-flipped",
    "zeroed-run",
    "header-swapped",
    "container-swapped",
    "spliced",
    "huge-duration",
    "hostile-subtitle-stream",
    "hostile-sidecar",
    "many-streams",
    "hostile-name",
    "zero-size",
    "garbage",
    "not-a-video",
    "pristine",
)


def mutant(seeds: dict[str, bytes], number: int, kind: str | None = None) -> Mutant:
    """Mutant `number`: its kind (cycling through KINDS unless given), seed and damage all drawn from a random
    generator seeded with the number."""
    rng = random.Random(f"footage-fuzz-{number}")
    kind = kind or KINDS[number % len(KINDS)]
    plain = sorted(n for n in seeds if not n.startswith(("subs-", "streams-")))
    seed = rng.choice(plain)
    data, ext, sidecars = seeds[seed], _ext(seed), {}
    if kind == "truncated":
        cut = rng.choice([1, 4, 16, 188, 512, 4096, rng.randrange(len(data))])
        data = data[: min(cut, len(data) - 1)]
    elif kind == "bit-flipped":
        data = _flip(data, rng, rng.choice([1, 8, 64, 512]))
    elif kind == "header-bit-flipped":
        data = _flip(data, rng, rng.choice([1, 4, 16]), within=4096)
    elif kind == "zeroed-run":
        start = rng.randrange(len(data))
        data = data[:start] + bytes(min(len(data) - start, rng.choice([16, 1024, 65536]))) + data[start + 65536 :]
    elif kind == "header-swapped":  # one container's head on another's body
        other = rng.choice([n for n in plain if _ext(n) != ext])
        head = rng.choice([8, 32, 188, 1024, 4096])
        data = seeds[other][:head] + data[head:]
    elif kind == "container-swapped":  # the bytes of one container under another's name
        ext = rng.choice(sorted({_ext(n) for n in plain} - {ext}))
    elif kind == "spliced":
        other = seeds[rng.choice(plain)]
        data = data[: rng.randrange(len(data))] + other[rng.randrange(len(other)) :]
    elif kind == "huge-duration":
        seed = rng.choice([n for n in plain if _ext(n) in ("mp4", "mov", "mkv", "webm", "avi")])
        data, ext = seeds[seed], _ext(seed)
        if ext in ("mp4", "mov"):
            data = _mp4_duration(data, rng)
        elif ext == "avi":
            data = _avi_frames(data, rng)
        else:
            data = _mkv_duration(data, rng)
    elif kind == "hostile-subtitle-stream":
        seed = rng.choice(sorted(n for n in seeds if n.startswith("subs-")))
        data, ext = seeds[seed], "mkv"
        if rng.random() < 0.3:  # and damaged too
            data = _flip(data, rng, rng.choice([4, 64]))
    elif kind == "hostile-sidecar":
        chosen = hostile_sidecars()
        name = rng.choice(sorted(chosen))
        lang = rng.choice(["", "en.", "x" * 150 + "."])  # name.srt, name.en.srt, name.LONG.srt
        sidecars = {f"{lang}{_ext(name)}": chosen[name]}
    elif kind == "many-streams":
        seed = next(n for n in seeds if n.startswith("streams-"))
        data, ext = seeds[seed], "mkv"
    elif kind == "hostile-name":  # the name is said on one line, whatever it holds
        data = data if rng.random() < 0.5 else rng.randbytes(1000)
        odd = rng.choice(HOSTILE_NAMES)
        return Mutant(f"{number:04d}-{kind}-{odd}.{ext}", kind, data)
    elif kind == "zero-size":
        data = b""
    elif kind == "garbage":
        data = rng.randbytes(rng.choice([1, 100, 10_000, 300_000]))
    elif kind == "not-a-video":
        data = rng.choice(
            [
                b"\x89PNG\r\n\x1a\n" + rng.randbytes(2000),
                b"<html><body>not a video</body></html>\n",
                b"#EXTM3U\n#EXT-X-ENDLIST\n",  # a playlist with no segments: nothing to open
                b"ffconcat version 1.0\n",
                b"\x1a\x45\xdf\xa3" + b"\x00" * 64,  # a Matroska magic and nothing else
                b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 16,  # an mp4 that is only its ftyp
                b"RIFF\xff\xff\xff\xffAVI LIST",
                b"G" + b"\xff" * 187,  # one empty MPEG-TS packet
            ]
        )
    elif kind != "pristine":
        raise ValueError(f"unknown kind {kind!r}")
    stem = seed.rsplit(".", 1)[0]
    return Mutant(f"{number:04d}-{kind}-{stem}.{ext}", kind, data, sidecars)


# --- one index run over a folder of mutants ------------------------------------------------------------------

# A failure reason or warning that is a Python exception's name: the pipeline caught a crash of its own.
CRASH = re.compile(r"(?:^|: )(?:[A-Za-z_][\w.]*)?(?:Error|Exception|Interrupt|Exit|Warning)\b(?::|$)")
SKIPPING = re.compile(r"^skipping .*?/(\d{4})-[^/]*?: (.*)$")  # keyed by the mutant's number: names are escaped
WARNING = re.compile(r"^warning .*?/(\d{4})-[^/]*?: (.*)$")
SUMMARY = re.compile(r"^(indexed \d+ files? \(|nothing new to index)")
# a name in a reason that comes with a message written for the user: VideoError is footage's own
ALLOWED_ERRORS = ("VideoError",)


@dataclass
class Batch:
    folder: Path
    files: list[Path]
    returncode: int | None = None
    seconds: float = 0.0
    hung: bool = False
    output: str = ""
    skipped: dict[int, list[str]] = field(default_factory=dict)  # mutant number -> reasons (one line each)
    warned: dict[int, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what the check found wrong, one line each


def index_batch(exe: str, library: Path, folder: Path | list[Path], files: list[Path], timeout: float) -> Batch:
    """Runs `footage index FOLDER...` (with FOOTAGE_DEBUG=1: a crash shows its traceback) and checks its output:
    the files it named, the hang, the tracebacks. The library's own checks are check_library's."""
    folders = folder if isinstance(folder, list) else [folder]
    batch = Batch(folders[0], files)
    env = {**os.environ, "FOOTAGE_DEBUG": "1"}
    started = time.monotonic()
    proc = subprocess.Popen(
        [exe, "--library", str(library), "index", *map(str, folders)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=env,
        start_new_session=True,  # its ffmpeg children are stopped with it
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        batch.hung = True
        batch.problems.append(f"{folder}: no end after {timeout:.0f} s (a hang)")
    batch.seconds = time.monotonic() - started
    batch.returncode = proc.returncode
    batch.output = out + err
    if "Traceback" in batch.output:
        batch.problems.append(f"{folder}: a traceback in the output")
    if "internal error" in batch.output:
        batch.problems.append(f"{folder}: an internal error in the output")
    if not batch.hung and proc.returncode not in (0, 3):
        batch.problems.append(f"{folder}: exit code {proc.returncode}")
    for line in err.splitlines():
        for pattern, into in ((SKIPPING, batch.skipped), (WARNING, batch.warned)):
            m = pattern.match(line)
            if m:
                into.setdefault(int(m.group(1)), []).append(m.group(2))
                break
        else:  # a line that is not one of a file's: a name or a reason that broke its line
            if line.strip() and not batch.hung:
                batch.problems.append(f"{batch.folder}: a line that names no file: {line[:300]!r}")
    if not batch.hung and not any(SUMMARY.match(line) for line in out.splitlines()):
        batch.problems.append(f"{batch.folder}: no summary line: {out[-300:]!r}")
    for number, reasons in batch.skipped.items():
        if len(reasons) > 1:
            batch.problems.append(f"mutant {number}: named on {len(reasons)} skipping lines")
    for number, reasons in [*batch.skipped.items(), *batch.warned.items()]:
        for reason in reasons:
            if crashed(reason):
                batch.problems.append(f"mutant {number}: a crash caught as a reason: {reason[:300]}")
    return batch


def crashed(reason: str) -> bool:
    """Whether a failure reason or warning is a Python exception's name and message (a caught crash) rather
    than a message written for the user."""
    for part in reason.split("; "):
        m = CRASH.search(part)
        if m and not any(name in m.group(0) for name in ALLOWED_ERRORS):
            return True
    return False


def open_store(library: Path) -> Store:
    """The library's store with its vectors loaded, without its models (a reader: it takes no lock)."""
    store = Store(library)
    dim = int(store.meta("dim"))
    store.attach(store.meta("backbone"), dim, int(store.meta("token_dim") or dim))
    return store


def check_library(exe: str, library: Path, folder: Path, files: dict[Path, Mutant], batch: Batch) -> dict[Path, str]:
    """After a batch: each file indexed, or failed and named on a skipping line; the vectors saved as SQLite has
    them (no repair needed) and consistent; the pristine clips found by `footage search` at their cat. Adds what
    is wrong to batch.problems; returns each file's outcome: indexed, skipped or unnamed."""
    store = open_store(library)
    try:
        if store.repaired != (0, 0):
            batch.problems.append(f"{folder}: the saved vectors did not match the database (repaired {store.repaired})")
        if not store.consistent():
            batch.problems.append(f"{folder}: the library is not consistent")
        videos = store.videos()
    finally:
        store.close()
    with contextlib.closing(sqlite3.connect(library / "library.db")) as db:
        for path, duration, first, last, low, bad in db.execute(
            "SELECT v.path, v.duration, min(s.start), max(s.end), min(s.end - s.start), "
            "sum(s.start != s.start OR s.end != s.end) FROM videos v JOIN segments s ON s.video_id = v.id "
            "GROUP BY v.id"
        ):
            if bad or first < 0 or low <= 0 or duration is None or not last <= duration + 0.01:
                batch.problems.append(
                    f"{path}: segments from {first} to {last} s (shortest {low} s) in a video of {duration} s"
                )
    found = {}
    for path, m in files.items():
        video = videos.get(str(path))
        if video is not None and video.status == "indexed":
            found[path] = "indexed"
            if m.number in batch.skipped:
                batch.problems.append(f"{path}: indexed, yet named on a skipping line")
        elif m.number in batch.skipped:
            found[path] = "skipped"
        else:
            found[path] = "unnamed"
            if not batch.hung:
                batch.problems.append(f"{path}: neither indexed nor named on a skipping line")
    pristine = [p for p, m in files.items() if m.kind == "pristine"]
    if pristine and not batch.hung:
        done = subprocess.run(
            [
                exe,
                "--library",
                str(library),
                "search",
                CAT_QUERY,
                "--mode",
                "visual",
                "--under",
                str(folder),
                "--json",
                "--no-caption",
                "--per-video",
                "1",
                "--top-k",
                str(2 * len(files)),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "FOOTAGE_DEBUG": "1"},
        )
        if done.returncode != 0 or "Traceback" in done.stderr:
            batch.problems.append(f"{folder}: search failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        else:
            best = {}
            for hit in json.loads(done.stdout):
                best.setdefault(hit["path"], hit)
            for path in pristine:
                hit = best.get(str(path))
                if hit is None or hit["start"] >= SEED_PHOTOS[0][1]:
                    batch.problems.append(
                        f"{path}: a pristine clip, yet search for {CAT_QUERY!r} missed its cat: {hit}"
                    )
    return found


def describe_checks(exe: str, library: Path, paths: list[Path], mutants: dict[Path, Mutant]) -> list[str]:
    """`footage describe` on each path: a timeline (exit 0) or one error line (exit 1), never a traceback or a
    hang. Returns what went wrong, one line each."""
    problems = []
    for path in paths:
        try:
            done = subprocess.run(
                [exe, "--library", str(library), "describe", str(path), "--json"],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=300,
                env={**os.environ, "FOOTAGE_DEBUG": "1"},
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            problems.append(f"describe {path}: no end after 300 s (a hang)")
            continue
        lines = done.stderr.strip().splitlines()
        if "Traceback" in done.stderr or "internal error" in done.stderr:
            problems.append(f"describe {path}: {done.stderr.strip()[-800:]}")
        elif done.returncode == 0:
            json.loads(done.stdout)
        elif done.returncode != 1 or len(lines) != 1 or not lines[0].startswith("error: "):
            problems.append(f"describe {path}: exit {done.returncode}, {done.stderr.strip()[-500:]}")
        elif crashed(lines[0]):
            problems.append(f"describe {path}: a crash caught as a reason: {lines[0][:300]}")
    return problems
