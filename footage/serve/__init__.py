"""footage serve: an HTTP API, a web page and an MCP server, each a thin layer over one `Library`.

app.py        create_app(library, settings): the FastAPI app, its errors and security headers
security.py   Settings, the bearer token, signed media URLs
routes/       search, videos (and stats), media (files, clips, thumbnails), jobs (index runs)
jobs.py       index runs in a thread, with progress and cancelling
ranges.py     HTTP range requests over one open file
schemas.py    the JSON the API answers with
static/       the page: plain HTML, CSS and JavaScript that talk only to the public API
mcp.py        the Model Context Protocol server (stdio)
"""
