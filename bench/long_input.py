"""Long inputs in bounded memory: peak RSS of `footage index` on a synthetic 10-hour file against a 10-minute one.

    cd bench && python long_input.py [--hours 10] [--minutes 10] [--fps 1] [--no-ocr] [--folder DIR]
    cd bench && python long_input.py --narrated CLIP [--rounds 5]

1. Two files made with ffmpeg: a 64x64 picture at 1 fps (lavfi `color`, one still: the model runs on its first
   frame and every other reuses its tokens, so the pictures cost little) and a soundtrack of espeak-ng sentences
   over low pink noise (lavfi `anoisesrc`), 40 sentences in 10 minutes (about a sixth of it speech), looped to
   the length (the AAC is copied, not encoded again). Each is indexed by `footage index` in a child process with
   speech on (tiny, the default) into a library of its own; the child's peak RSS (wait4's ru_maxrss, which
   covers the ffmpeg it ran), its CPU-seconds and wall time are printed, and the ratio of the two peaks.
   Speech, subtitles, on-screen text and pictures hold little more for a longer file: speech is heard a minute
   at a time, and a file's pictures are cut into segments and written every 10 minutes of frames
   (pipeline.WINDOW_SECONDS). At the defaults on 2 shared cores: 917.8 MB on 10 minutes, 1001.8 MB on 10 hours
   (1.092), the 10 hours indexed in 465 s (456 CPU-s). `--fps` sets how many frames there are.
2. `--narrated CLIP`: the words Whisper writes on a clip (the narrated one: wannaworktogether.mp4 from Debian's
   openboard-common) and the CPU-seconds of speech (median of --rounds), the model loaded beforehand.
"""

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SENTENCES = [
    "The elephant drank water from the muddy river.",
    "Our volcano erupted twice during the cold winter.",
    "She played the guitar at the wedding last night.",
    "Tourists climbed the pyramid before the sun rose.",
    "The submarine dived deep beneath the arctic ice.",
    "He baked a chocolate cake for his grandmother.",
    "We watched the planets through a large telescope.",
    "A dinosaur skeleton stands in the city museum.",
    "Please bring an umbrella because it will rain.",
    "The lighthouse keeper lit the lamp at dusk.",
    "A penguin waddled across the frozen beach.",
    "The treasure is buried under the old oak tree near the river.",
    "Copyright protects the work of artists.",
    "The train to the airport leaves every twenty minutes.",
    "My neighbour grows tomatoes and beans in her garden.",
    "The orchestra rehearsed the symphony all afternoon.",
    "A fox crept past the henhouse in the moonlight.",
    "The library closes early on public holidays.",
    "Fresh bread is sold at the market every morning.",
    "The children built a sandcastle with a deep moat.",
]
LOOP_SECONDS = 600  # the soundtrack repeats after this long
SAID = 40  # sentences in each loop
INDEX_TIMEOUT = 6 * 3600  # seconds for one `footage index`


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def soundtrack(folder: Path) -> Path:
    """LOOP_SECONDS of espeak-ng sentences, SAID of them at seeded times, over low pink noise, as AAC."""
    rng, inputs, graph, at = random.Random(0), [], [], 5.0
    for k in range(SAID):
        wav = folder / f"said-{k}.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), SENTENCES[k % len(SENTENCES)]], check=True)
        inputs += ["-i", str(wav)]
        graph.append(f"[{k + 1}]adelay={round(at * 1000)}:all=1[d{k}];")
        at += 3.5 + rng.choice([0.3, 1.0, 5.0, 10.0, 20.0])  # some sentences run on, some stand apart
    assert at < LOOP_SECONDS, at
    mix = "[0]" + "".join(f"[d{k}]" for k in range(SAID)) + f"amix=inputs={SAID + 1}:normalize=0:duration=first[a]"
    noise = f"anoisesrc=color=pink:amplitude=0.01:sample_rate=22050:duration={LOOP_SECONDS}"
    out = folder / "loop.m4a"
    ffmpeg("-f", "lavfi", "-i", noise, *inputs, "-filter_complex", "".join(graph) + mix, "-map", "[a]",
           "-c:a", "aac", "-b:a", "48k", str(out))  # fmt: skip
    return out


