"""Looking after a library: `footage stats`, `footage eval` and `footage train` (measure and fit search on
labelled moments, or on marks: feedback.py), `footage remove` and `footage repair`."""

import json
import sys
from contextlib import nullcontext
from dataclasses import asdict
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from footage import Library
from footage.cli.common import JsonOption, RerankOption, err, fail, open_library, out, say, show_table
from footage.cli.format import plain, plural, stats_table
from footage.errors import BadValue, FootageError


def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """What the library holds: videos, segments, hours indexed, offline and partial videos, and files that
    failed with the reason.

    Example: footage stats --json
    """
    with open_library(ctx) as lib:
        s = lib.stats()
    if as_json:
        print(json.dumps(asdict(s), indent=2))
        return
    show_table(stats_table(s))
    for path in s.offline:
        say(out, "offline ", "yellow", path)
    for path, warning in s.partial:
        say(out, "partial ", "yellow", path, ": ", warning.removeprefix("partial: "))
    for path, reason in s.failures:
        say(out, "failed ", "red", path, ": ", reason)


def evaluate(
    ctx: typer.Context,
    pairs: Annotated[str, typer.Argument(help="JSON Lines file of labelled moments: path, start, end, text.")],
    rerank: RerankOption = False,
    as_json: JsonOption = False,
) -> None:
    """Measure search on labelled moments: R@1, R@5 and MRR (the right moment's rank, averaged as 1/rank).

    Example: footage eval bench/data/pairs.jsonl
    """
    with open_library(ctx) as lib:
        scores = lib.evaluate(pairs, rerank=rerank)
    if as_json:
        print(json.dumps(asdict(scores), indent=2))
        return
    _skipped(scores.skipped)
    out.print(f"{plural(scores.pairs, 'pair')}   R@1 {scores.r1:.3f}   R@5 {scores.r5:.3f}   MRR {scores.mrr:.3f}")


def _skipped(videos: list[str]) -> None:
    if videos:
        say(err, "warning ", "yellow", f"pairs of {plural(len(videos), 'video')} not in the library left out: ")
        for path in videos:
            say(err, "  ", "", path)


def train(
    ctx: typer.Context,
    pairs: Annotated[
        str | None,
        typer.Argument(help="JSON Lines file of labelled moments: path, start, end, text (not with --from-feedback)."),
    ] = None,
    from_feedback: Annotated[
        bool,
        typer.Option(
            "--from-feedback",
            help="Train on your marks (footage mark): each moment marked right for its query. Wrong marks are not "
            "trained on.",
        ),
    ] = False,
    epochs: Annotated[int, typer.Option(min=1, max=100_000, help="Passes over the training pairs.")] = 100,
    holdout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of pairs held out to judge the result.")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the held-out split.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Fit the predictor to your own labelled moments, or to your marks on search hits (videos already indexed:
    nothing is decoded again). The new predictor is kept only if held-out retrieval does not get worse; then
    every vector is recomputed.

    Example: footage train my-moments.jsonl --epochs 100 --holdout 0.2; footage train --from-feedback
    """
    if (pairs is None) == (not from_feedback):
        raise BadValue("train on a PAIRS file or --from-feedback (your marks): one of them")
    with (
        open_library(ctx) as lib,
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
        on_epoch = lambda epoch, loss: bar.update(task, completed=epoch + 1, loss=f"{loss:.3f}")  # noqa: E731
        if from_feedback:
            report = lib.train_from_feedback(epochs=epochs, holdout=holdout, seed=seed, on_epoch=on_epoch)
        else:
            report = lib.train(pairs, epochs=epochs, holdout=holdout, seed=seed, on_epoch=on_epoch)
    if as_json:
        print(json.dumps({**asdict(report), "summary": report.summary}, indent=2))
        return
    if from_feedback:  # what changed, in one line
        _skipped(report.skipped)
        out.print(report.summary, soft_wrap=True)
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
            say(err, "  ", "", p)
        if len(paths) > 10:
            err.print(f"  ... and {len(paths) - 10} more")
        if typer.confirm(f"remove these {len(paths)} videos from the library?", err=True):
            return True
        declined.append(True)
        return False

    with open_library(ctx) as lib:
        gone = lib.remove(path, dry_run=dry_run, confirm=confirm)
    if as_json:
        print(json.dumps(gone, indent=2))
    elif declined:
        err.print("nothing removed")
    elif dry_run:
        for p in gone:
            say(out, "", "", p)
        out.print(f"{plural(len(gone), 'video')} would be removed")
    elif gone:
        out.print(f"removed {plural(len(gone), 'video')} from the library")
    if not gone and not declined:
        fail(Text.assemble(plain(path), ": nothing in the library is at or under this path"))


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
        say(out, "", "", done.library, ": the database is PostgreSQL, ", done.database, ": ", said, vectors)
        return
    if not done.damaged:
        say(out, "", "", done.library, ": the database is whole; nothing to repair")
        return
    say(out, "repaired ", "green", done.library, f" ({done.problem})")
    say(out, "", "", "the damaged database is kept as ", done.kept_as)
    marks = f", {plural(done.marks, 'mark')}" if done.marks else ""  # people's marks on hits, kept with their videos
    out.print(
        f"recovered {plural(done.videos, 'video')} ({done.segments} segments, {done.text_chunks} text chunks{marks})",
        soft_wrap=True,
    )
    if done.dropped:
        out.print(f"{plural(len(done.dropped), 'video')} could not be recovered whole; index their folders again:")
        for path in done.dropped:
            say(out, "  ", "", path)
