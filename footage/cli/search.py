"""Finding moments and saying what is in a video: `footage search`, `footage export` (search, and cut the hits
out) and `footage describe`."""

import json
from contextlib import nullcontext
from enum import Enum
from typing import Annotated

import typer
from rich.markup import escape

from footage import CHANNELS, MAX_FPS, MAX_TOP_K, PER_VIDEO, SEARCH_MODES, Filters, facets
from footage.cli.common import JsonOption, RerankOption, err, open_library, out, say, show_table
from footage.cli.format import NARROW, clean, events_table, hits_list, hits_table, plural
from footage.errors import BadValue

Mode = Enum("Mode", {m: m for m in SEARCH_MODES}, type=str)  # typer shows an Enum's values as the choices


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
    min_relevance: Annotated[
        float,
        typer.Option(
            "--min-relevance",
            min=0.0,
            max=1.0,
            help="Show only hits at least this relevant (0 to 1; 0: all that pass the cut-off).",
            metavar="R",
        ),
    ] = 0.0,
    cutoff: Annotated[
        bool,
        typer.Option(
            "--cutoff/--no-cutoff",
            help="Leave out what each channel found below its floor (a query that means nothing finds nothing); "
            "--no-cutoff shows every hit.",
        ),
    ] = True,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Only videos whose file was modified on or after this date (YYYY-MM-DD).", metavar="DATE"
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="... and on or before this date (YYYY-MM-DD).", metavar="DATE"),
    ] = None,
    min_length: Annotated[
        float | None, typer.Option("--min-length", min=0, help="Only videos this long or longer.", metavar="SECONDS")
    ] = None,
    max_length: Annotated[
        float | None,
        typer.Option("--max-length", min=0, help="Only videos this long or shorter.", metavar="SECONDS"),
    ] = None,
    video: Annotated[
        int | None, typer.Option("--video", min=0, help="Only this video (its id: footage videos --json).")
    ] = None,
    found_by: Annotated[
        list[str] | None,
        typer.Option(
            "--found-by",
            help=f"Only moments found by this channel ({', '.join(CHANNELS)}; repeat it for several).",
            metavar="CHANNEL",
        ),
    ] = None,
    show_facets: Annotated[
        bool,
        typer.Option(
            "--facets",
            help="Instead of the hits: how many of them each filter would keep (what found "
            "them, their videos' lengths, folders).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Find moments by describing them, or by a moment or a picture they look like. Hits are time ranges, best
    first, each with a caption and how well it matches.

    Example: footage search "rocket liftoff" --top-k 5 --json
    """
    if sum(x is not None for x in (query, like, image)) != 1:
        raise BadValue("search with words, or --like SEGMENT_ID, or --image FILE: one of them")
    filters = Filters(under, since, until, min_length, max_length, video, tuple(found_by or ()))
    captions = captions and not show_facets
    with open_library(ctx) as lib:
        if like is not None:
            hits = lib.search_like(like, top_k=top_k, captions=captions, offline=offline, filters=filters)
        elif image is not None:
            hits = lib.search_image(image, top_k=top_k, captions=captions, offline=offline, filters=filters)
        else:
            hits = lib.search(
                query,
                top_k=top_k,
                rerank=rerank,
                captions=captions,
                mode=mode.value,
                offline=offline,
                filters=filters,
                per_video=(per_video or None) if video is None else None,
                min_relevance=min_relevance,
                cutoff=cutoff,
            )
        empty = not hits and lib.stats().videos == 0
    title = query if query is not None else f"like segment {like}" if like is not None else f"like {image}"
    if show_facets:
        counts = facets(hits)
        if as_json:
            print(json.dumps(counts, indent=2))
        for kind, values in counts.items() if not as_json else ():
            for value, n in values.items():
                say(out, f"{kind}: ", "", f"{value}", f" {n}")
        return
    if as_json:
        print(json.dumps([h.to_dict() for h in hits], indent=2))
    elif hits:
        show_table(hits_list(title, hits) if out.is_terminal and out.width < NARROW else hits_table(title, hits))
    elif empty:
        err.print("no hits: the library is empty; run `footage index FOLDER` first", soft_wrap=True)
    else:
        where = "" if mode == Mode.all or query is None else f" in --mode {mode.value}"
        where += f" under {under}" if under else ""
        say(err, "no moments match", "", f" {title!r}{where}")


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
    with open_library(ctx) as lib, err.status("cutting clips", spinner="dots") if not as_json else nullcontext():
        written = lib.export(query, to, top_k=top_k, mode=mode.value, pad=pad)
    if as_json:
        print(json.dumps([str(p) for p in written], indent=2))
        return
    for path in written:
        say(out, "", "", path)
    out.print(f"wrote {plural(len(written), 'clip')}", soft_wrap=True)


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
    with open_library(ctx) as lib, spinner:
        events = lib.describe(video, uniform=uniform)
    if as_json:
        print(json.dumps([e.to_dict() for e in events], indent=2))
    else:
        show_table(events_table(str(video), events))
