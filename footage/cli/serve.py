"""Serving a library to other programs: `footage serve` (the web page and the HTTP API) and `footage mcp` (the
Model Context Protocol, for AI agents)."""

import socket
import sys
from typing import Annotated

import typer

from footage import expand
from footage.cli.common import open_library, out
from footage.errors import FootageError


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="FOOTAGE_TOKEN", help="Require Authorization: Bearer TOKEN on every API call.", show_default=False
        ),
    ] = None,
    roots: Annotated[
        list[str] | None,
        typer.Option("--root", help="A folder index jobs may read (repeat for more); none: indexing over HTTP is off."),
    ] = None,
    cors: Annotated[
        list[str] | None,
        typer.Option("--cors", help="An origin whose pages may call the API (repeatable); '*' needs --token."),
    ] = None,
) -> None:
    """Serve the web page, the HTTP API (/api/v1, OpenAPI at /openapi.json) and the media, until Ctrl-C.

    Example: footage serve --port 8765 --root ~/Videos
    """
    import uvicorn

    from footage.serve.app import create_app
    from footage.serve.connections import config
    from footage.serve.security import LOOPBACK, Settings, check_exposure

    settings = Settings(
        token=token,
        roots=[expand(r).absolute() for r in roots or []],
        cors=list(cors or []),
        hosts=sorted(LOOPBACK | {host}) if not token else ["*"],
    )
    check_exposure(settings, host)  # a token where the API reaches further than this machine; folders exist
    settings.roots = [r.resolve() for r in settings.roots]
    with open_library(ctx) as lib:
        lib.store  # noqa: B018 -- no library there: said now (NoLibrary), not by a 404 for every request
        app = create_app(lib, settings)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:  # bound before the line is printed: whoever reads it can connect at once
            listening.bind((host, port))
            listening.listen(128)
        except OSError as e:
            raise FootageError(f"{host}:{port}: cannot listen there ({e.strerror})") from None
        shown = f"[{host}]" if ":" in host else host
        out.print(f"serving http://{shown}:{port}", soft_wrap=True)
        sys.stdout.flush()
        # deadlines for every connection's headers, bounded connections per client (footage/serve/connections.py)
        server = uvicorn.Server(config(app))
        server.run(sockets=[listening])


def mcp(ctx: typer.Context) -> None:
    """Speak the Model Context Protocol over stdin and stdout, for AI agents: tools search, similar, describe
    and stats. Add it to an agent's MCP servers as the command `footage --library DIR mcp`.

    Example: footage --library ~/.footage mcp
    """
    from footage.serve.mcp import create_server

    with open_library(ctx) as lib:
        create_server(lib).run()
