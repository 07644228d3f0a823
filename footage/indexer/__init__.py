"""Indexing: probe files, decode frames with ffmpeg, cut segments, and run the pipeline that stores them."""
