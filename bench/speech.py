"""Speech: whether a film's dialogue is found, whether music becomes text, how fast, and what fusing does.

    cd bench && python speech.py FOLDER [--no-plain]   # FOLDER from scripts/fetch_samples.py FOLDER --film --speech

1. Dialogue, music and speed, per model (Whisper tiny.en and base, as footage runs them):
   - lines of film dialogue found: bench/data/dialogue.jsonl holds every line of clip-13 (an 11 s animated scene,
     English dialogue over a score, in an AVI with AC-3 sound), timed from a Whisper base transcript with word
     times. A line is found when the cues that overlap its time (give or take SLACK seconds) hold at least
     CONTENT_SHARE of its content words;
   - words written on a music-only film (clip-14, Big Buck Bunny, 597 s: music and effects, nobody speaks);
   - transcription speed on the narrated clip (clip-16, 180 s), audio seconds per wall second (2 cores).
   Beside them plain faster-whisper tiny.en (its own audio reader, no voice activity detection, no filters),
   which `--no-plain` leaves out (it listens to all 597 s of music: minutes).
2. On-screen text (Tesseract, --ocr) on the narrated clip's slides and a street montage.
3. Fusion: every clip indexed once with speech; picture queries (bench/data/annotations.jsonl, 71 moments)
   and speech queries (bench/data/speech_annotations.jsonl: 12 moments of clip-16, paraphrases of what is
   said, timed from a Whisper base transcript, which is not the model that indexes) scored per search mode.
   Then the semantic floor of the speech channel (footage.search.engine.SPEECH_MIN_SIMILARITY): the cosine
   of each paraphrase to its own chunk, and the best cosine of each picture query to any speech chunk.
"""

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from retrieval import load_pairs

from footage import Library
from footage.files import cache_dir
from footage.indexer import ocr
from footage.indexer.probe import probe
from footage.indexer.speech import Transcriber
from footage.search.evaluate import Pair

DATA = Path(__file__).parent / "data"
SPEECH_ANNOTATIONS = DATA / "speech_annotations.jsonl"
DIALOGUE = DATA / "dialogue.jsonl"
MUSIC_ONLY = "clip-14.mp4"
NARRATED = "clip-16.mp4"
SLACK = 1.0  # seconds: Whisper's segment times (no word times) may start or end this far off
CONTENT_SHARE = 0.6  # "most of its content words"
STOPWORDS = frozenset(
    "a an the and or but so of to in on at by for from with as into than then too very is are was were be been "
    "am i you he she it we they me him her us them my your his its our their this that that's these those there "
    "here what which who whom do does did don't not no yes oh well just can will would should could".split()
)


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in STOPWORDS}


def count_words(text: str) -> int:
    return len(re.findall(r"\w+", text))  # "." alone is not a word


def found(line: dict, cues) -> bool:
    """Whether a line of dialogue is among the cues: said in the cues that overlap its time."""
    heard = set()
    for c in cues:
        if c.start < line["end"] + SLACK and c.end > line["start"] - SLACK:
            heard |= set(re.findall(r"[a-z0-9']+", c.text.lower()))
    wanted = content_words(line["text"])
    return len(wanted & heard) >= CONTENT_SHARE * len(wanted)


def dialogue_lines(folder: Path) -> dict[Path, list[dict]]:
    """The annotated lines of each dialogue clip present in the folder."""
    lines: dict[Path, list[dict]] = {}
    for row in map(json.loads, DIALOGUE.read_text().splitlines()):
        if (folder / row["clip"]).exists():
            lines.setdefault(folder / row["clip"], []).append(row)
    return lines


class _Segment:  # a plain faster-whisper segment as a cue
    def __init__(self, s):
        self.start, self.end, self.text = s.start, s.end, s.text.strip()


def timed(transcribe, path: Path):
    started = time.perf_counter()
    cues = list(transcribe(path))
    return cues, time.perf_counter() - started


def speech(folder: Path, plain: bool) -> None:
    lines = dialogue_lines(folder)
    total = sum(len(v) for v in lines.values())
    narrated, film = folder / NARRATED, folder / MUSIC_ONLY
    seconds = probe(narrated).duration
    runs = []
    for name in ("tiny", "base"):
        t = Transcriber(name, cache_dir(), threads=2)
        assert t.whisper  # load first: loading is not transcribing
        runs.append((f"footage, {name}", t))
    if plain:
        whisper = runs[0][1].whisper

        def plain_tiny(path):  # faster-whisper's defaults: its PyAV reader, no VAD, no filters
            segments, _ = whisper.transcribe(str(path), language="en", beam_size=1)
            return [_Segment(s) for s in segments]

        runs.insert(0, ("plain faster-whisper, tiny", plain_tiny))
    print(f"{'speech':28}{'dialogue':>10}{'music-only film':>17}{'narrated ' + f'{seconds:.0f} s':>26}")
    print(f"{'':28}{'lines':>10}{'words':>8}{'wall s':>9}{'words':>8}{'wall s':>9}{'x real':>9}")
    said = {}
    for label, transcribe in runs:
        hits, where = 0, []
        for clip, rows in lines.items():
            cues, _ = timed(transcribe, clip)
            hits += sum(found(r, cues) for r in rows)
            where += [f"{clip.name} {r['start']:.1f}s" for r in rows if not found(r, cues)]
        music, music_wall = timed(transcribe, film)
        spoken, wall = timed(transcribe, narrated)
        music_words = sum(count_words(c.text) for c in music)
        words = sum(count_words(c.text) for c in spoken)
        print(
            f"{label:28}{f'{hits}/{total}':>10}{music_words:8d}{music_wall:9.1f}{words:8d}{wall:9.1f}"
            f"{seconds / wall:9.1f}"
        )
        if where:
            print(f"    missed: {', '.join(where)}")
        if music_words:
            print(f"    on the music: {json.dumps([c.text for c in music])[:150]}")
        said[label] = spoken
    for label, cues in said.items():
        print(f"    {label}, narrated: {json.dumps(' '.join(c.text for c in cues))[:150]}")


