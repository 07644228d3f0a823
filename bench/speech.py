"""Speech: how fast it is transcribed, whether music becomes text, and what fusing the channels does to search.

    cd bench && python speech.py FOLDER     # FOLDER from scripts/fetch_samples.py FOLDER --film --speech

1. Transcription speed (audio seconds per wall second, 2 cores) of the narrated clip (clip-16, 180 s) with
   Whisper tiny.en and base, and what a music-only film (clip-14, Big Buck Bunny, 597 s) turns into: a plain
   faster-whisper run against footage's (voice activity detection, Whisper's no-speech and log-probability
   signals). Then on-screen text (Tesseract, --ocr) on the narrated clip's slides and a street montage.
2. Fusion: every clip indexed once with speech; picture queries (bench/data/annotations.jsonl, 71 moments)
   and speech queries (bench/data/speech_annotations.jsonl: 12 moments of clip-16, paraphrases of what is
   said, timed from a Whisper base transcript, which is not the model that indexes) scored per search mode.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from retrieval import load_pairs

from footage import Library
from footage.indexer import ocr
from footage.indexer.probe import probe
from footage.indexer.speech import Transcriber
from footage.library import cache_dir
from footage.search.evaluate import Pair

SPEECH_ANNOTATIONS = Path(__file__).parent / "data" / "speech_annotations.jsonl"


def speed(folder: Path) -> None:
    narrated, film = folder / "clip-16.mp4", folder / "clip-14.mp4"
    print(f"{'transcription':44}{'wall s':>8}{'x real time':>13}{'words':>7}")
    for name in ("tiny", "base"):
        t = Transcriber(name, cache_dir(), threads=2)
        assert t.whisper  # load first: loading is not transcribing
        started = time.perf_counter()
        cues = t(narrated)
        wall = time.perf_counter() - started
        words = sum(len(c.text.split()) for c in cues)
        print(f"{f'narrated 180 s, {name}':44}{wall:8.1f}{180.3 / wall:13.1f}{words:7d}")
    t = Transcriber("tiny", cache_dir(), threads=2)
    started = time.perf_counter()
    segments, _ = t.whisper.transcribe(str(film), language="en", beam_size=1)  # faster-whisper's defaults
    plain = [s.text.strip() for s in segments]
    wall = time.perf_counter() - started
    words = sum(len(s.split()) for s in plain)
    print(f"{'music-only film 597 s, plain faster-whisper':44}{wall:8.1f}{597 / wall:13.1f}{words:7d}")
    print(f"    e.g. {json.dumps(plain[:6])[:150]}")
    started = time.perf_counter()
    ours = t(film)
    wall = time.perf_counter() - started
    words = sum(len(c.text.split()) for c in ours)
    print(f"{'music-only film 597 s, footage':44}{wall:8.1f}{597 / wall:13.1f}{words:7d}")
    print(f"    {json.dumps([c.text for c in ours])[:150]}")
    for clip, what in ((narrated, "narrated 180 s"), (folder / "clip-01.mp4", "street montage 10 s")):
        started = time.perf_counter()
        cues = ocr.read(clip, probe(clip))
        wall = time.perf_counter() - started
        seconds = probe(clip).duration
        words = sum(len(c.text.split()) for c in cues)
        print(f"{f'on-screen text, {what}':44}{wall:8.1f}{seconds / wall:13.1f}{words:7d}")
        print(f"    {json.dumps([c.text for c in cues])[:150]}")


def fusion(folder: Path) -> None:
    pictures, clips = load_pairs([folder])
    spoken = []
    for line in SPEECH_ANNOTATIONS.read_text().splitlines():
        row = json.loads(line)
        spoken.append(Pair(str((folder / row["clip"]).resolve()), row["start"], row["end"], row["text"]))
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "lib") as lib:
        lib.index([*clips, folder / "clip-16.mp4"], speech="tiny")
        print(f"\n{lib.stats().text_chunks} text chunks in {lib.stats().videos} videos")
        print(f"{'queries':34}{'mode':>8}{'R@1':>8}{'R@5':>8}{'MRR':>8}")
        for name, pairs in ((f"pictures ({len(pictures)})", pictures), (f"speech ({len(spoken)})", spoken)):
            for mode in ("visual", "speech", "text", "all"):
                s = lib.evaluate(pairs, mode=mode)
                print(f"{name:34}{mode:>8}{s.r1:8.3f}{s.r5:8.3f}{s.mrr:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    if not (args.folder / "clip-16.mp4").exists() or not (args.folder / "clip-14.mp4").exists():
        sys.exit(f"{args.folder}: fetch the clips with scripts/fetch_samples.py {args.folder} --film --speech")
    speed(args.folder)
    fusion(args.folder)


if __name__ == "__main__":
    main()
