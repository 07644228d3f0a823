"""footage as a Model Context Protocol server (stdio), for AI agents: four tools over one Library, made with
the official `mcp` SDK. It answers with moments (paths, times, captions, what is said), never video bytes."""

import functools

from footage import __version__
from footage.errors import FootageError
from footage.library import Library
from footage.search import Hit

MAX_TOP_K = 100


def moment(hit: Hit) -> dict:
    return {
        "path": hit.path,
        "start": round(hit.start, 2),
        "end": round(hit.end, 2),
        "score": round(hit.score, 4),
        "caption": hit.caption,
        "transcript": hit.transcript,
        "segment_id": hit.segment,
        "video_id": hit.video_id,
    }


def said(tool):
    """A tool whose FootageError reaches the agent as its one-line message (a ToolError), not as a crash."""
    from mcp.server.mcpserver.exceptions import ToolError

    @functools.wraps(tool)
    def run(*args, **kwargs):
        try:
            return tool(*args, **kwargs)
        except FootageError as e:
            raise ToolError(str(e)) from None

    return run


def create_server(library: Library):
    """The MCP server: tools search, similar, describe and stats."""
    from mcp.server.mcpserver import MCPServer  # the SDK: only for `footage mcp`

    server = MCPServer(
        "footage",
        version=__version__,
        log_level="WARNING",
        instructions="Search a video library for moments by describing them. Times are seconds from the start "
        "of each video; segment_id finds similar moments.",
    )

    @server.tool()
    @said
    def search(query: str, top_k: int = 10, mode: str = "all") -> list[dict]:
        """Moments of the library's videos matching a description, best first. mode: all (pictures and what is
        said, fused), visual (pictures), speech (what is said, by meaning) or text (exact words)."""
        return [moment(h) for h in library.search(query, top_k=min(top_k, MAX_TOP_K), mode=mode)]

    @server.tool()
    @said
    def similar(segment_id: int, top_k: int = 10) -> list[dict]:
        """Moments that look like a moment already found (its segment_id), best first."""
        return [moment(h) for h in library.search_like(segment_id, top_k=min(top_k, MAX_TOP_K))]

    @server.tool()
    @said
    def describe(path: str) -> list[dict]:
        """A video's timeline: one caption per stretch of stable meaning (start and end in seconds)."""
        return [e.to_dict() for e in library.describe(path)]

    @server.tool()
    @said
    def stats() -> dict:
        """What the library holds: videos, hours indexed, offline and failed files."""
        s = library.stats()
        return {
            "library": s.library,
            "videos": s.videos,
            "segments": s.segments,
            "hours": round(s.seconds / 3600, 3),
            "offline": len(s.offline),
            "failed": [{"path": p, "reason": r} for p, r in s.failures],
        }

    return server
