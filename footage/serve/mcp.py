"""footage as a Model Context Protocol server (stdio), for AI agents: four tools over one Library, made with
the official `mcp` SDK. It answers with moments (paths, times, captions, what is said), never video bytes.

Every failure an agent can cause (a bad argument, a path the library does not have) is a tool error of one
line, without a traceback in the server's log; the tools' results have output schemas."""

import functools
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationError

from footage import Hit, Library, __version__
from footage.errors import FootageError

MAX_TOP_K = 100
TopK = Annotated[int, Field(ge=1, le=MAX_TOP_K, description=f"how many moments, 1 to {MAX_TOP_K}")]


class Moment(BaseModel):
    path: str
    start: float = Field(description="seconds from the video's first frame")
    end: float
    score: float = Field(description="higher is better: a cosine for one channel, a fused score for all")
    relevance: float | None = Field(description="0 to 1: how well it matches, calibrated per channel")
    caption: str | None
    transcript: str | None = Field(description="what is said, subtitled or shown as text then")
    words_from: str | None = Field(description="where the transcript's words are from: speech, subtitles, on-screen")
    seen: list[str] = Field(description="what the experts saw then: faces, the look of the picture")
    segment_id: int | None = Field(description="pass to `similar` for moments that look like this one")
    video_id: int | None


class Event(BaseModel):
    start: float
    end: float
    caption: str


class Failure(BaseModel):
    path: str
    reason: str


class Stats(BaseModel):
    library: str
    videos: int
    segments: int
    hours: float = Field(description="hours of video indexed")
    offline: int = Field(description="videos whose files were missing at the last index")
    failed: list[Failure]


def moment(hit: Hit) -> Moment:
    return Moment(
        path=hit.path,
        start=round(hit.start, 3),
        end=round(hit.end, 3),
        score=float(f"{hit.score:.4g}"),  # significant digits: a keyword (BM25) score may be 0.000001
        relevance=None if hit.relevance is None else round(hit.relevance, 3),
        caption=hit.caption,
        transcript=hit.transcript,
        words_from=hit.words_from,
        seen=hit.seen,
        segment_id=hit.segment,
        video_id=hit.video_id,
    )


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


def one_line(e: ValidationError) -> str:
    """Pydantic's errors as `where: why; ...`, without the values given or the links to its documentation."""
    return "; ".join(f"{'.'.join(map(str, err['loc'])) or 'arguments'}: {err['msg']}" for err in e.errors())


def create_server(library: Library):
    """The MCP server: tools search, similar, describe and stats."""
    from mcp.server.mcpserver import MCPServer  # the SDK: only for `footage mcp`
    from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError

    class Server(MCPServer):
        async def call_tool(self, name, arguments, context=None):
            try:
                return await super().call_tool(name, arguments, context)
            except ToolError as e:
                if isinstance(e, UnexpectedToolError) or not isinstance(e.__cause__, ValidationError):
                    raise
                raise ToolError(f"Error executing tool {name}: {one_line(e.__cause__)}") from e.__cause__

    server = Server(
        "footage",
        version=__version__,
        log_level="WARNING",
        instructions="Search a video library for moments by describing them. Times are seconds from the start "
        "of each video; segment_id finds similar moments.",
    )

    def tool(fn):
        """Registered with its docstring on one line (the SDK would keep the indentation's runs of spaces)."""
        return server.tool(description=" ".join(fn.__doc__.split()))(said(fn))

    @tool
    def search(query: str, top_k: TopK = 10, mode: Literal["all", "visual", "speech", "text"] = "all") -> list[Moment]:
        """Moments of the library's videos matching a description, best first. mode: all (pictures and what is
        said, fused), visual (pictures), speech (what is said, by meaning) or text (exact words)."""
        return [moment(h) for h in library.search(query, top_k=top_k, mode=mode)]

    @tool
    def similar(segment_id: int, top_k: TopK = 10) -> list[Moment]:
        """Moments that look like a moment already found (its segment_id), best first."""
        return [moment(h) for h in library.search_like(segment_id, top_k=top_k)]

    @tool
    def describe(path: str) -> list[Event]:
        """A video's timeline: one caption per stretch of stable meaning (start and end in seconds)."""
        if "\0" in path or not path.strip():
            raise ToolError("path: name a video's file (a path holds no NUL character and is not blank)")
        return [Event(start=round(e.start, 3), end=round(e.end, 3), caption=e.caption) for e in library.describe(path)]

    @tool
    def stats() -> Stats:
        """What the library holds: videos, hours indexed, offline and failed files."""
        s = library.stats()
        return Stats(
            library=str(s.library),
            videos=s.videos,
            segments=s.segments,
            hours=round(s.seconds / 3600, 3),
            offline=len(s.offline),
            failed=[Failure(path=p, reason=r) for p, r in s.failures],
        )

    return server
