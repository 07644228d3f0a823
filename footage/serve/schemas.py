"""The JSON the API answers with: Pydantic models mirroring the library's dataclasses, with the URLs a page
or a media tool needs to show and play what was found."""

import os
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, Field, PlainSerializer
from starlette.responses import JSONResponse

HEADERS = {  # the page talks only to this server; nothing may frame it, guess a type or embed its media
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self'; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",  # another site's <img> or <video> cannot show your files
}


MAX_ID = (1 << 63) - 1  # the database's integers: a larger id is no id, refused before it is looked up or echoed
VideoId = Annotated[int, Path(ge=0, le=MAX_ID, description="a video's id, as the API gives it")]
SegmentId = Annotated[int, Path(ge=0, le=MAX_ID, description="a segment's id, as the API gives it")]
JobId = Annotated[str, Path(max_length=32, description="a job's id, as POST /api/v1/jobs/index gave it")]

# times to the millisecond, scores to 4 significant digits (a keyword's BM25 may be 0.000001): the float32 they
# are stored in would say 2.0399999618530273
Seconds = Annotated[float, PlainSerializer(lambda x: round(x, 3), return_type=float)]
Score = Annotated[float, PlainSerializer(lambda x: float(f"{x:.4g}"), return_type=float)]


def problem(status: int, title: str, detail) -> JSONResponse:
    """An error in RFC 9457's shape, with `error` as its short name."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "error": title}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def shown(path: str | None) -> str | None:
    """A path as JSON can carry it: bytes of a name that are not UTF-8 (caf\\xe9.mp4) as \\xNN. The API names
    videos by id; the path is for people to read."""
    return None if path is None else os.fsencode(path).decode("utf-8", "backslashreplace")


class HitOut(BaseModel):
    """A moment: the fields of `footage search --json`, and where to get its pictures."""

    path: str
    start: Seconds = Field(description="seconds from the video's first frame")
    end: Seconds
    score: Score
    caption: str | None
    thumbnail: str | None = Field(description="the thumbnail's file in the library folder")
    segments: list[int]
    segment: int | None
    channels: list[str]
    transcript: str | None
    seen: list[str] = Field(description="what the experts saw then: faces, the look of the picture")
    offline: bool
    video_id: int | None
    more: int = Field(description="further moments of this video left out by the per-video limit")
    duration: Seconds | None = Field(description="the whole video's length: where the moment lies in it")
    relevance: Score | None = Field(
        description="0 to 1: 0 at the floor of the channel that found it, 1 where that channel's matches are "
        "confident (the best of its channels); null for a search by a picture or like= a segment"
    )
    words_from: str | None = Field(description="where `transcript` is from: speech, subtitles or on-screen")
    segment_id: int | None = Field(description="the best segment: `like=` it for more like this")
    thumbnail_url: str | None
    play_url: str | None = Field(description="the video, with a #t=START,END media fragment: plays just the moment")
    clip_url: str | None = Field(description="the moment cut as an MP4 of its own")


class SearchOut(BaseModel):
    hits: list[HitOut]
    next_cursor: str | None = Field(description="pass as cursor= for the next page; null on the last")
    facets: dict[str, dict[str, int]] | None = Field(
        None, description="first page: of the best 100 hits, how many each filter keeps (found_by, length, folder)"
    )


class PictureOut(BaseModel):
    id: str = Field(description="search with it: GET /api/v1/search?picture=ID")
    url: str = Field(description="the picture kept")


class EventOut(BaseModel):
    start: Seconds
    end: Seconds
    caption: str
    segment: int | None = Field(None, description="the segment shown for it: like= it, or its thumbnail")
    thumbnail_url: str | None = None


class VideoOut(BaseModel):
    id: int
    path: str
    status: str
    error: str | None
    warning: str | None
    offline: bool
    duration: Seconds | None
    size: int
    segments: int
    indexed_at: Seconds
    codec: str | None
    width: int | None
    height: int | None
    media_url: str | None
    cover: int | None = Field(None, description="the segment whose thumbnail shows the video")
    thumbnail_url: str | None = None


class VideoDetail(VideoOut):
    timeline: list[EventOut]


class VideoPage(BaseModel):
    videos: list[VideoOut]
    total: int
    next_offset: int | None


class ProgressOut(BaseModel):
    files_done: int
    files_total: int
    video_seconds: Seconds
    wall_seconds: Seconds
    current: str | None
    stage: str


class JobOut(BaseModel):
    id: str
    paths: list[str]
    state: str = Field(description="running, done, failed or cancelled")
    progress: ProgressOut | None
    report: dict | None = Field(description="the IndexReport, once done")
    error: str | None
    started_at: Seconds
    ended_at: Seconds | None


class IndexRequest(BaseModel):
    paths: list[Annotated[str, Field(max_length=4096)]] = Field(
        min_length=1, max_length=100, description="folders or files under a --root"
    )


# --- marks on search hits, and training on them (routes/feedback.py) ---------------------------------------------

MarkId = Annotated[int, Path(ge=0, le=MAX_ID, description="a mark's id, as POST /api/v1/feedback gave it")]


class MarkIn(BaseModel):
    query: str = Field(description="the search the moment was found for")
    video_id: int = Field(ge=0, le=MAX_ID, description="the hit's video_id")
    start: float = Field(description="the hit's start, in seconds")
    end: float
    right: bool = Field(description="true: the moment is what the query looks for; false: it is not")
    segment_id: int | None = Field(None, ge=0, le=MAX_ID, description="the hit's segment_id, kept as a note")


class MarkOut(BaseModel):
    id: int
    query: str
    video_id: int
    path: str
    start: Seconds
    end: Seconds
    right: bool
    segment_id: int | None
    created_at: Seconds = Field(description="unix time of the last marking")


class MarksOut(BaseModel):
    marks: list[MarkOut] = Field(description="newest first")


class TrainIn(BaseModel):
    from_feedback: bool = Field(description="train on the moments marked right: the only source over HTTP")
    epochs: int = Field(100, ge=1, le=10_000, description="passes over the training marks")


class ScoresOut(BaseModel):
    r1: Score
    r5: Score
    mrr: Score


class TrainOut(BaseModel):
    kept: bool = Field(description="false: held-out MRR would have dropped; the library is unchanged")
    summary: str = Field(description="what changed, in one line")
    before: ScoresOut | None = Field(description="held-out retrieval with the predictor in use before")
    after: ScoresOut | None = Field(description="... with the new one")
    version: int | None = Field(description="the new predictor's version, when kept")
    pairs: int = Field(description="right marks trained on and held out")
