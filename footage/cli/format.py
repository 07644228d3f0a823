"""How the CLI shows things to people: h:mm:ss times, tables, and text that is safe to print.

Everything shown that is not ours (paths, subtitles, queries, reasons from ffmpeg) goes through `clean` and
into Rich as `Text`, never as markup: a folder named `x[/y]` must print as itself, and a file name holding
an escape sequence must not clear the screen. `--json` prints the raw values; JSON escapes them.
"""

import re
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from footage import Hit, Stats

# C0 and C1 control characters, and the invisible marks that reorder text (a name can hide its extension
# behind U+202E, RIGHT-TO-LEFT OVERRIDE)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
NARROW = 60  # columns under which hits are listed one under another instead of in a table
# Hit.relevance in words: 1 is as close as the tuning half's right first answers, 0 the floor of the channel
MATCH = ((2 / 3, "strong"), (1 / 3, "good"), (0.0, "weak"))
WORDS_FROM = {"speech": "said", "subtitles": "subtitles", "on-screen": "on screen"}
QUOTED = 100  # characters of a hit's words shown


def clean(value: object) -> str:
    """A string safe for a terminal: control characters shown as escapes (\\x1b, \\n), and bytes that are not
    UTF-8 in a file name (held as surrogates) as \\xNN."""
    value = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), value)


def plain(value: object, style: str = "") -> Text:
    """User text as a Rich Text: printed as it is, never read as markup."""
    return Text(clean(value), style=style)


def plural(n: int, word: str) -> str:
    """plural(1, "file") -> '1 file'; plural(3, "file") -> '3 files'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def hms(seconds: float, decimals: int = 0) -> str:
    """65.4 -> '0:01:05' (or '0:01:05.4' with decimals=1)."""
    seconds = max(0.0, seconds)
    whole = int(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    out = f"{h}:{m:02d}:{s:02d}"
    if decimals:
        out += f"{seconds - whole:.{decimals}f}"[1:]
    return out


def _number_column(table: Table, name: str, width: int) -> None:
    """Scores and times are never cut or wrapped, however narrow the terminal: paths and captions fold."""
    table.add_column(name, justify="right", no_wrap=True, min_width=width, overflow="ignore")


def short_names(paths: list[str]) -> dict[str, str]:
    """Each path by its file name, with as many parent folders as it takes to tell it from the others shown
    ("clip.mp4", or "2019/clip.mp4" and "2020/clip.mp4"); the full paths are in --json."""
    parts = {p: Path(p).parts for p in set(paths)}
    out = {}
    for p, mine in parts.items():
        n = 1
        while n < len(mine) and any(q != p and parts[q][-n:] == mine[-n:] for q in parts):
            n += 1
        out[p] = "/".join(mine[-n:])
    return out


def match(hit: Hit) -> str:
    """How well a hit matches, in a word; a search by a picture or a segment has no relevance: its cosine."""
    if hit.relevance is None:
        return f"{hit.score:.3f}"
    return next(word for least, word in MATCH if hit.relevance >= least)


def words(hit: Hit) -> Text | None:
    """The words said, subtitled or shown during a hit, on a line of their own after what found them."""
    if not hit.transcript:
        return None
    quote = hit.transcript if len(hit.transcript) <= QUOTED else hit.transcript[:QUOTED] + "..."
    line = Text(f"{WORDS_FROM.get(hit.words_from, 'words')}: ", style="dim")
    return line + plain(f'"{quote}"')


def described(hit: Hit) -> Text:
    """A hit's caption, and its words on the next line."""
    said = words(hit)
    if not said:
        return plain(hit.caption or "")
    return plain(hit.caption) + "\n" + said if hit.caption else said


def hits_table(query: str, hits: list[Hit]) -> Table:
    table = Table(title=plain(query, "bold"), title_justify="left", show_edge=False)
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    _number_column(table, "match", 6)
    _number_column(table, "from", 7)
    _number_column(table, "to", 7)
    table.add_column("video", overflow="fold", ratio=2)
    table.add_column("found by", overflow="fold", ratio=1)
    captions = any(hit.caption or hit.transcript for hit in hits)
    if captions:
        table.add_column("caption", overflow="fold", ratio=4)
    names = short_names([hit.path for hit in hits])
    for rank, hit in enumerate(hits, 1):
        video = plain(names[hit.path])
        if hit.more:
            video.append(f" +{hit.more}", style="dim")
        if hit.offline:
            video.append(" (offline)", style="yellow")
        row = [str(rank), match(hit), hms(hit.start), hms(hit.end), video, ", ".join(hit.channels)]
        table.add_row(*row, *([described(hit)] if captions else []))
    return table


def hits_list(query: str, hits: list[Hit]) -> Group:
    """Hits one under another, for a terminal too narrow for the table: rank, match, times and what found it
    on a line, then the path, the caption and the words, folded as they need."""
    lines = [plain(query, "bold")]
    for rank, hit in enumerate(hits, 1):
        head = Text(f"{rank}. ", style="dim")
        head.append(f"{match(hit)}  {hms(hit.start)}-{hms(hit.end)}  {', '.join(hit.channels)}")
        video = plain(hit.path)
        if hit.offline:
            video.append(" (offline)", style="yellow")
        lines += [head, Text("   ") + video]
        if hit.caption:
            lines.append(Text("   ") + plain(hit.caption))
        if said := words(hit):
            lines.append(Text("   ") + said)
    return Group(*lines)


def events_table(video: str, events: list) -> Table:
    table = Table(title=plain(video, "bold"), title_justify="left", show_edge=False)
    _number_column(table, "from", 7)
    _number_column(table, "to", 7)
    table.add_column("caption", overflow="fold")
    for e in events:
        table.add_row(hms(e.start), hms(e.end), plain(e.caption))
    return table


def stats_table(stats: Stats) -> Table:
    table = Table(show_header=False, show_edge=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("library", plain(stats.library + (" (read-only)" if stats.read_only else "")))
    if stats.database:
        table.add_row("database", plain(stats.database))
    table.add_row("backbone", plain(stats.backbone or "(none yet)"))
    table.add_row("videos", str(stats.videos) + (f", {len(stats.offline)} offline" if stats.offline else ""))
    table.add_row("segments", str(stats.segments))
    v = stats.vectors
    if v:
        kind = f"IVF-SQ8, {v['cells']} cells trained on {v['trained_on']:,}" if v["index"] == "ivf-sq8" else "exact"
        shards = f"{v['shards']} shard" + ("" if v["shards"] == 1 else "s")
        table.add_row("vector index", f"{kind}; {shards}, {v['delta']:,} in the delta, "
                      f"{v['tombstones']:,} deleted")  # fmt: skip
    table.add_row("indexed", f"{hms(stats.seconds)} ({stats.seconds / 3600:.2f} h)")
    table.add_row("partial", str(len(stats.partial)))
    table.add_row("failed", str(stats.failed))
    said = ", ".join(f"{n} {channel}" for channel, n in sorted(stats.text_chunks.items())) or "none"
    table.add_row("text chunks", said)
    p = stats.predictor
    if p:
        mrr = f", held-out MRR {p['mrr_before']:.3f} -> {p['mrr_after']:.3f}" if p["mrr_before"] is not None else ""
        table.add_row("predictor", f"trained v{p['version']} on {p['pairs']} pairs{mrr}")
    else:
        table.add_row("predictor", "zero-shot (ConSE, untrained)")
    for model in stats.models:
        table.add_row("model", plain(model))
    return table
