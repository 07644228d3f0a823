"""footage watch on a live stream over the loopback: alert latency, whether it keeps up, captions per minute.

    python bench/watch.py [--seconds 60] [--footage FILM]
    python bench/watch.py --between CLIP --subject CLIP --alert "a white bird"

A stream is made of real pictures: a rocket (a scikit-image photo) and something else take turns, SHOT
seconds each: a cat photo, or with --footage consecutive stretches of that film (moving footage, which costs
the decoder what a camera does); H.264 1280x720 at 25 fps with a keyframe a second, sent to udp://127.0.0.1
at its own speed by ffmpeg (-re).
`footage watch --alert "a rocket launch" --json` runs on it as a user would (a process of its own), and:
  latency    from each rocket's first frame on the wire (sender start + its time in the clip) to the
             alert's line on stdout; the largest one is the backlog the watcher ever had
  CPU        the watcher's CPU seconds (Python and its ffmpeg) over the stream's seconds, as a share of the
             machine's cores
  captions   captions written per minute (one per event, one per alert) against uniform 1 Hz decoding (60)

With --between and --subject, the stream is those clips instead (between, subject, between again, each whole,
H.264 1280x720 25 fps), and what is counted is the alerts --alert raises: one while the subject is on, none
on the rest, is right (e.g. the tree of Debian's opencv-doc, tree.avi, and the cockatoo of python3-imageio,
cockatoo.mp4, with --alert "a white bird"; see /work/shared/media-sources.md).
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from media import PHOTOS, photo_video  # noqa: E402

SHOT = 5


def cpu_seconds(pid: int) -> float:
    """CPU of a process and its children that have ended or are running (ffmpeg)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for task in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{task}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / tick  # utime, stime, cutime, cstime
    return total


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def film(clip: Path, shots, rocket, footage: Path, tmp: Path) -> None:
    """The shots as one H.264 file: the rocket photo, or the film's stretch at that time."""
    encode = ["-vf", "scale=1280:720,fps=25,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25"]
    pieces, t = [], 0
    for k, (name, seconds) in enumerate(shots):
        piece = tmp / f"{k:03d}.mp4"
        if name == "rocket":
            photo_video(piece, [("rocket", seconds, rocket)], size="1280x720", fps=25, extra=("-g", "25"))
        else:
            source = ["-ss", str(t), "-t", str(seconds), "-i", str(footage)]
            subprocess.run(["ffmpeg", "-v", "error", *source, "-an", *encode, str(piece)], check=True)
        pieces.append(piece)
        t += seconds
    (tmp / "list.txt").write_text("".join(f"file '{p}'\n" for p in pieces))
    concat = ["-f", "concat", "-safe", "0", "-i", str(tmp / "list.txt"), "-c", "copy", str(clip)]
    subprocess.run(["ffmpeg", "-v", "error", *concat], check=True)


def seconds_of(clip: Path) -> float:
    probe = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(clip)]
    return float(subprocess.run(probe, capture_output=True, text=True, check=True).stdout)


