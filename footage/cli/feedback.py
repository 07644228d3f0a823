"""A person's marks on search hits: `footage mark` (this moment was right, or wrong, for this query), `footage
marks` and `footage unmark`. `footage train --from-feedback` (manage.py) learns from the right ones."""

import json
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from footage.cli.common import JsonOption, err, open_library, out, say, show_table
from footage.cli.format import hms, plain, short_names
from footage.errors import BadValue

# seconds (6, 6.5), m:ss or h:mm:ss (0:00:06, as `footage search` shows times), each with a fraction if need be
TIME = re.compile(r"(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?)")


def seconds(text: str) -> float:
    """A time as typed: "6.5" -> 6.5, "1:05" -> 65.0, "0:01:05.5" -> 65.5."""
    found = TIME.fullmatch(text.strip())
    hours, minutes, secs = found.groups() if found else (None, None, None)
    if not found or (minutes is not None and float(secs) >= 60) or (hours is not None and int(minutes) >= 60):
        raise BadValue(f"{text!r}: not a time; give seconds (6.5) or h:mm:ss (0:00:06.5)")
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs)


def shown(t: float) -> str:
    return hms(t, 1 if t % 1 else 0)


def mark(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="The search the moment was found for.")],
    video: Annotated[str, typer.Argument(help="The video: the path of an indexed video, or its id.")],
    start: Annotated[str, typer.Argument(help="Where the moment starts: seconds, or h:mm:ss as search shows it.")],
    end: Annotated[str, typer.Argument(help="Where it ends.")],
    right: Annotated[
        bool | None,
        typer.Option(
            "--right/--wrong", help="The moment is what the query looks for, or it is not.", show_default=False
        ),
    ] = None,
    segment: Annotated[
        int | None, typer.Option("--segment", min=0, help="The hit's segment id (a note kept with the mark).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Mark a moment a search found as right or wrong for the query. Marking the same query and moment again
    replaces the mark; `footage train --from-feedback` learns from the right ones.

    Example: footage mark "a cup of coffee" ~/Videos/cafe.mp4 0:00:06 0:00:11 --right
    """
    if right is None:
        raise BadValue("say whether the moment is right or wrong for the query: --right or --wrong")
    # an id, unless a file of that name is there (a video called 12)
    which: int | str = int(video) if video.isdigit() and not Path(video).exists() else video
    with open_library(ctx) as lib:
        done = lib.mark(query, which, seconds(start), seconds(end), right, segment_id=segment)
    if as_json:
        print(json.dumps(asdict(done), indent=2))
        return
    verdict = ("right", "green") if done.right else ("wrong", "red")
    say(out, f"marked {verdict[0]}", verdict[1], f" (mark {done.id}): ", repr(done.query), " at ", done.path,
        f" {shown(done.start)}-{shown(done.end)}")  # fmt: skip


def marks(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the marks on search hits, newest first.

    Example: footage marks --json
    """
    with open_library(ctx) as lib:
        found = lib.marks()
    if as_json:
        print(json.dumps([asdict(m) for m in found], indent=2))
        return
    if not found:
        err.print("no marks yet; `footage mark QUERY VIDEO START END --right` (or --wrong) makes one", soft_wrap=True)
        return
    table = Table(show_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("mark", no_wrap=True)
    table.add_column("query", overflow="fold", ratio=2)
    table.add_column("video", overflow="fold", ratio=2)
    table.add_column("from", justify="right", no_wrap=True)
    table.add_column("to", justify="right", no_wrap=True)
    table.add_column("marked", no_wrap=True)
    names = short_names([m.path for m in found])
    for m in found:
        verdict = plain("right", "green") if m.right else plain("wrong", "red")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.created_at))
        table.add_row(str(m.id), verdict, plain(m.query), plain(names[m.path]), shown(m.start), shown(m.end), when)
    show_table(table)


def unmark(ctx: typer.Context, mark_id: Annotated[int, typer.Argument(help="The mark's id (footage marks).")]) -> None:
    """Drop a mark.

    Example: footage unmark 3
    """
    with open_library(ctx) as lib:
        lib.unmark(mark_id)
    out.print(f"mark {mark_id} dropped")
