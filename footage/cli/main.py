"""The `footage` command: a thin layer over footage.Library. Each command is one library call.

Exit codes: 0 done; 1 error (one line on stderr says why); 2 a bad option or argument; 3 `index` indexed
nothing because every path given was missing or every file failed; 130 interrupted (Ctrl-C); 143 stopped
by SIGTERM. No command prints a traceback, unless FOOTAGE_DEBUG=1 is set.

Here: the app, the options given before the command, and the entry that turns errors into exit codes. The
commands live by job: index.py (index, watch), search.py (search, export, describe), manage.py (stats, eval,
train, remove, repair), feedback.py (mark, marks, unmark) and serve.py (serve, mcp); common.py holds what they
share.
"""

import errno
import os
import signal
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from footage import DEVICES, __version__, default_path
from footage.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE, err, interrupted_said, say
from footage.cli.feedback import mark, marks, unmark
from footage.cli.index import index, watch
from footage.cli.manage import evaluate, remove, repair, stats, train
from footage.cli.search import describe, export, search
from footage.cli.serve import mcp, serve
from footage.errors import BadValue, FootageError

Device = Enum("Device", {d: d for d in DEVICES}, type=str)  # typer shows an Enum's values as the choices

app = typer.Typer(
    help="Semantic search over your videos, offline. Index a folder, then find moments by describing them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass(frozen=True)
class Globals:
    """The options given before the command, for every command to open the library with."""

    library: Path
    device: str
    given: bool = False  # whether --library (or FOOTAGE_LIBRARY) named it
    db: str | None = None  # --db (or FOOTAGE_DB): a PostgreSQL URL; None: the folder's own, else SQLite


class Terminated(BaseException):
    """SIGTERM: unwinds like Ctrl-C, so progress bars give the cursor back."""


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


# the commands, in the order `footage --help` lists them
app.command()(index)
app.command()(search)
app.command()(export)
app.command()(watch)
app.command()(describe)
app.command()(stats)
app.command(name="eval")(evaluate)
app.command()(train)
app.command()(mark)
app.command()(marks)
app.command()(unmark)
app.command()(remove)
app.command()(repair)
app.command()(serve)
app.command()(mcp)


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
            say(err, "error: ", "red", e.format_message())
            code = getattr(e, "exit_code", 2)
    except typer.Abort:
        code = EXIT_INTERRUPTED
    except Terminated:
        code = EXIT_TERMINATED
    except BadValue as e:
        say(err, "error: ", "red", e)
        code = EXIT_USAGE
    except FootageError as e:
        say(err, "error: ", "red", e)
        code = EXIT_ERROR
    except BrokenPipeError:  # `footage search ... | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_ERROR
    except Exception as e:
        if os.environ.get("FOOTAGE_DEBUG") == "1":
            raise
        say(err, "error: ", "red", _describe(e))
        code = EXIT_ERROR
    if code == EXIT_INTERRUPTED and not interrupted_said:
        say(err, "", "", "interrupted")
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
