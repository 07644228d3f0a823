"""On-screen text (titles, credits, slides, signs) as timed text, read only where the picture changed.

The engine is PP-OCRv4 (a DBNet text detector and a CTC recogniser, ONNX) from the rapidocr-onnxruntime
wheel, run on one thread (the model that embeds frames has the other cores): by OpenVINO in bfloat16 on a CPU
with bfloat16 in hardware, as the X-encoder (the recogniser 1.9x, the detector 1.3x faster; bench/ocr.py: 210
of the 216 words fp32 reads, the lost ones a space or an apostrophe moved), else by ONNX Runtime in float32.
Nothing is downloaded; the weights ship inside the wheel.

Frames: the first frame at or after every OCR_SECONDS, 960 px wide, grey, out of the same ffmpeg decode that
feeds the model its 224 px frames (footage.indexer.decode.Screen): a decode of its own cost 6 of the 57
CPU-seconds of indexing the sample footage, even with keyframes alone where they came often enough.

Each sample is compared with the last one looked at on a 64 px wide grey thumbnail: where no block has moved
by CHANGED grey levels, nothing runs (same picture, same text). Otherwise the text detector looks at a
DETECT_WIDTH copy (about 35 ms on one core); no box, no text. A box where the last frame read had one, with
the same pixels (a slide under a moving pointer, credits over a still backdrop), keeps its reading; the others
are recognised on the 960 px frame (about 30 ms per 320 px of line), with the recogniser's alphabet cut down
to Latin script. A line counts when the recogniser is sure of it (MIN_SCORE) and it has a run of three letters
or digits: PP-OCR does not find letters in foliage as Tesseract did, so the two-frames-agree rule is gone, and
a title shown on a single sample counts (bench/ocr.py: no false word on the sample clips). The recogniser
sometimes runs capitals together ("MUSICANDSOUNDDESIGN"); inside a run of six or more characters, a space is
put back where two characters sit SPACE_GAP times further apart than the line's usual spacing. Consecutive
samples showing the same text become one cue spanning them.
"""

import importlib.util
import queue
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from footage.errors import ModelError, VideoError
from footage.indexer.decode import Decoder, Screen
from footage.indexer.probe import VideoInfo
from footage.indexer.subtitles import Cue
from footage.models.runtime import cpu_runner, native_bf16

OCR_SECONDS = 2.0  # at most one frame read every this many seconds
WIDTH = 960  # frames are read this wide
THUMB_WIDTH = 64  # change detection: block means on a thumbnail this wide
CHANGED = 10.0  # grey levels (0-255) a thumbnail block must move by for the picture to count as changed
DETECT_WIDTH = 480  # the detector's input width (height in proportion)
DETECT_THRESHOLD = 0.3  # DBNet's pixel threshold
# The detector first glances at a frame this wide and looks closely only where the glance finds any text at all:
# most changed frames of moving footage hold none. bench/ocr.py: OCR 19.8 s -> 13.2 s, 220 -> 216 of 287 words
# (small print that shows at 224 px as nothing); at 160 px 174 words were left
GLANCE_WIDTH = 224
GLANCE_THRESHOLD = 0.1  # the glance's highest text probability below which a frame has no text
BOX_THRESHOLD = 0.6  # mean text probability inside a box
MAX_BOXES = 40  # per frame, largest first (a frame of small print is read in part)
MIN_SCORE = 0.75  # the recogniser's mean character probability for a line to count
SPACE_GAP = 1.6  # a gap this many times the usual character spacing is a space
REC_HEIGHT = 48
SAME_TEXT = 0.5  # word overlap (Jaccard) at which two samples show the same text
WORD = re.compile(r"[^\W_]{3,}")  # a line needs a run of three letters or digits


def check() -> None:
    """Raises ModelError when on-screen text cannot be read (the engine's package is missing). The models load
    when a video is read: a run with nothing new to read loads none."""
    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        raise ModelError(
            "on-screen text needs the PyPI package rapidocr-onnxruntime (pip install rapidocr-onnxruntime)"
        )


# ---------------------------------------------------------------------------------------------------- frames


