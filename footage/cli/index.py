"""Putting videos in the library: `footage index` (files and folders) and `footage watch` (a live stream,
recorded and indexed as it goes)."""

import json
import math
import signal
import threading
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from footage import ALERT_HOLD_SECONDS, ALERT_THRESHOLD, MAX_FPS, SPEECH_MODELS
from footage.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_NOTHING_INDEXED,
    EXIT_TERMINATED,
    JsonOption,
    err,
    interrupted,
    open_library,
    out,
    say,
)
from footage.cli.format import clean, hms, plain, plural
from footage.errors import BadValue

SPEECH = (*SPEECH_MODELS, "off")
OFFLINE_SHOWN = 5  # offline videos named one by one; an unmounted drive may hold thousands

Speech = Enum("Speech", {m: m for m in SPEECH}, type=str)  # typer shows an Enum's values as the choices
Engine = Enum("Engine", {e: e for e in ("local", "ray")}, type=str)


def index(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Video files and folders (searched recursively).")],
    fps: Annotated[float, typer.Option(min=0.01, max=MAX_FPS, help="Frames per second fed to the model.")] = 1.0,
    backbone: Annotated[
        str | None,
        typer.Option(
            help="Models of a new library: bundled (offline, the default), bundled-lite1, bundled-lite2, siglip, "
            "siglip2, clip, vjepa2 (needs footage train), hf:ORG/NAME, or a folder holding a saved transformers "
            "model. Stored in the library; an existing library keeps its own.",
            show_default=False,
        ),
    ] = None,
    speech: Annotated[
        Speech | None,
        typer.Option(
            help="Transcribe speech with Whisper: tiny (English, the default), base (multilingual; needs "
            "footage[whisper-base]) or off. Stored in the library; another value reads every video again.",
            show_default=False,
        ),
    ] = None,
    ocr: Annotated[
        bool | None,
        typer.Option(
            "--ocr/--no-ocr",
            help="Read on-screen text (titles, credits, slides, signs) with PP-OCR; on by default. Stored in the "
            "library; switching it reads every video again.",
            show_default=False,
        ),
    ] = None,
    views: Annotated[
        list[str] | None,
        typer.Option(
            "--view",
            help="An indexing prompt (repeat for more, up to 8): each segment also gets a vector pooled with "
            "attention on it, and search scores a segment by its best vector. Stored in the library; other views "
            "recompute every vector from the cached frame tokens.",
            show_default=False,
        ),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Drop videos that are missing under PATHS even when their whole folder is gone or empty; without "
            "it those are kept offline (an unmounted drive looks like an empty folder).",
        ),
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(
            help="Where files are decoded and embedded: local (this process) or ray (workers on a Ray cluster, "
            "sized to its CPUs and GPUs; this process writes the library; needs Ray: footage's ray extra).",
        ),
    ] = Engine.local,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="With --engine ray: the Ray cluster to use (HOST:PORT, or ray://HOST:10001); its machines must see "
            "the videos at the same paths. Default: a Ray started on this machine for the run.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Index videos. Run it again at any time: unchanged files are skipped, changed ones and ones that failed
    before are read again, files deleted from an indexed folder are dropped, and files under a folder that is
    missing or emptied (a drive not mounted) are kept offline until they are back.

    Example: footage index ~/Videos ~/more/clip.mp4
    """
    lib = open_library(ctx, fps=fps, backbone=backbone)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        TextColumn("{task.fields[video]} of video"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    # Ctrl-C and SIGTERM are acted on between batches: Python raises KeyboardInterrupt wherever the main thread
    # happens to be, and inside a finaliser it is swallowed and the run goes on. A second signal stops at once.
    stopped: list[int] = []

    def on_signal(signum, frame) -> None:
        stopped.append(signum)
        if len(stopped) > 1:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Progress(*columns, console=err, transient=True, disable=as_json or not err.is_terminal) as bar:
            task = bar.add_task("indexing", total=None, video="0:00:00", rate="")
            first_frame: list[tuple[float, float]] = []  # (wall, video) seconds when frames first came in

            def show(p) -> None:
                if stopped:
                    raise KeyboardInterrupt
                if p.video_seconds and not first_frame:
                    first_frame.append((p.wall_seconds, p.video_seconds))
                rate = ""
                if first_frame and p.wall_seconds - first_frame[0][0] > 1:  # the rate since models loaded
                    speed = (p.video_seconds - first_frame[0][1]) / (p.wall_seconds - first_frame[0][0])
                    rate = f"{speed:.1f}x real time"
                name = clean(Path(p.current).name) if p.current else "scanning"
                name = f"{name[:28]}: {p.stage}" if p.stage != "pictures" else name[:40]
                bar.update(
                    task,
                    completed=p.files_done,
                    total=p.files_total,
                    description=escape(name),
                    video=hms(p.video_seconds),
                    rate=rate,
                )

            report = lib.index(
                paths,
                on_progress=show,
                speech=speech and speech.value,
                ocr=ocr,
                views=views,
                prune=prune,
                engine=engine.value,
                ray_address=ray_address,
            )
        if stopped:  # after the last batch: the run is complete, but the user asked to stop
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        code = EXIT_TERMINATED if stopped and stopped[0] == signal.SIGTERM else EXIT_INTERRUPTED
        interrupted("interrupted; what was indexed is kept, run the same command again to resume", code)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lib.close()
    nothing = not (report.indexed or report.unchanged or report.moved) and (
        report.missing or report.failed or report.offline
    )
    if as_json:
        print(json.dumps(asdict(report), indent=2))
        raise typer.Exit(EXIT_NOTHING_INDEXED if nothing else 0)
    for path in report.missing:
        say(err, "not found ", "yellow", path)
    for path, reason in report.failed:
        say(err, "skipping ", "yellow", path, ": ", reason)
    for path, what in report.warnings:
        say(err, "warning ", "yellow", path, ": ", what)
    for path in report.offline[:OFFLINE_SHOWN]:
        say(err, "offline ", "yellow", path, ": missing, and so is everything else in its folder")
    if len(report.offline) > OFFLINE_SHOWN:
        say(err, "offline ", "yellow", f"... and {len(report.offline) - OFFLINE_SHOWN} more")
    rate = report.video_seconds / report.wall_seconds if report.wall_seconds else 0.0
    parts = [
        f"indexed {plural(len(report.indexed), 'file')} ({hms(report.video_seconds)} of video in "
        f"{hms(report.wall_seconds)}, {rate:.1f}x real time)"
        if report.indexed
        else "nothing new to index"
    ]
    parts += [f"{report.unchanged} unchanged"] if report.unchanged else []
    parts += [f"{len(report.moved)} moved"] if report.moved else []
    parts += [f"{len(report.online)} back online"] if report.online else []
    parts += [f"{len(report.removed)} removed"] if report.removed else []
    parts += [f"{len(report.offline)} offline"] if report.offline else []
    parts += [f"{len(report.failed)} failed"] if report.failed else []
    parts += [f"{len(report.missing)} not found"] if report.missing else []
    out.print(", ".join(parts), soft_wrap=True)
    if report.offline:
        err.print(
            "offline videos are kept but not searched: index again once their drive is back, or drop them with "
            "`footage index --prune PATH`",
            soft_wrap=True,
        )
    if nothing:
        raise typer.Exit(EXIT_NOTHING_INDEXED)


def watch(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(help="A live source: udp://, rtp://, rtsp://, srt://, an HLS .m3u8, /dev/video0; or a file."),
    ],
    alert: Annotated[
        list[str] | None,
        typer.Option("--alert", help="A standing query: say when it starts and stops matching (repeatable)."),
    ] = None,
    threshold: Annotated[float, typer.Option(help="Score from which a standing query matches.")] = ALERT_THRESHOLD,
    hold: Annotated[
        float,
        typer.Option(min=0, max=3600, help="Seconds a query must stay under the threshold for its alert to end."),
    ] = ALERT_HOLD_SECONDS,
    fps: Annotated[float, typer.Option(min=0.001, max=MAX_FPS, help="Frames looked at per second.")] = 1.0,
    realtime: Annotated[bool, typer.Option(help="Play a file at its own speed, as if it were live.")] = False,
    webhook: Annotated[
        str | None, typer.Option(help="POST each message as JSON to this URL too (retried, never blocking).")
    ] = None,
    index: Annotated[
        bool | None,
        typer.Option(
            "--index/--no-index",
            help="Record the stream into the library (a file a minute) and index each file. Default: on with "
            "--library.",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[
        str | None, typer.Option(help="Delete recordings older than this: 90m, 24h, 7d.", metavar="AGE")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Watch a live stream: events (stretches of stable meaning, captioned once each) and alerts (standing
    queries starting and stopping to match) as they happen, until Ctrl-C. A dropped stream is reconnected,
    and the gap is said when pictures come back.

    Example: footage watch udp://127.0.0.1:5000 --alert "a person at the door" --json
    """
    stop, stopped_by = threading.Event(), []

    def on_signal(sig: int, _frame) -> None:  # kept to the end: a second signal (SIGTERM to the whole process
        stopped_by.append(sig)  # group, as timeout and systemd send it) changes nothing
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    def show(message: dict) -> None:
        if as_json:
            print(json.dumps(message), flush=True)
            return
        kind = {"event": "event", "alert": "ALERT", "alert_end": "alert end", "gap": "gap"}[message["type"]]
        what = f"{message['query']!r} " if "query" in message else ""
        score = f"{message['score']:.2f} " if "score" in message else ""
        until = f"-{hms(message['end'])}" if "end" in message else ""
        caption = message.get("caption", "")
        out.print(plain(f"{hms(message['start'])}{until}  {kind:9}  {what}{score}{caption}"), soft_wrap=True)

    record = ctx.obj.given if index is None else index
    if keep is not None and not record:
        raise BadValue("--keep is about recordings: give --library (or --index) too")
    with open_library(ctx) as lib:
        said = lambda m: say(err, "", "", m)  # noqa: E731
        age = seconds_of(keep) if keep is not None else None
        lib.watch(source, alert or [], show, threshold, fps, realtime, stop, said, webhook, record, age, hold)
    if stopped_by:  # stopped cleanly (the event under way closed and printed, webhooks flushed): said as such
        raise typer.Exit(EXIT_TERMINATED if stopped_by[0] == signal.SIGTERM else EXIT_INTERRUPTED)


def seconds_of(age: str) -> float:
    """'90m', '24h', '7d', '30s' or a number of seconds -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = age.strip().lower()
    try:
        value = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise BadValue(f"--keep {age!r}: an age such as 90m, 24h or 7d")
    return value