def sandwich(clip: Path, between: Path, subject: Path, tmp: Path) -> tuple[float, float]:
    """between, subject, between as one H.264 file; returns when the subject starts and ends in it."""
    encode = ["-vf", "scale=1280:720,setsar=1,fps=25,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast"]
    pieces = []
    for k, source in enumerate([between, subject]):
        piece = tmp / f"{k}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-an", *encode, "-g", "25", str(piece)], check=True)
        pieces.append(piece)
    (tmp / "list.txt").write_text("".join(f"file '{p}'\n" for p in [pieces[0], pieces[1], pieces[0]]))
    concat = ["-f", "concat", "-safe", "0", "-i", str(tmp / "list.txt"), "-c", "copy", str(clip)]
    subprocess.run(["ffmpeg", "-v", "error", *concat], check=True)
    start = seconds_of(pieces[0])
    return start, start + seconds_of(pieces[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60, help="length of the stream")
    parser.add_argument("--footage", type=Path, help="a film whose stretches take turns with the rocket")
    parser.add_argument("--show", action="store_true", help="print every message with its time in the stream")
    parser.add_argument("--between", type=Path, help="a clip shown before and after --subject")
    parser.add_argument("--subject", type=Path, help="a clip that --alert should match, once")
    parser.add_argument("--alert", default="a rocket launch", help="the standing query")
    parser.add_argument("--watch-args", default="", help="more options for footage watch (e.g. '--threshold 0.3')")
    args = parser.parse_args()
    photos = dict((n, f) for n, _, f in PHOTOS)
    shots = [("cat" if k % 2 == 0 else "rocket", SHOT) for k in range(args.seconds // SHOT)]
    rockets = [k * SHOT for k, (name, _) in enumerate(shots) if name == "rocket"]
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "stream.mp4"
        if args.subject:
            subject_span = sandwich(clip, args.between, args.subject, Path(tmp))
        elif args.footage:
            film(clip, shots, photos["rocket"], args.footage, Path(tmp))
        else:
            photo_video(clip, [(n, s, photos[n]) for n, s in shots], size="1280x720", fps=25, extra=("-g", "25"))
        ts = Path(tmp) / "stream.ts"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-c", "copy", "-f", "mpegts", str(ts)], check=True)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        watcher = subprocess.Popen(
            ["footage", "--library", str(Path(tmp) / "lib"), "watch", f"udp://127.0.0.1:{port}",
             "--alert", args.alert, "--json", *args.watch_args.split()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        ready = threading.Event()
        threading.Thread(
            target=lambda: [ready.set() for line in watcher.stderr if "watching" in line], daemon=True
        ).start()
        lines: list[tuple[float, dict]] = []
        threading.Thread(
            target=lambda: [lines.append((time.time(), json.loads(line))) for line in watcher.stdout], daemon=True
        ).start()
        if not ready.wait(120):
            sys.exit("footage watch did not start")
        time.sleep(0.5)
        cpu_before, started = cpu_seconds(watcher.pid), time.time()
        sender = ["ffmpeg", "-nostdin", "-v", "error", "-re", "-i", str(ts), "-c", "copy", "-f", "mpegts"]
        subprocess.run([*sender, f"udp://127.0.0.1:{port}?pkt_size=1316"], check=True)
        stream_s = time.time() - started
        cpu = cpu_seconds(watcher.pid) - cpu_before
        time.sleep(1)
        watcher.terminate()
        watcher.wait(30)
    alerts = [at for at, m in lines if m["type"] == "alert"]
    if args.show:
        for at, m in lines:
            print(f"  {at - started:6.2f}  {m}")
    if args.subject:
        a, b = subject_span
        print(f"stream: {stream_s:.1f} s of H.264 1280x720 at 25 fps, {args.subject.name} from {a:.1f} to {b:.1f} s")
        on = [m for _, m in lines if m["type"] == "alert"]
        ends = {m["start"]: m["end"] for _, m in lines if m["type"] == "alert_end"}
        shift = min(m["start"] for _, m in lines) if lines else 0.0  # watch's clock -> the stream's: its first frame
        print(f"alerts for {args.alert!r}: {len(on)} (times in the stream, from watch's first frame)")
        for m in on:
            at, end = m["start"] - shift, ends.get(m["start"], float("nan")) - shift
            where = (
                "on the subject" if a - 1 <= at <= b + 1
                else f"from {a - at:.1f} s before the subject into it" if at < a < end
                else "elsewhere"
            )  # fmt: skip
            print(f"  {at:5.1f}-{end:5.1f} s  {where}  first score {m['score']:.2f}  {m['caption']!r}")
        return
    latencies = [
        min((a - (started + r) for a in alerts if a >= started + r - 0.5), default=float("nan")) for r in rockets
    ]
    captions = sum(m["type"] in ("event", "alert") for _, m in lines)
    print(f"stream: {stream_s:.0f} s of H.264 1280x720 at 25 fps, a rocket every {2 * SHOT} s ({len(rockets)} in all)")
    print(f"alerts: {len(alerts)} for {len(rockets)} rockets")
    print("latency s: " + " ".join(f"{x:.2f}" for x in latencies) + f"   (largest {max(latencies):.2f})")
    cores = os.cpu_count() or 1
    per_minute = captions / stream_s * 60
    print(f"CPU: {cpu:.1f} s over {stream_s:.0f} s = {cpu / stream_s / cores:.0%} of {cores} cores")
    print(
        f"captions: {captions} = {per_minute:.0f} a minute, against 60 at 1 Hz ({60 / max(per_minute, 1):.1f}x fewer)"
    )


if __name__ == "__main__":
    main()