def frames(path: Path, info: VideoInfo) -> Iterator[tuple[float, np.ndarray]]:
    """(time, grey frame (H, WIDTH) uint8) at most every OCR_SECONDS, as the indexer reads them: the first
    frame at or after each tick, stamped with its own time relative to the first frame, out of a Decoder
    (whose own small pictures are dropped here)."""
    screen = Screen(OCR_SECONDS, WIDTH, queue.Queue(8))
    decoder = Decoder(path, info, 1 / OCR_SECONDS, 16, screen=screen)

    def decode() -> None:
        try:
            for _ in decoder:
                pass
        except VideoError:
            pass  # no frames: nothing to read
        finally:
            decoder.close()  # None on the queue, whatever happened

    threading.Thread(target=decode, daemon=True).start()
    samples = iter(screen.frames.get, None)
    try:
        yield from samples
    finally:  # left early: ffmpeg is stopped, and what it wrote is taken so the decode thread can end
        if decoder.process is not None:
            decoder.process.kill()
        for _ in samples:
            pass


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """Block means of a grey frame, THUMB_WIDTH blocks across. Rows summed first, then columns, in integers:
    6x faster than numpy's mean over both axes at once (0.14 against 0.83 ms a frame), the same means."""
    block = max(1, frame.shape[1] // THUMB_WIDTH)
    h, w = frame.shape[0] // block * block, frame.shape[1] // block * block
    rows = frame[:h, :w].reshape(h // block, block, w).sum(axis=1, dtype=np.uint32)
    return rows.reshape(h // block, w // block, block).sum(axis=2, dtype=np.float32) / np.float32(block * block)


def changed(a: np.ndarray | None, b: np.ndarray) -> bool:
    return a is None or a.shape != b.shape or float(np.abs(a - b).max()) > CHANGED


# ---------------------------------------------------------------------------------------------------- engine


@dataclass
class _Models:
    det: Callable  # the text detector: (1, 3, H, W) -> (text probability (1, 1, H, W),)
    rec: Callable  # the recogniser: (B, 3, 48, W) -> (class probabilities (B, W/8, C),)
    alphabet: list[str]  # the recogniser's classes: 0 is CTC's blank
    latin: np.ndarray  # indices of the classes kept (blank, space, Latin script, digits, punctuation)
    post: object  # DBPostProcess


_models_lock = threading.Lock()
_loaded: _Models | None = None


def _models() -> _Models:
    """The two models, loaded once per process."""
    global _loaded
    with _models_lock:
        if _loaded is None:
            import rapidocr_onnxruntime
            from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

            folder = Path(rapidocr_onnxruntime.__file__).parent / "models"
            bf16 = native_bf16()
            det, _ = cpu_runner((folder / "ch_PP-OCRv4_det_infer.onnx").read_bytes(), 1, bf16)
            rec_model = (folder / "ch_PP-OCRv4_rec_infer.onnx").read_bytes()
            rec, _ = cpu_runner(rec_model, 1, bf16)
            chars = _metadata(rec_model)["character"].splitlines()
            alphabet = ["", *chars, " "]
            latin = np.array([i for i, c in enumerate(alphabet) if i == 0 or _latin(c)])
            post = DBPostProcess(DETECT_THRESHOLD, BOX_THRESHOLD, 1000, 1.6, "fast", True)
            _loaded = _Models(det, rec, alphabet, latin, post)
        return _loaded


def _metadata(model: bytes) -> dict[str, str]:
    """An ONNX model's metadata (ModelProto's field 14, metadata_props: key 1, value 2), read off its protobuf
    bytes: importing the onnx package to read them cost 0.6 s of every index run."""

    def fields(data: bytes) -> Iterator[tuple[int, int, bytes | int]]:  # (field, wire type, value)
        at = 0
        while at < len(data):
            key, at = varint(data, at)
            field, kind = key >> 3, key & 7
            if kind == 0:
                value, at = varint(data, at)
            elif kind == 2:
                size, at = varint(data, at)
                value, at = data[at : at + size], at + size
            elif kind in (1, 5):  # 64 and 32 bits
                value, at = data[at : at + (8 if kind == 1 else 4)], at + (8 if kind == 1 else 4)
            else:
                raise ModelError(f"an ONNX model with protobuf wire type {kind}: not one this reader knows")
            yield field, kind, value

    def varint(data: bytes, at: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[at]
            value, shift, at = value | (byte & 0x7F) << shift, shift + 7, at + 1
            if byte < 0x80:
                return value, at

    meta = {}
    for field, kind, entry in fields(model):
        if field == 14 and kind == 2:
            pair = {f: v.decode() for f, k, v in fields(entry) if k == 2}
            meta[pair.get(1, "")] = pair.get(2, "")
    return meta


def _latin(c: str) -> bool:
    if c.isascii():
        return c.isprintable()
    return c.isalpha() and "LATIN" in unicodedata.name(c, "")


def detect(frame: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Text boxes (x0, y0, x1, y1) in the grey frame's pixels, largest first, at most MAX_BOXES."""
    m = _models()
    h, w = frame.shape
    if _text_map(frame, GLANCE_WIDTH).max() < GLANCE_THRESHOLD:
        return []
    prob = _text_map(frame, DETECT_WIDTH)
    boxes, _ = m.post(prob, (h, w))
    out = []
    for box in boxes:
        x0, y0 = np.floor(box.min(axis=0)).astype(int)
        x1, y1 = np.ceil(box.max(axis=0)).astype(int)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 >= 8 and y1 - y0 >= 6:
            out.append((int(x0), int(y0), int(x1), int(y1)))
    out.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
    return out[:MAX_BOXES]


def _text_map(frame: np.ndarray, width: int) -> np.ndarray:
    """DBNet's text probability per pixel (1, 1, H', width) of a grey frame scaled to `width`."""
    import cv2

    m = _models()
    h, w = frame.shape
    height = max(32, round(h * width / w / 32) * 32)
    small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1.0
    x = np.repeat(small[None, None], 3, axis=1)
    return m.det(x)[0]


def recognise(frame: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> list[tuple[str, float]]:
    """(text, mean character probability) of each box, in the order given."""
    import cv2

    m = _models()
    crops = []
    for x0, y0, x1, y1 in boxes:
        crop = frame[y0:y1, x0:x1]
        width = max(REC_HEIGHT // 2, min(2000, round(crop.shape[1] * REC_HEIGHT / crop.shape[0])))
        crops.append(cv2.resize(crop, (width, REC_HEIGHT), interpolation=cv2.INTER_LINEAR))
    out: list[tuple[str, float] | None] = [None] * len(crops)
    order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1])
    for start in range(0, len(order), 6):  # batches of similar widths, padded to the widest
        batch = order[start : start + 6]
        width = max(320, max(crops[i].shape[1] for i in batch))
        x = np.zeros((len(batch), 3, REC_HEIGHT, width), np.float32)
        for j, i in enumerate(batch):
            x[j, :, :, : crops[i].shape[1]] = crops[i].astype(np.float32) / 127.5 - 1.0
        probs = m.rec(x)[0]
        for j, i in enumerate(batch):
            out[i] = _decode(probs[j], m)
    return out  # type: ignore[return-value]


def _decode(probs: np.ndarray, m: _Models) -> tuple[str, float]:
    """CTC greedy decoding over the Latin classes; spaces put back where characters sit far apart."""
    kept = probs[:, m.latin]
    best = kept.argmax(axis=1)
    idx, p = m.latin[best], kept[np.arange(len(best)), best]
    chars: list[tuple[int, str, float]] = []  # (time step, character, probability)
    prev = 0
    for t, (i, q) in enumerate(zip(idx, p)):
        if i != 0 and i != prev:
            chars.append((t, m.alphabet[i], float(q)))
        prev = i
    if not chars:
        return "", 0.0
    score = float(np.mean([q for _, _, q in chars]))
    steps = [b[0] - a[0] for a, b in zip(chars, chars[1:]) if a[1] != " " and b[1] != " "]
    usual = float(np.median(steps)) if len(steps) >= 4 else 0.0
    text = ""
    for word in _words(chars):  # runs of characters between the spaces the recogniser wrote
        if len(word) >= 6 and usual:  # a long run: split it where the characters sit far apart
            cut = [k for k in range(2, len(word) - 1) if word[k][0] - word[k - 1][0] >= SPACE_GAP * usual]
            cut = [k for i, k in enumerate(cut) if k - ([0, *cut][i]) >= 2]  # no one-letter pieces
            word = [(t, c + " " if k + 1 in cut else c, q) for k, (t, c, q) in enumerate(word)]
        text += "".join(c for _, c, _ in word) + " "
    return " ".join(text.split()), score


class Reader:
    """PP-OCR on the frames of one video, in order: grey frame -> its confident lines of text, top to bottom.
    A box found where the previous frame had one, holding the same pixels (a title over moving footage, a
    slide under a moving pointer), keeps that box's reading instead of being read again."""

    def __init__(self):
        self.frame: np.ndarray | None = None  # the last frame read
        self.previous: list[tuple[tuple[int, int, int, int], tuple[str, float]]] = []  # its boxes' readings

    def __call__(self, frame: np.ndarray) -> list[str]:
        readings: list[tuple[str, float] | None] = []
        for box in (boxes := detect(frame)):
            readings.append(next((r for b, r in self.previous if _iou(b, box) >= 0.8 and self._same(b, frame)), None))
        todo = [k for k, r in enumerate(readings) if r is None]
        for k, reading in zip(todo, recognise(frame, [boxes[k] for k in todo])):
            readings[k] = reading
        self.frame, self.previous = frame, list(zip(boxes, readings))
        lines = [(b[1], b[0], t) for b, (t, score) in self.previous if score >= MIN_SCORE and WORD.search(t)]
        return [text for _, _, text in sorted(lines)]

    def _same(self, box: tuple[int, int, int, int], frame: np.ndarray) -> bool:
        """Whether the box's pixels are the same in the last frame read and this one."""
        if self.frame is None or self.frame.shape != frame.shape:
            return False
        return not changed(_crop_thumb(self.frame, box), _crop_thumb(frame, box))


def _words(chars: list[tuple[int, str, float]]) -> list[list[tuple[int, str, float]]]:
    words: list[list[tuple[int, str, float]]] = [[]]
    for ch in chars:
        if ch[1] == " ":
            words.append([])
        else:
            words[-1].append(ch)
    return [w for w in words if w]


def read_frame(frame: np.ndarray) -> list[str]:
    """The confident lines of text in one grey frame, top to bottom."""
    return Reader()(frame)


def _crop_thumb(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    crop = frame[y0:y1, x0:x1]
    step = max(1, (y1 - y0) // 8)
    return (
        crop[: crop.shape[0] // step * step, : crop.shape[1] // step * step]
        .reshape(crop.shape[0] // step, step, crop.shape[1] // step, step)
        .mean(axis=(1, 3), dtype=np.float32)
    )


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# ---------------------------------------------------------------------------------------------------- cues


def read(path: Path, info: VideoInfo, reader=None, stop: threading.Event | None = None) -> list[Cue]:
    """The text shown on screen, as cues: one per stretch of samples that show the same words. `reader`
    (grey frame -> lines) stands in for PP-OCR (the benchmark's other engines); `stop` ends the reading early
    (what was read so far is returned)."""
    return read_frames(frames(path, info), info.duration, reader, stop)


def read_frames(
    samples: Iterable[tuple[float, np.ndarray]],
    duration: float | None,
    reader=None,
    stop: threading.Event | None = None,
) -> list[Cue]:
    """`read` on frames that come from elsewhere (the indexer's own decode): (time, grey frame), in order, at
    most every OCR_SECONDS."""
    if reader is None:
        check()
        reader = Reader()
    found: list[tuple[float, list[str]]] = []
    last_thumb, lines = None, []
    for t, frame in samples:
        if stop is not None and stop.is_set():
            break
        thumb = thumbnail(frame)
        if changed(last_thumb, thumb):
            lines, last_thumb = reader(frame), thumb
        found.append((t, lines))
    return cues(found, duration)


def cues(samples: list[tuple[float, list[str]]], duration: float | None = None) -> list[Cue]:
    """Samples (time, lines) -> cues: consecutive samples whose words overlap by SAME_TEXT join (the longer
    reading is kept); a cue ends when the next sample no longer shows it."""
    out: list[Cue] = []
    run: tuple[float, list[str]] | None = None  # (start, words) of the text on screen
    for t, lines in samples:
        words = " ".join(lines).split()
        if run is not None and _overlap(run[1], words) >= SAME_TEXT:
            if len(words) > len(run[1]):
                run = (run[0], words)
            continue
        if run is not None:
            out.append(Cue(run[0], t, " ".join(run[1])))
        run = (t, words) if words else None
    if run is not None:
        last = samples[-1][0]
        end = last + OCR_SECONDS if duration is None else max(last, min(duration, last + OCR_SECONDS))
        out.append(Cue(run[0], end, " ".join(run[1])))
    return out


def _overlap(a: list[str], b: list[str]) -> float:
    a, b = {w.lower() for w in a}, {w.lower() for w in b}
    return len(a & b) / len(a | b) if a | b else 0.0
