"""One router per resource: search, videos (and stats), media, jobs."""
