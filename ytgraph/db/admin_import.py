"""``neo4j-admin database import full`` for the managed server: the fast way to fill an empty graph.

The admin tool writes store files directly (no transactions), so it needs the server stopped; it
runs under the home's lifecycle lock (``ManagedServer.stopped``), which starts the server again
afterwards. Only ytgraph's own managed server can be stopped like this: a server given by URI
is someone else's, and loads into it go through the driver.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ytgraph.db.server import ManagedServer
from ytgraph.errors import GraphError

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ImportFile:
    """One group of import files: a node label or relationship type, its header file and data."""

    name: str  # label (nodes) or relationship type
    header: Path
    data: Path

    def arg(self, kind: str) -> str:
        return f"--{kind}={self.name}={self.header},{self.data}"


def _die_with_parent() -> None:
    """In the child: be killed when the loading process dies (a kill -9 of ``ytgraph load``
    must not leave an import writing the store under the next server)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_import(cmd: Sequence[str], env: dict[str, str], log: Path) -> None:
    """Run the admin tool (server stopped); GraphError with its last lines when it fails."""
    with log.open("w") as out:
        proc = subprocess.run(
            list(cmd),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    if proc.returncode != 0:
        tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-3:]
        raise GraphError(f"neo4j-admin database import failed: {' | '.join(tail)} (log: {log})")


def import_full(
    server: ManagedServer,
    database: str,
    nodes: Sequence[ImportFile],
    relationships: Sequence[ImportFile],
    *,
    multiline: bool,
    workdir: Path,
    echo: Callable[[str], object],
) -> float:
    """Replace ``database`` by the files given: stop the server, import, start it again.
    Returns the seconds the admin tool ran."""
    cmd, env = server.admin_command(
        "database",
        "import",
        "full",
        database,
        "--overwrite-destination=true",
        "--id-type=string",
        f"--multiline-fields={'true' if multiline else 'false'}",
        f"--report-file={workdir / 'import.report'}",
        *(f.arg("nodes") for f in nodes),
        *(f.arg("relationships") for f in relationships),
    )
    with server.stopped(echo):
        t0 = time.perf_counter()
        run_import(cmd, env, workdir / "import.log")
        return time.perf_counter() - t0
