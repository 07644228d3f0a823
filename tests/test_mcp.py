"""footage mcp: the Model Context Protocol server, called through the official SDK's own client over stdio."""

import asyncio
import json
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from footage.search import Hit
from footage.serve.mcp import moment


def call(footage_cli: str, library: Path, steps, errlog=None):
    """Runs `footage --library LIBRARY mcp` and the client steps against it; returns what the steps return.
    The server's stderr goes to `errlog` (a file) when given."""

    async def session():
        server = StdioServerParameters(command=footage_cli, args=["--library", str(library), "mcp"])
        async with Client(server if errlog is None else stdio_client(server, errlog=errlog)) as client:
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


def test_what_an_agent_gets_wrong_is_one_line_without_a_traceback(photo_library, photos, footage_cli, tmp_path):
    path, _ = photos

    async def steps(client):
        tools = await client.list_tools()
        calls = [
            ("search", {"query": "a cup", "mode": "nope"}),
            ("search", {"query": "a cup", "top_k": "many"}),
            ("search", {"query": "a cup", "top_k": 0}),
            ("describe", {"path": "/tmp/a\0b"}),
            ("describe", {"path": str(path) + ".gone"}),
            ("similar", {}),
        ]
        return tools, [await client.call_tool(name, args) for name, args in calls]

    with open(tmp_path / "stderr", "w") as errlog:
        tools, results = call(footage_cli, photo_library.path, steps, errlog)
    for result in results:
        text = result.content[0].text
        assert result.is_error and "\n" not in text and "http" not in text and "Error executing tool" in text, text
        assert text.rstrip().split(":", 1)[1].strip()  # says why, not the bare "Error executing tool search"
    assert "Traceback" not in (tmp_path / "stderr").read_text()
    assert "mode" in results[0].content[0].text and "top_k" in results[1].content[0].text
    by_name = {t.name: t for t in tools.tools}
    assert all("  " not in t.description and "\n" not in t.description for t in tools.tools)
    stats = by_name["stats"].output_schema
    assert stats and {"videos", "segments", "hours", "failed"} <= set(stats["properties"])
    assert by_name["search"].output_schema and "nope" not in json.dumps(by_name["search"].input_schema)


def test_a_keyword_score_is_shown_as_it_is():
    """BM25 from SQLite's FTS5 is tiny in a small library (1e-06): rounded to 4 places it said 0.0."""
    found = moment(Hit("/v.mp4", 2.0399999618530273, 4.0, 1.2345678e-06, channels=["keyword"], transcript="a cat"))
    assert found.score == 1.235e-06 and found.start == 2.04
