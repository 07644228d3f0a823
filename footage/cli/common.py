"""What the commands share: the consoles, the exit codes, the options several commands take, opening the
library the global options name, and printing one line or a table."""

import io
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from footage import Library
from footage.cli.format import plain

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOTHING_INDEXED = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
PIPED_WIDTH = 10_000  # tables piped to a file or another program are not wrapped

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
RerankOption = Annotated[
    bool,
    typer.Option(
        "--rerank/--no-rerank",
        help="Re-score the nearest segments with the query-conditioned predictor over their frames: finds brief "
        "moments inside long segments; off by default as it did not raise MRR on the annotated sample footage.",
    ),
]


def open_library(ctx: typer.Context, **kwargs) -> Library:
    """The library of the global options (--library, --device, --db)."""
    return Library(ctx.obj.library, device=ctx.obj.device, db=ctx.obj.db, **kwargs)


def say(console: Console, label: str, style: str, *parts: object) -> None:
    """One line: a coloured label, then text that is printed as it is (paths, reasons)."""
    line = Text(label, style=style)
    for part in parts:
        line.append(part if isinstance(part, Text) else plain(part))
    console.print(line, soft_wrap=True)


def fail(message: object, code: int = EXIT_ERROR) -> None:
    say(err, "error: ", "red", message)
    raise typer.Exit(code)


interrupted_said: list[bool] = []


def interrupted(message: str, code: int) -> None:
    say(err, "", "", message)
    interrupted_said.append(True)
    raise typer.Exit(code)


def show_table(renderable) -> None:
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
