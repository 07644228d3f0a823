"""The command line: `footage index|search|describe|stats|remove|repair|train|eval`, each a thin layer over
footage.Library.

The entry point lives here, apart from the commands, so that Ctrl-C while the heavy modules import is a
one-line message, not a traceback."""

import sys


def run() -> None:
    """Console-script entry point."""
    try:
        from footage.cli.main import main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    main()
