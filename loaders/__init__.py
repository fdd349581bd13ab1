"""Readers that turn input files into canonical ``Dataset``s (see ``loaders.schema``).

Formats: ``canonical`` (events and videos tables as CSV, CSV.gz, JSONL or Parquet),
``movielens`` (a MovieLens folder or ratings file) and ``youtube2008`` (the 2008 crawl).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from loaders.canonical import read_canonical, read_events, read_videos
from loaders.movielens import read_movielens
from loaders.schema import Dataset
from loaders.youtube2008 import read_youtube2008, walk_sessions
from ytgraph.errors import InputError

FORMATS = ("canonical", "movielens", "youtube2008")

__all__ = [
    "FORMATS",
    "read_canonical",
    "read_dataset",
    "read_events",
    "read_movielens",
    "read_videos",
    "read_youtube2008",
    "walk_sessions",
]


def read_dataset(
    format: str,
    events_paths: Sequence[str | Path] | str | Path | None,
    videos_path: str | Path | None = None,
    strict: bool = False,
) -> Dataset:
    """Read a dataset in the named format.

    ``canonical``: the events files, in order, and the optional videos file.
    ``movielens``: one path, a folder or its ``ratings.csv``; ``videos_path`` names a movies
    file other than the ``movies.csv`` beside it.
    ``youtube2008``: ``youtubedata.txt`` (or its folder), given as ``videos_path`` or as the
    one events path.
    """
    if isinstance(events_paths, str | Path):
        paths: list[str | Path] = [events_paths]
    else:
        paths = list(events_paths or [])
    name = (format or "").strip().lower()
    if name == "canonical":
        return read_canonical(paths, videos_path, strict)
    if name == "movielens":
        if len(paths) != 1:
            raise InputError(f"movielens: give one folder or ratings file (got {len(paths)} paths)")
        return read_movielens(paths[0], strict=strict, movies_path=videos_path)
    if name == "youtube2008":
        given = [*paths, *([videos_path] if videos_path is not None else [])]
        if len(given) != 1:
            raise InputError(
                f"youtube2008: give the one file youtubedata.txt (got {len(given)} paths)"
            )
        return read_youtube2008(given[0], strict=strict)
    raise InputError(f"unknown input format {format!r} (known: {', '.join(FORMATS)})")