def on_screen(folder: Path) -> None:
    print(f"\n{'on-screen text':44}{'wall s':>8}{'x real time':>13}{'words':>7}")
    for clip, what in ((folder / NARRATED, "narrated 180 s"), (folder / "clip-01.mp4", "street montage 10 s")):
        started = time.perf_counter()
        cues = ocr.read(clip, probe(clip))
        wall = time.perf_counter() - started
        seconds = probe(clip).duration
        words = sum(count_words(c.text) for c in cues)
        print(f"{what:44}{wall:8.1f}{seconds / wall:13.1f}{words:7d}")
        print(f"    {json.dumps([c.text for c in cues])[:150]}")


def fusion(folder: Path) -> None:
    pictures, clips = load_pairs([folder])
    spoken = []
    for line in SPEECH_ANNOTATIONS.read_text().splitlines():
        row = json.loads(line)
        spoken.append(Pair(str((folder / row["clip"]).resolve()), row["start"], row["end"], row["text"]))
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "lib") as lib:
        dialogue = [c.resolve() for c in dialogue_lines(folder)]
        lib.index(sorted({*clips, *dialogue, (folder / NARRATED).resolve()}), speech="tiny")
        print(f"\n{lib.stats().text_chunks} text chunks in {lib.stats().videos} videos")
        print(f"{'queries':34}{'mode':>8}{'R@1':>8}{'R@5':>8}{'MRR':>8}")
        for name, pairs in ((f"pictures ({len(pictures)})", pictures), (f"speech ({len(spoken)})", spoken)):
            for mode in ("visual", "speech", "text", "all"):
                s = lib.evaluate(pairs, mode=mode)
                print(f"{name:34}{mode:>8}{s.r1:8.3f}{s.r5:8.3f}{s.mrr:8.3f}")
        floor(lib, pictures, spoken)


def floor(lib: Library, pictures: list[Pair], spoken: list[Pair]) -> None:
    """The semantic floor: what a paraphrase scores on the chunk that says it, and what a picture query
    scores at best on anything said (the same scores search's speech channel ranks by)."""
    chunks = [c for c in lib.store.chunks_of({p.path for p in spoken + pictures}) if c.channel == "speech"]
    everything = len(chunks) + 1

    def scored(text: str) -> list[tuple[float, object]]:
        ids, scores = lib.store.search_text(lib.backbone.embed_query(text), everything)
        rows = lib.store.chunks(ids)
        return [(float(s), c) for i, s in zip(ids, scores) if (c := rows.get(int(i))) and c.channel == "speech"]

    print(f"\nspeech channel floor (cosine of the query to speech chunks; {len(chunks)} chunks)")
    right = []
    for p in spoken:
        ranked = scored(p.text)
        mine = [
            (s, n) for n, (s, c) in enumerate(ranked, 1) if c.path == p.path and c.start < p.end and p.start < c.end
        ]
        best, rank = max(mine, key=lambda m: m[0]) if mine else (float("nan"), None)
        right.append(best)
        print(f"  paraphrase {best:6.3f}  rank {rank}  {p.text[:60]!r}")
    best_picture = []
    for p in pictures:
        ranked = scored(p.text)
        best_picture.append((ranked[0][0], p.text, ranked[0][1].text) if ranked else (float("-inf"), p.text, ""))
    best_picture.sort(reverse=True)
    for score, text, chunk in best_picture[:5]:
        print(f"  picture    {score:6.3f}  {text[:50]!r} -> {chunk[:50]!r}")
    right.sort()
    top = [s for s, _, _ in best_picture]
    print(f"  paraphrases: lowest {right[0]:.3f}, median {right[len(right) // 2]:.3f}")
    print(f"  picture queries ({len(top)}): highest {top[0]:.3f}, median {top[len(top) // 2]:.3f}")
    for at in (0.25, 0.3, 0.35, 0.4, 0.45):
        kept = sum(s >= at for s in right)
        leaked = sum(s >= at for s in top)
        print(
            f"  floor {at:.2f}: paraphrases on their chunk {kept}/{len(right)}, pictures on speech {leaked}/{len(top)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--no-plain", action="store_true", help="leave out plain faster-whisper (minutes)")
    args = parser.parse_args()
    wanted = (NARRATED, MUSIC_ONLY, "clip-13.avi")
    if not all((args.folder / name).exists() for name in wanted):
        sys.exit(f"{args.folder}: fetch the clips with scripts/fetch_samples.py {args.folder} --film --speech")
    speech(args.folder, plain=not args.no_plain)
    on_screen(args.folder)
    fusion(args.folder)


if __name__ == "__main__":
    main()
