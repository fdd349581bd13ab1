"""Run the ``ytgraph`` command so that it stops dead at one point of a load, for a kill -9.

``python -m tests.crashpoint POINT MARKER ytgraph-args...``: when the load reaches POINT, this
writes MARKER and sleeps; the test then kills the process with SIGKILL, exactly there. Points:

- ``write_pending``: half-way through writing the pending count state (its temporary folder holds
  some files, not all);
- ``staged``: while a load stages its new lists, after the first part committed (set
  ``YTGRAPH_LOAD__PART_SIZE`` small so that there are several);
- ``transaction``: inside the load's last transaction (the switch), with every list staged;
- ``prune``: after the switch committed, before the superseded edges are pruned;
- ``promote``: after the transaction committed, before the pending state is promoted;
- ``bulk_import``: in a first load through neo4j-admin import, with the server stopped, before
  the import writes the store;
- ``bulk_meta``: after the import and the restart, before the meta node records the state.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from ytgraph.cli import app
from ytgraph.db import admin_import
from ytgraph.ingest import bulk, lists
from ytgraph.ingest.covisit import Covisits
from ytgraph.ingest.state import StateStore


def stall(marker: Path) -> None:
    """Say where we are, then wait for the SIGKILL."""
    marker.write_text("here\n")
    time.sleep(600)
    raise SystemExit("crashpoint: never killed")


def arm(point: str, marker: Path) -> None:
    """Replace the function at ``point`` with one that stalls there."""
    if point == "write_pending":

        def save(self: Covisits, path: Path) -> None:
            stall(marker)

        Covisits.save = save  # type: ignore[method-assign]
    elif point == "staged":
        stage_part = lists.stage_part
        parts = {"n": 0}

        def second_part(*args: Any, **kwargs: Any) -> None:
            parts["n"] += 1
            if parts["n"] == 2:
                stall(marker)
            stage_part(*args, **kwargs)

        lists.stage_part = second_part
    elif point == "transaction":

        def switch(*_args: Any, **_kwargs: Any) -> None:
            stall(marker)

        lists.switch = switch
    elif point == "prune":

        def prune(*_args: Any, **_kwargs: Any) -> None:
            stall(marker)

        lists.prune = prune
    elif point == "promote":

        def promote(self: StateStore) -> None:
            stall(marker)

        StateStore.promote = promote  # type: ignore[method-assign]
    elif point == "bulk_import":

        def run_import(*_args: Any, **_kwargs: Any) -> None:
            stall(marker)

        admin_import.run_import = run_import
    elif point == "bulk_meta":

        def commit_meta(*_args: Any, **_kwargs: Any) -> None:
            stall(marker)

        bulk.commit_meta = commit_meta
    else:
        raise SystemExit(f"crashpoint: unknown point {point!r}")


if __name__ == "__main__":
    arm(sys.argv[1], Path(sys.argv[2]))
    sys.argv = ["ytgraph", *sys.argv[3:]]
    app()
