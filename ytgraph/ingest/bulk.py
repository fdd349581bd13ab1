"""A first load through ``neo4j-admin database import full`` (the managed server only).

A first load of millions of events is one huge write: through the driver its last transaction
holds every WATCHED and action row, whose state outgrows the default heap. Into an empty graph,
the admin import writes the same nodes, relationships and properties as store files at hundreds
of thousands of relationships a second.
``load`` takes this path when the graph is empty, the server is ytgraph's own and the load holds
at least ``[load] bulk_import_min_events`` events; the result equals a driver load of the same events
(tests/test_bulk.py compares the two graphs property by property).

The order keeps a kill -9 at any point repairable, as for a driver load: the pending count state
is written first, then a marker ``<state dir>/bulk-import.json`` naming it, then the server is
stopped, the store replaced and the server started; schema and the meta node's state id are
written through the driver; only then is the marker removed and the state promoted. A load that
finds the marker while the graph's state id is not the one it names (or the graph does not
answer) knows the graph holds a half-done import: it treats the graph as empty and imports again
(``--overwrite-destination``), whatever the size of its events.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from loaders.schema import VIDEO_COLUMNS
from ytgraph.console import Echo, Progress
from ytgraph.db.admin_import import ImportFile, import_full
from ytgraph.db.graph import Graph
from ytgraph.db.server import ManagedServer

MARKER = "bulk-import.json"
FOLDER = "bulk-import"
WATCHED_HEADER = [":START_ID(User)", ":END_ID(Video)", "count", "first_at", "last_at"]
WATCHED_HEADER += ["watch_seconds", "long_watches"]
ACTION_TYPES = {"like": "LIKED", "favorite": "FAVORITED", "playlist_add": "PLAYLISTED"}


@dataclass
class FirstLoad:
    """What a first load puts in the graph, as tables (the driver path writes the same rows)."""

    videos: pd.DataFrame  # video_id, the metadata columns the input had, sessions (c_i)
    watched: pd.DataFrame  # watched_frame
    actions: pd.DataFrame  # action_frame
    related: pd.DataFrame  # related_lists
    channels: pd.DataFrame | None  # video_id, channel_id (videos with one)
    categories: pd.DataFrame | None  # video_id, category
    crawl: pd.DataFrame | None  # src, dst, position


def marker(state_dir: Path) -> Path:
    return state_dir / MARKER


def pending_import(state_dir: Path) -> str | None:
    """The state id an interrupted bulk import was writing, None when there is none."""
    try:
        return str(json.loads(marker(state_dir).read_text())["state_id"])
    except (FileNotFoundError, KeyError, ValueError):
        return None


def video_table(
    videos: pd.DataFrame,
    ids: np.ndarray,
    counts: tuple[np.ndarray, np.ndarray],
    crawl: pd.DataFrame | None,
) -> pd.DataFrame:
    """Every Video node of a first load with its properties: the metadata given (last row of an
    id wins, as ``upsert_videos``), plus the ids seen in events or a crawl, plus ``sessions``."""
    cols = [c for c in videos.columns if c in VIDEO_COLUMNS or c == "genres"]
    meta = videos.drop_duplicates("video_id", keep="last")[["video_id", *cols]]
    every = [meta["video_id"].to_numpy(dtype=object), np.asarray(ids, dtype=object)]
    if crawl is not None and len(crawl):
        every += [crawl["src"].to_numpy(dtype=object), crawl["dst"].to_numpy(dtype=object)]
    all_ids = pd.unique(np.concatenate(every))
    out = pd.DataFrame({"video_id": all_ids}).merge(meta, on="video_id", how="left")
    for c in cols:
        if VIDEO_COLUMNS.get(c) == "time":
            out[c] = np.trunc(out[c].astype("float64")).astype("Int64")  # int(), as a load
    sessions = pd.Series(counts[1], index=pd.Index(counts[0], dtype=object))
    sessions = sessions[sessions > 0]  # a video without sessions has no property, as in a load
    out["sessions"] = out["video_id"].map(sessions).astype("Int64")
    return out


def _arrow_type(series: pd.Series) -> tuple[pa.DataType, str]:
    """The Arrow type to write a column as, and its Neo4j import header type."""
    if isinstance(series.dtype, pd.Int64Dtype) or pd.api.types.is_integer_dtype(series.dtype):
        return pa.int64(), ":long"
    if pd.api.types.is_float_dtype(series.dtype):
        return pa.float64(), ":double"
    return pa.string(), ""


def write_csv(path: Path, frame: pd.DataFrame, header: list[str]) -> ImportFile:
    """``frame`` as a headerless CSV (strings quoted, a missing value an empty unquoted field,
    which the import leaves unset) plus a one-line header file with Neo4j's typed names."""
    arrays = []
    names = []
    for col, name in zip(frame.columns, header, strict=True):
        typ, suffix = _arrow_type(frame[col])
        values = frame[col]
        if typ == pa.string():
            values = values.astype(object).where(values.notna(), None)
        arrays.append(pa.array(values.to_numpy(), type=typ, from_pandas=True))
        names.append(name if ":" in name else name + suffix)
    table = pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
    pacsv.write_csv(table, path, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    head = path.with_name(path.stem + ".header.csv")
    head.write_text(",".join(names) + "\n")
    return ImportFile("", head, path)


def _named(f: ImportFile, name: str) -> ImportFile:
    return ImportFile(name, f.header, f.data)


def write_files(folder: Path, t: FirstLoad) -> tuple[list[ImportFile], list[ImportFile], bool]:
    """The import files of a first load: (node files, relationship files, whether any text
    holds a line break, which the import must then be told about)."""
    folder.mkdir(parents=True, exist_ok=True)
    nodes: list[ImportFile] = []
    rels: list[ImportFile] = []
    # Every list is generation 0 and every video points at it (readers follow r.gen = v.rgen).
    v = t.videos.assign(rgen=np.int64(0))
    head = ["video_id:ID(Video)", *v.columns[1:]]
    nodes.append(_named(write_csv(folder / "videos.csv", v, head), "Video"))
    users = pd.unique(np.concatenate([t.watched["user_id"], t.actions["user_id"]]).astype(object))
    nodes.append(
        _named(
            write_csv(folder / "users.csv", pd.DataFrame({"u": users}), ["user_id:ID(User)"]),
            "User",
        )
    )
    w = t.watched
    if len(w):
        rels.append(
            _named(
                write_csv(
                    folder / "watched.csv",
                    w,
                    WATCHED_HEADER,
                ),
                "WATCHED",
            )
        )
    a = t.actions
    for kind, typ in [*ACTION_TYPES.items(), ("rate", "RATED")]:
        part = a[a["kind"] == kind]
        if not len(part):
            continue
        cols = ["user_id", "video_id", "at", *(["rating"] if kind == "rate" else []), "count"]
        frame = part[cols].copy()
        frame["at"] = frame["at"].astype("int64")
        frame["count"] = frame["count"].astype("int64")
        if kind == "rate":
            frame["rating"] = frame["rating"].astype("float64")
        head = [":START_ID(User)", ":END_ID(Video)", *cols[2:]]
        rels.append(_named(write_csv(folder / f"{typ.lower()}.csv", frame, head), typ))
    r = t.related
    if len(r):
        frame = r[["src", "dst", "score", "cooccurrences", "rank", "weight"]].assign(
            gen=np.int64(0)
        )
        head = [":START_ID(Video)", ":END_ID(Video)", *frame.columns[2:]]
        rels.append(_named(write_csv(folder / "related.csv", frame, head), "RELATED"))
    for links, label, key, typ in (
        (t.channels, "Channel", "channel_id", "UPLOADED_BY"),
        (t.categories, "Category", "name", "IN_CATEGORY"),
    ):
        if links is None or not len(links):
            continue
        links = links.drop_duplicates("video_id", keep="last")
        col = links.columns[1]
        ends = pd.DataFrame({"k": pd.unique(links[col].to_numpy(dtype=object))})
        nodes.append(
            _named(write_csv(folder / f"{label.lower()}.csv", ends, [f"{key}:ID({label})"]), label)
        )
        head = [":START_ID(Video)", f":END_ID({label})"]
        rels.append(_named(write_csv(folder / f"{typ.lower()}.csv", links, head), typ))
    if t.crawl is not None and len(t.crawl):
        frame = t.crawl[["src", "dst", "position"]].astype({"position": "int64"})
        head = [":START_ID(Video)", ":END_ID(Video)", "position"]
        rels.append(_named(write_csv(folder / "yt_related.csv", frame, head), "YT_RELATED"))
    multiline = any(
        v[c].astype(str).str.contains("[\r\n]", regex=True).any()
        for c in v.columns
        if v[c].dtype == object
    )
    return nodes, rels, multiline


def import_first_load(
    tables: FirstLoad,
    graph: Graph,
    server: ManagedServer,
    state_dir: Path,
    state_id: str,
    step: Progress,
    echo: Echo,
) -> float:
    """Fill the empty graph with ``tables`` through the admin import and record ``state_id``
    in the meta node (the pending state with that id is written already; the caller promotes it).
    Returns the seconds the admin tool ran."""
    folder = state_dir / FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    step("import files", 0, 1)
    nodes, rels, multiline = write_files(folder, tables)
    step("import files", 1, 1)
    marker(state_dir).write_text(json.dumps({"state_id": state_id}))
    echo(
        f"ytgraph: first load into an empty graph: neo4j-admin database import "
        f"({len(tables.related):,} RELATED), the server stops meanwhile"
    )
    step("neo4j-admin import", 0, 1)
    seconds = run_admin_import(server, graph.database, nodes, rels, multiline, folder, echo)
    step("neo4j-admin import", 1, 1)
    step("schema", 0, 1)
    graph.run_script_anew("schema")
    step("schema", 1, 1)
    commit_meta(graph, state_id)
    marker(state_dir).unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    return seconds


def run_admin_import(
    server: ManagedServer,
    database: str,
    nodes: list[ImportFile],
    rels: list[ImportFile],
    multiline: bool,
    folder: Path,
    echo: Echo,
) -> float:
    """The import itself (a function of its own: tests/crashpoint.py stops a load here)."""
    return import_full(
        server, database, nodes, rels, multiline=multiline, workdir=folder, echo=echo
    )


def commit_meta(graph: Graph, state_id: str) -> None:
    """The meta node's state id: the import counts as done from here on."""
    graph.run("meta_set", write=True, state_id=state_id)
