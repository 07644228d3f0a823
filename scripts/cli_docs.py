"""Writes docs/cli.md, the command-line reference, from the CLI's own help texts.

    python scripts/cli_docs.py           # rewrite docs/cli.md
    python scripts/cli_docs.py --check   # exit 1 when docs/cli.md is not what the CLI says

Each command's help is click's plain rendering (typer's rich boxes off) at a fixed width of WIDTH columns, so the
page is the same on every machine and terminal; tests/test_docs.py checks that docs/cli.md matches it.
"""

import argparse
import sys
from pathlib import Path

import click
import typer

WIDTH = 100  # columns the help is wrapped to
ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"

HEADER = """\
# Command-line reference

Generated from `footage --help` and each command's `--help` by `python scripts/cli_docs.py`; do not edit by
hand (`tests/test_docs.py` fails when this page and the CLI disagree). The options before the command
(`--library`, `--db`, `--device`) apply to every command: `footage --library DIR search QUERY`.
For what the commands do with a real library, see [the README](../README.md) and the other pages of
[docs/](README.md).
"""


def _plain(command: click.Command) -> None:
    """Turns typer's rich help off for a command and its subcommands (their help texts stay the same)."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    for sub in getattr(command, "commands", {}).values():
        _plain(sub)


def _help(command: click.Command, name: str, parent: click.Context | None = None) -> tuple[str, click.Context]:
    ctx = click.Context(command, info_name=name, parent=parent, terminal_width=WIDTH, max_content_width=WIDTH)
    return command.get_help(ctx).rstrip() + "\n", ctx


def render() -> str:
    """The whole page: the top-level help, then one section per command in the CLI's own order."""
    from footage.cli.main import app

    group = typer.main.get_command(app)
    _plain(group)
    text, ctx = _help(group, "footage")
    parts = [HEADER, "## footage\n", "```\n" + text + "```\n"]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        text, _ = _help(command, name, parent=ctx)
        parts += [f"## footage {name}\n", "```\n" + text + "```\n"]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check docs/cli.md; exit 1 when it differs")
    args = parser.parse_args()
    page = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != page:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run python scripts/cli_docs.py", file=sys.stderr)
            sys.exit(1)
        return
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(page, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
