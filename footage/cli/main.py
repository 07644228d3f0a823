"""The `footage` command: a thin layer over footage.Library. Each command is one library call."""

import json
import signal
import sys
from contextlib import nullcontext
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from footage import __version__
from footage.cli.format import events_table, hits_table, hms, stats_table
from footage.errors import FootageError
from footage.library import Library, default_path
from footage.search.search import MODES

Mode = Enum("Mode", {m: m for m in MODES}, type=str)  # typer shows an Enum's values as the choices
app = typer.Typer(
    help="Semantic search over your videos, offline. Index a folder, then find moments by describing them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

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
def main(
    ctx: typer.Context,
    library: Annotated[
        Path | None,
        typer.Option(
            "--library",
            "-l",
            envvar="FOOTAGE_LIBRARY",
            show_default="~/.footage",
            help="Folder that holds the index (SQLite database, FAISS index, thumbnails).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Semantic search over your videos, offline.

    Example: footage index ~/Videos && footage search "a dog lying on a tiled floor"
    """
    ctx.obj = library or default_path()


def _open(ctx: typer.Context, **kwargs) -> Library:
    return Library(ctx.obj, **kwargs)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def index(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Video files and folders (searched recursively).")],
    fps: Annotated[float, typer.Option(min=0.01, help="Frames per second fed to the model.")] = 1.0,
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
        str | None,
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
            help="Read on-screen text (titles, signs, slides) with Tesseract: about 6x real time, so off by "
            "default. Stored in the library; switching it reads every video again.",
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
    as_json: JsonOption = False,
) -> None:
    """Index videos. Run it again at any time: unchanged files are skipped, changed ones re-indexed, and
    files deleted from an indexed folder dropped.

    Example: footage index ~/Videos ~/more/clip.mp4
    """
    lib = _open(ctx, fps=fps, backbone=backbone, views=views, speech=speech, ocr=ocr)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        TextColumn("{task.fields[video]} of video"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    # Ctrl-C is acted on between batches: Python raises KeyboardInterrupt wherever the main thread happens to
    # be, and inside a finaliser it is swallowed and the run goes on. A second Ctrl-C stops at once.
    interrupted: list[int] = []

    def on_sigint(signum, frame) -> None:
        interrupted.append(signum)
        if len(interrupted) > 1:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with Progress(*columns, console=err, transient=True, disable=as_json) as bar:
            task = bar.add_task("indexing", total=None, video="0:00:00", rate="")
            first_frame: list[tuple[float, float]] = []  # (wall, video) seconds when frames first came in

            def show(p) -> None:
                if interrupted:
                    raise KeyboardInterrupt
                if p.video_seconds and not first_frame:
                    first_frame.append((p.wall_seconds, p.video_seconds))
                rate = ""
                if first_frame and p.wall_seconds - first_frame[0][0] > 1:  # the rate since models loaded
                    speed = (p.video_seconds - first_frame[0][1]) / (p.wall_seconds - first_frame[0][0])
                    rate = f"{speed:.1f}x real time"
                name = Path(p.current).name if p.current else "scanning"
                name = f"{name[:28]}: speech" if p.stage == "speech" else name
                bar.update(
                    task,
                    completed=p.files_done,
                    total=p.files_total,
                    description=name[:40],
                    video=hms(p.video_seconds),
                    rate=rate,
                )

            report = lib.index(paths, on_progress=show)
        if interrupted:  # after the last batch: the run is complete, but the user asked to stop
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        _fail("interrupted; what was indexed is kept, run the same command again to resume", 130)
    finally:
        signal.signal(signal.SIGINT, previous)
        lib.close()
    if as_json:
        print(json.dumps(asdict(report), indent=2))
        return
    for path, reason in report.failed:
        err.print(f"[yellow]skipping[/yellow] {path}: {reason}", highlight=False, soft_wrap=True)
    for path, what in report.warnings:
        err.print(f"[yellow]warning[/yellow] {path}: {what}", highlight=False, soft_wrap=True)
    rate = report.video_seconds / report.wall_seconds if report.wall_seconds else 0.0
    parts = [
        f"indexed {len(report.indexed)} files ({hms(report.video_seconds)} of video in "
        f"{hms(report.wall_seconds)}, {rate:.1f}x real time)"
    ]
    parts += [f"{report.unchanged} unchanged"] if report.unchanged else []
    parts += [f"{len(report.moved)} moved"] if report.moved else []
    parts += [f"{len(report.removed)} removed"] if report.removed else []
    parts += [f"{len(report.failed)} failed"] if report.failed else []
    out.print(", ".join(parts), highlight=False)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many hits to show.")] = 10,
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
    as_json: JsonOption = False,
) -> None:
    """Find moments by describing them. Hits are time ranges, best first, each with a caption.

    Example: footage search "rocket liftoff" --top-k 5 --json
    """
    with _open(ctx) as lib:
        hits = lib.search(query, top_k=top_k, rerank=rerank, captions=captions, mode=mode.value)
    if as_json:
        print(json.dumps([h.to_dict() for h in hits], indent=2))
    elif hits:
        out.print(hits_table(query, hits))
    else:
        out.print("no hits: the library is empty; run `footage index FOLDER` first")


@app.command()
def describe(
    ctx: typer.Context,
    video: Annotated[Path, typer.Argument(help="The video: indexed (read from the library) or not (decoded).")],
    uniform: Annotated[
        float | None,
        typer.Option(min=0.001, help="Caption every 1/HZ seconds instead of once per event.", metavar="HZ"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """A video's timeline of events, one caption each: the frames' meaning is followed over time and text is
    decoded once per stretch where it holds still (selective decoding).

    Example: footage describe ~/Videos/holiday.mp4 --json
    """
    with _open(ctx) as lib, err.status(f"describing {video}", spinner="dots") if not as_json else nullcontext():
        events = lib.describe(video, uniform=uniform)
    if as_json:
        print(json.dumps([e.to_dict() for e in events], indent=2))
    else:
        out.print(events_table(str(video), events))


@app.command()
def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """What the library holds: videos, segments, hours indexed, and files that failed with the reason.

    Example: footage stats --json
    """
    with _open(ctx) as lib:
        s = lib.stats()
    if as_json:
        print(json.dumps(asdict(s), indent=2))
        return
    out.print(stats_table(s))
    for path, reason in s.failures:
        out.print(f"failed {path}: {reason}", highlight=False, soft_wrap=True)


@app.command(name="eval")
def evaluate(
    ctx: typer.Context,
    pairs: Annotated[Path, typer.Argument(help="JSON Lines file of labelled moments: path, start, end, text.")],
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
    else:
        out.print(f"{scores.pairs} pairs   R@1 {scores.r1:.3f}   R@5 {scores.r5:.3f}   MRR {scores.mrr:.3f}")


@app.command()
def train(
    ctx: typer.Context,
    pairs: Annotated[Path, typer.Argument(help="JSON Lines file of labelled moments: path, start, end, text.")],
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training pairs.")] = 100,
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
            disable=as_json,
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
    path: Annotated[Path, typer.Argument(help="A file, or a folder: everything indexed under it goes.")],
    as_json: JsonOption = False,
) -> None:
    """Drop a file or a folder from the library (the files themselves are not touched).

    Example: footage remove ~/Videos/old
    """
    with _open(ctx) as lib:
        gone = lib.remove(path)
    if as_json:
        print(json.dumps(gone, indent=2))
    elif gone:
        out.print(f"removed {len(gone)} files from the library", highlight=False)
    else:
        _fail(f"{path}: nothing in the library is at or under this path")


def run() -> None:
    """Console-script entry point: library errors become one line on stderr and exit code 1."""
    try:
        app()
    except FootageError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)
