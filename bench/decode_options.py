"""What ffmpeg offers for decoding less, on the sample footage: CPU and wall seconds of each way.

    python bench/decode_options.py FOLDER

Each row decodes every clip to 224x224 RGB at 1 frame/s (the indexer's select and scale filters), output
dropped, and prints ffmpeg's CPU seconds (user + system) and wall seconds:
  full              no skipping, ffmpeg's own thread count
  noref             non-reference frames skipped
  noref + noloop    ... and the deblocking filter (footage, with 1 thread on 2 cores)
  ... 1 thread      the same on one decoding thread
  ... lowres 1      at half resolution where the codec can (MPEG-4 part 2, MJPEG...; H.264 cannot)
  2 at once         footage's command on one thread, two files at a time, against one at a time
  seek per tick     the longest clip sampled by seeking to each tick (`-ss T -frames:v 1`), against decoding
                    through: per sample, on 20 ticks
"""

import argparse
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SELECT = "select='isnan(prev_selected_t)+gt(floor(t+0.001),floor(prev_selected_t+0.001))',scale=224:224"


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def decode(path: Path, options: list[str], vf: str = SELECT) -> None:
    args = ["ffmpeg", "-nostdin", "-v", "quiet", *options, "-i", str(path), "-map", "0:v:0", "-vf", vf]
    subprocess.run([*args, "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", "/dev/null"])


def timed(run) -> tuple[float, float]:
    c, t = cpu(), time.perf_counter()
    run()
    return cpu() - c, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    clips = sorted(p for p in args.folder.iterdir() if p.name.startswith("clip-"))
    if not clips:
        sys.exit(f"no clip-* files in {args.folder}")
    footage = ["-skip_frame", "noref", "-skip_loop_filter", "all"]
    rows = [
        ("full", []),
        ("noref", ["-skip_frame", "noref"]),
        ("noref + noloop", footage),
        ("... 1 thread", [*footage, "-threads", "1"]),
        ("... lowres 1", [*footage, "-threads", "1", "-lowres", "1"]),
    ]
    print(f"{'':18}{'CPU s':>8}{'wall s':>8}")
    for name, options in rows:
        c, w = timed(lambda options=options: [decode(p, options) for p in clips])
        print(f"{name:18}{c:8.2f}{w:8.2f}", flush=True)
    one = [*footage, "-threads", "1"]
    c, w = timed(lambda: [decode(p, one) for p in clips])
    print(f"{'1 at a time':18}{c:8.2f}{w:8.2f}")
    with ThreadPoolExecutor(2) as pool:
        c, w = timed(lambda: list(pool.map(lambda p: decode(p, one), clips)))
    print(f"{'2 at once':18}{c:8.2f}{w:8.2f}")

    longest = max(clips, key=lambda p: p.stat().st_size)
    ticks = range(100, 120)
    c, w = timed(lambda: [decode(longest, ["-ss", str(t), *one], "scale=224:224,trim=end_frame=1") for t in ticks])
    through_c, through_w = timed(lambda: decode(longest, one))
    probe = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(longest)]
    seconds = float(subprocess.run(probe, capture_output=True, text=True).stdout)
    print(f"\nseek per tick on {longest.name}: {1000 * c / len(ticks):.0f} ms CPU a sample; decoding through, "
          f"{1000 * through_c / seconds:.0f} ms CPU a sample at 1 frame/s")  # fmt: skip


if __name__ == "__main__":
    main()
