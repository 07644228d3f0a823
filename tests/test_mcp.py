"""footage mcp: the Model Context Protocol server, called through the official SDK's own client over stdio."""

import asyncio
import json
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters


def call(footage_cli: str, library: Path, steps):
    """Runs `footage --library LIBRARY mcp` and the client steps against it; returns what the steps return."""

    async def session():
        server = StdioServerParameters(command=footage_cli, args=["--library", str(library), "mcp"])
        async with Client(server) as client:
            return await steps(client)

    return asyncio.run(session())


def content(result) -> object:
    assert not result.is_error, result
    if result.structured_content is not None:
        value = result.structured_content
        return value.get("result", value) if isinstance(value, dict) and set(value) == {"result"} else value
    return json.loads(result.content[0].text)


def test_the_tools_answer_through_the_sdk_client(photo_library, photos, footage_cli):
    path, stretches = photos

    async def steps(client):
        tools = await client.list_tools()
        found = await client.call_tool("search", {"query": "a cup of coffee", "top_k": 3})
        moments = content(found)
        similar = await client.call_tool("similar", {"segment_id": moments[0]["segment_id"], "top_k": 3})
        timeline = await client.call_tool("describe", {"path": str(path)})
        stats = await client.call_tool("stats", {})
        missing = await client.call_tool("similar", {"segment_id": 10**9})
        return tools, moments, content(similar), content(timeline), content(stats), missing

    tools, moments, similar, timeline, stats, missing = call(footage_cli, photo_library.path, steps)
    assert {t.name for t in tools.tools} == {"search", "similar", "describe", "stats"}
    assert all(t.description for t in tools.tools)
    first = moments[0]
    assert (first["path"], first["start"], first["end"]) == (str(path), 6.0, 11.0) and first["caption"]
    assert similar and first["segment_id"] not in [m["segment_id"] for m in similar]
    assert timeline[0]["start"] == 0 and timeline[-1]["end"] == stretches[-1].end
    assert stats["videos"] == 1 and stats["segments"] == 5
    assert missing.is_error and "not in the library" in missing.content[0].text
    assert sys.executable  # the server ran as its own process: nothing but JSON-RPC on its stdout
