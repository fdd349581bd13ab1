"""The co-visitation count state, kept in a folder beside Neo4j.

Neo4j holds what people query (videos, users, R_i); the raw material for exact incremental loads (every
accepted event, c_i and c_ij, the current R) lives here, because c_ij for all pairs is far larger than R
and nobody queries it. Each state has an id that the graph records in ``(:YtgraphMeta {key:'state'})``;
a load writes the new state as *pending*, commits the graph with the new id, then promotes the pending
state, so a crash at any point leaves a pair that can be reconciled.

One load at a time: ``locked`` holds ``<dir>/load.lock`` from reconciling to promoting, so a second
load waits for the first (or is refused) and then starts from the state the first one committed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from loaders.schema import empty_events
from ytgraph.errors import GraphError
from ytgraph.ingest.covisit import Covisits
from ytgraph.locks import exclusive


def empty_related() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "src": pd.Series([], dtype=object),
            "dst": pd.Series([], dtype=object),
            "score": pd.Series([], dtype="float64"),
            "cooccurrences": pd.Series([], dtype="int64"),
            "rank": pd.Series([], dtype="int64"),
            "weight": pd.Series([], dtype="float64"),
        }
    )


@dataclass
class CountState:
    """Everything an incremental load needs to give the same graph as one load of all events."""

    events: pd.DataFrame = field(default_factory=empty_events)
    durations: pd.Series = field(default_factory=lambda: pd.Series([], dtype="float64"))
    covisits: Covisits | None = None
    related: pd.DataFrame = field(default_factory=empty_related)
    fingerprint: str = ""
    state_id: str = ""
    # Video ids a videos table or a crawl ever named (what removals never delete); None: a state
    # written before this was kept, so unknown.
    catalog: set[str] | None = field(default_factory=set)

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex


class StateStore:
    """``<dir>/current`` is the state the graph was last committed with; ``<dir>/pending`` a load in flight."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def current(self) -> Path:
        return self.path / "current"

    @property
    def pending(self) -> Path:
        return self.path / "pending"

    @property
    def lock_file(self) -> Path:
        return self.path / "load.lock"

    def locked(
        self, timeout: float, echo: Callable[[str], object] | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """This state to one process: hold it for a whole load (reconcile ... promote) or reset.

        Another holder is waited for up to ``timeout`` seconds (0: refused at once, BusyError).
        """

        def waiting(pid: str) -> None:
            if echo is not None:
                echo(f"ytgraph: waiting for another load (pid {pid}) on {self.path}...")

        def busy(pid: str) -> str:
            wait = (
                f"after {timeout:g}s"
                if timeout > 0
                else "([load] lock_timeout_s: how long to wait)"
            )
            return f"another load (pid {pid}) holds the count state {self.path} {wait}"

        return exclusive(self.lock_file, timeout=timeout, busy=busy, waiting=waiting)

    def sweep(self) -> None:
        """Remove what a load killed while writing its pending state left (call under the lock)."""
        for tmp in self.path.glob("pending.*.tmp"):
            shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def _state_id(folder: Path) -> str | None:
        try:
            return str(json.loads((folder / "state.json").read_text())["state_id"])
        except (FileNotFoundError, KeyError, ValueError):
            return None

    def current_id(self) -> str | None:
        return self._state_id(self.current)

    def pending_id(self) -> str | None:
        return self._state_id(self.pending)

    def reconcile(self, graph_state_id: str | None) -> CountState:
        """Bring the folder in line with the graph's recorded state id, then read the state.

        A pending state the graph already committed is promoted; one it did not is dropped. A graph
        that was emptied (no id) starts a fresh state. Any other mismatch is an error, not a guess.
        """
        self.sweep()
        pending = self.pending_id()
        if pending is not None and pending == graph_state_id:
            self.promote()
        elif self.pending.exists():
            shutil.rmtree(self.pending)
        current = self.current_id()
        if graph_state_id is None:
            return CountState()
        if current != graph_state_id:
            raise GraphError(
                f"the graph was loaded with count state {graph_state_id[:8]} but {self.path} holds "
                f"{(current or 'none')[:8]}: pass the --state-dir it was loaded with, or "
                "`ytgraph reset` to start over"
            )
        return self.read(self.current)

    def read(self, folder: Path) -> CountState:
        meta = json.loads((folder / "state.json").read_text())
        durations = pd.read_parquet(folder / "durations.parquet")
        return CountState(
            events=_read_events(folder / "events.parquet"),
            durations=pd.Series(
                durations["duration_seconds"].to_numpy(),
                index=durations["video_id"].astype(object),
                dtype="float64",
            ),
            covisits=Covisits.load(folder / "covisits.npz"),
            related=pd.read_parquet(folder / "related.parquet"),
            fingerprint=meta["fingerprint"],
            state_id=meta["state_id"],
            catalog=_read_catalog(folder / "catalog.parquet"),
        )

    def write_pending(self, state: CountState) -> None:
        if self.pending.exists():
            shutil.rmtree(self.pending)
        tmp = self.path / f"pending.{state.state_id}.tmp"
        tmp.mkdir(parents=True)
        state.events.to_parquet(tmp / "events.parquet", index=False)
        pd.DataFrame(
            {
                "video_id": state.durations.index.astype(str),
                "duration_seconds": state.durations.values,
            }
        ).to_parquet(tmp / "durations.parquet", index=False)
        assert state.covisits is not None
        state.covisits.save(tmp / "covisits.npz")
        state.related.to_parquet(tmp / "related.parquet", index=False)
        if state.catalog is not None:
            ids = pd.Series(sorted(state.catalog), dtype=object, name="video_id")
            ids.to_frame().to_parquet(tmp / "catalog.parquet", index=False)
        (tmp / "state.json").write_text(
            json.dumps({"state_id": state.state_id, "fingerprint": state.fingerprint})
        )
        tmp.rename(self.pending)

    def promote(self) -> None:
        old = self.path / "previous"
        if old.exists():
            shutil.rmtree(old)
        if self.current.exists():
            self.current.rename(old)
        self.pending.rename(self.current)
        if old.exists():
            shutil.rmtree(old)

    def clear(self) -> None:
        if self.path.exists():
            for name in ("current", "pending", "previous", "bulk-import"):
                if (self.path / name).exists():
                    shutil.rmtree(self.path / name)
            (self.path / "bulk-import.json").unlink(missing_ok=True)  # see ingest.bulk
            self.sweep()


def _read_events(path: Path) -> pd.DataFrame:
    """The stored events, with each distinct id or event name one shared string object (read as
    dictionaries): ~50 bytes a row less than a string per cell, at millions of rows."""
    import pyarrow.parquet as pq

    shared = ["user_id", "video_id", "event"]
    table = pq.read_table(path, read_dictionary=shared)
    frame = table.to_pandas()
    for c in shared:
        if c in frame.columns and isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].astype(object)
    return frame


def _read_catalog(path: Path) -> set[str] | None:
    """The catalogue's video ids, or None when the state predates the file."""
    if not path.exists():
        return None
    return set(pd.read_parquet(path)["video_id"].astype(str).tolist())
