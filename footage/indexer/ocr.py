"""On-screen text (titles, signs, slides) as timed text: Tesseract (Debian's tesseract-ocr) on sampled frames.

Text needs pixels: the model's 224 px frames are too small, so ffmpeg samples frames of its own, 960 px wide,
every OCR_SECONDS. Tesseract reads anything as letters in a natural picture, so only confident words that
look like words are kept, and a text must show on two sampled frames in a row to count; consecutive frames
showing the same text become one cue spanning them.
"""

import re
import shutil
import subprocess
from pathlib import Path

import ffmpeg
import numpy as np

from footage.errors import ModelError
from footage.indexer.decode import Watchdog
from footage.indexer.probe import INPUT, VideoInfo, with_input
from footage.indexer.subtitles import Cue

OCR_SECONDS = 2.0  # one frame read every this many seconds
WIDTH = 960
MIN_CONFIDENCE = 75  # Tesseract's per-word confidence, 0-100
WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9'&.,:!?-]*[A-Za-z0-9.!?]$|^[A-Za-z0-9]$")
SAME_TEXT = 0.5  # word overlap (Jaccard) at which two frames show the same text


def tesseract() -> str:
    found = shutil.which("tesseract")
    if not found:
        raise ModelError("on-screen text needs Tesseract: install it (Debian/Ubuntu: apt-get install tesseract-ocr)")
    return found


def frames(path: Path, info: VideoInfo):
    """(time, RGB frame) every OCR_SECONDS, WIDTH wide."""
    height = max(2, round(WIDTH * (info.height or 9) / (info.width or 16) / 2) * 2)
    args = with_input(
        ffmpeg.input(INPUT)[str(info.stream)]
        .filter("fps", 1 / OCR_SECONDS)
        .filter("scale", WIDTH, height)
        .output("pipe:", format="rawvideo", pix_fmt="gray")
        .global_args("-nostdin", "-v", "error")
        .compile(),
        path,
    )
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    watchdog = Watchdog(process)
    size = WIDTH * height
    try:
        k = 0
        while len(buf := process.stdout.read(size)) == size:
            watchdog.fed()
            yield k * OCR_SECONDS, np.frombuffer(buf, np.uint8).reshape(height, WIDTH)
            k += 1
    finally:
        process.kill()
        process.wait()


def read_words(exe: str, frame: np.ndarray) -> list[str]:
    """Tesseract on one grey frame (as PGM on stdin): the confident, word-like words, in reading order."""
    header = f"P5 {frame.shape[1]} {frame.shape[0]} 255\n".encode()
    done = subprocess.run(
        [exe, "-", "-", "--psm", "11", "tsv"], input=header + frame.tobytes(), capture_output=True, timeout=120
    )
    words = []
    for line in done.stdout.decode(errors="replace").splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) == 12 and cols[11].strip() and float(cols[10]) >= MIN_CONFIDENCE and WORD.match(cols[11].strip()):
            words.append(cols[11].strip())
    return words


def read(path: Path, info: VideoInfo) -> list[Cue]:
    """The text shown on screen, as cues: one per stretch of frames that show the same words."""
    exe = tesseract()
    cues: list[Cue] = []
    run: tuple[float, float, list[str]] | None = None  # (start, last seen, words) of the text on screen
    seen = 0
    for t, frame in frames(path, info):
        words = read_words(exe, frame)
        same = run is not None and _overlap(run[2], words) >= SAME_TEXT
        if same:
            run, seen = (run[0], t, words if len(words) > len(run[2]) else run[2]), seen + 1
            continue
        if run is not None and seen >= 2:
            cues.append(Cue(run[0], run[1] + OCR_SECONDS, " ".join(run[2])))
        run, seen = ((t, t, words), 1) if len(words) >= 2 else (None, 0)
    if run is not None and seen >= 2:
        cues.append(Cue(run[0], run[1] + OCR_SECONDS, " ".join(run[2])))
    return cues


def _overlap(a: list[str], b: list[str]) -> float:
    a, b = {w.lower() for w in a}, {w.lower() for w in b}
    return len(a & b) / len(a | b) if a | b else 0.0