def make(folder: Path, seconds: int, loop: Path) -> Path:
    """A video of `seconds`: a still 64x64 picture at 1 fps and the looped soundtrack."""
    out = folder / f"long-{seconds}s.mp4"
    ffmpeg("-f", "lavfi", "-i", f"color=c=0x336699:size=64x64:rate=1:duration={seconds}",
           "-stream_loop", "-1", "-i", str(loop), "-t", str(seconds), "-map", "0:v", "-map", "1:a",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(out))  # fmt: skip
    return out


def index(video: Path, library: Path, fps: float, ocr: bool) -> dict:
    """`footage index` of one file in a child process: its peak RSS, CPU-seconds, wall time and report."""
    exe = shutil.which("footage", path=str(Path(sys.executable).parent)) or "footage"
    command = [exe, "--library", str(library), "index", str(video), "--fps", str(fps), "--ocr" if ocr else "--no-ocr"]
    started = time.monotonic()
    with open(library.parent / f"{library.name}.log", "w+") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            _, status, usage = os.wait4(child.pid, 0)
        except BaseException:
            child.kill()
            raise
        child.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        said = log.read()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {child.returncode}:\n{said[-2000:]}")
    return {
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux: MiB
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_s": round(time.monotonic() - started, 1),
        "report": said.strip().splitlines()[-3:],
    }


def narrated(clip: Path, rounds: int) -> dict:
    """Words Whisper writes on the clip, and the CPU-seconds of speech (median of `rounds`), in this process."""
    from footage.indexer.speech import Transcriber
    from footage.settings import DEFAULT_SPEECH

    with tempfile.TemporaryDirectory() as cache:
        hear = Transcriber(DEFAULT_SPEECH, Path(cache), threads=1)
        assert hear.whisper  # loaded before the clock starts
        times = []
        for _ in range(rounds):
            before = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
            cues = hear(clip)
            after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
            times.append(sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime for a, b in zip(after, before)))
    words = sum(len(re.findall(r"\w+", c.text)) for c in cues)
    return {"cues": len(cues), "words": words, "cpu_s_median": round(sorted(times)[len(times) // 2], 2),
            "cpu_s": [round(t, 2) for t in times]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=10.0)
    parser.add_argument("--minutes", type=float, default=10.0, help="the short file's length")
    parser.add_argument("--fps", type=float, default=1.0, help="frames the model is given per second")
    parser.add_argument("--ocr", action=argparse.BooleanOptionalAction, default=True, help="read on-screen text")
    parser.add_argument("--folder", type=Path, help="keep the files and libraries here (else a temporary folder)")
    parser.add_argument("--narrated", type=Path, help="only measure speech on this clip")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.narrated:
        print(json.dumps(narrated(args.narrated, args.rounds)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        loop = soundtrack(folder)
        results = {}
        for label, seconds in (("short", round(args.minutes * 60)), ("long", round(args.hours * 3600))):
            made = time.monotonic()
            video = make(folder, seconds, loop)
            made = round(time.monotonic() - made, 1)
            library = folder / f"library-{label}"
            shutil.rmtree(library, ignore_errors=True)
            results[label] = {"seconds_of_video": seconds, "made_s": made} | index(video, library, args.fps, args.ocr)
            print(json.dumps({label: results[label]}), flush=True)
        ratio = results["long"]["peak_rss_mb"] / results["short"]["peak_rss_mb"]
        print(json.dumps({"fps": args.fps, "ocr": args.ocr, "peak_ratio_long_to_short": round(ratio, 3)}))


if __name__ == "__main__":
    main()
