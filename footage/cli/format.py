"""How the CLI shows things to people: h:mm:ss times, tables."""

from rich.table import Table

from footage.search import Hit
from footage.store import Stats


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


def hits_table(query: str, hits: list[Hit]) -> Table:
    table = Table(title=f"[bold]{query}[/bold]", title_justify="left", show_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("score", justify="right")
    table.add_column("from", justify="right")
    table.add_column("to", justify="right")
    table.add_column("video", overflow="fold")
    table.add_column("found by")
    captions = any(hit.caption for hit in hits)
    if captions:
        table.add_column("caption", overflow="fold")
    for rank, hit in enumerate(hits, 1):
        row = [str(rank), f"{hit.score:.3f}", hms(hit.start), hms(hit.end), hit.path, ", ".join(hit.channels)]
        table.add_row(*row, *([hit.caption or ""] if captions else []))
    return table


def events_table(video: str, events: list) -> Table:
    table = Table(title=f"[bold]{video}[/bold]", title_justify="left", show_edge=False)
    table.add_column("from", justify="right")
    table.add_column("to", justify="right")
    table.add_column("caption", overflow="fold")
    for e in events:
        table.add_row(hms(e.start), hms(e.end), e.caption)
    return table


def stats_table(stats: Stats) -> Table:
    table = Table(show_header=False, show_edge=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("library", stats.library)
    table.add_row("backbone", stats.backbone or "(none yet)")
    table.add_row("videos", str(stats.videos))
    table.add_row("segments", str(stats.segments))
    table.add_row("indexed", f"{hms(stats.seconds)} ({stats.seconds / 3600:.2f} h)")
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
        table.add_row("model", model)
    return table
