"""The one way ytgraph talks to Neo4j: named Cypher files, parameters only, batched writes.

Queries live in ``cypher/<name>.cypher`` (``cypher/browser/<name>.cypher`` for the analysts' queries)
and are looked up by name; a file may hold several statements separated by a line ending in ``;``.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import neo4j
from neo4j.exceptions import Neo4jError, ServiceUnavailable, SessionExpired

from ytgraph.errors import GraphError, YtGraphError

Tracer = Callable[[str, int, float], None]  # after a query: (name, rows, seconds)
Announcer = Callable[[str, int], None]  # before a query: (name, rows sent; 0 unless a batch)
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def cypher_dir() -> Path:
    """The installed package carries ytgraph/cypher; a source checkout has cypher/ at the top."""
    packaged = Path(str(importlib.resources.files("ytgraph"))) / "cypher"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "cypher"


@functools.cache
def statements(name: str) -> tuple[str, ...]:
    """The statements of ``cypher/<name>.cypher`` (comments kept, empty ones dropped)."""
    path = cypher_dir() / f"{name}.cypher"
    if not re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+)?", name) or not path.is_file():
        known = ", ".join(query_names())
        raise YtGraphError(f"no Cypher query named {name!r} (known: {known})")
    parts = re.split(r";[ \t]*(?:\n|$)", path.read_text(encoding="utf-8"))
    out = []
    for part in parts:
        code = "\n".join(ln for ln in part.splitlines() if not ln.strip().startswith("//"))
        if code.strip():
            out.append(part.strip())
    return tuple(out)


def query(name: str) -> str:
    """The single statement of ``cypher/<name>.cypher``."""
    stmts = statements(name)
    if len(stmts) != 1:
        raise YtGraphError(f"cypher/{name}.cypher holds {len(stmts)} statements, expected one")
    return stmts[0]


def query_names() -> list[str]:
    root = cypher_dir()
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.cypher"))


def parameters(text: str) -> set[str]:
    """The ``$names`` a statement uses (outside comments)."""
    code = "\n".join(ln.split("//", 1)[0] for ln in text.splitlines())
    code = re.sub(r"'[^']*'|\"[^\"]*\"", "", code)
    return set(_PARAM.findall(code))


# Hooks every new Graph starts with: the CLI's --trace sets them once for the whole process, so
# graphs made deep inside a command (evaluate's own server, the API's pool) are traced too.
_DEFAULT_HOOKS: dict[str, Any] = {"announcer": None, "tracer": None}


def trace_all(announcer: Announcer | None, tracer: Tracer | None) -> None:
    """Give every Graph made from now on these hooks (unless it is given its own)."""
    _DEFAULT_HOOKS.update(announcer=announcer, tracer=tracer)


@dataclass
class Graph:
    """A driver plus a database name, with hooks that see every query: ``announcer`` before it
    runs (so a failing or hanging query shows), ``tracer`` after, with its rows and time."""

    driver: neo4j.Driver
    database: str = "neo4j"
    tracer: Tracer | None = field(default_factory=lambda: _DEFAULT_HOOKS["tracer"])
    announcer: Announcer | None = field(default_factory=lambda: _DEFAULT_HOOKS["announcer"])
    # Figures read once and served many times (catalogue stats, the popular list); a load clears it.
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def _announce(self, name: str, sent: int = 0) -> float:
        """Say a query is about to run; returns its start time for ``_trace``."""
        if self.announcer is not None:
            self.announcer(name, sent)
        return time.perf_counter()

    def _trace(self, name: str, rows: int, t0: float) -> None:
        if self.tracer is not None:
            self.tracer(name, rows, time.perf_counter() - t0)

    def run(self, name: str, *, write: bool = False, **params: Any) -> list[dict[str, Any]]:
        """Run one named statement; returns its records as dicts."""
        t0 = self._announce(name)
        try:
            if write:
                records, _, _ = self.driver.execute_query(
                    query(name),
                    parameters_=params,
                    database_=self.database,
                    routing_=neo4j.RoutingControl.WRITE,
                )
            else:
                # A read is one auto-commit RUN + PULL: a managed transaction would add BEGIN and
                # COMMIT round trips (a millisecond a query on the serving path). The bookmarks
                # shared with execute_query keep reads after ytgraph's own writes consistent.
                with self.driver.session(
                    database=self.database,
                    default_access_mode=neo4j.READ_ACCESS,
                    bookmark_manager=self.driver.execute_query_bookmark_manager,
                ) as session:
                    records = list(session.run(query(name), params))
        except (Neo4jError, ServiceUnavailable, SessionExpired) as e:
            raise GraphError(f"query {name} failed: {_short(e)}") from e
        self._trace(name, len(records), t0)
        # dict(record), not record.data(): ytgraph's queries return plain values, and data()'s
        # recursive conversion cost more than the query itself for candidate paths.
        return [dict(r) for r in records]

    def run_script(self, name: str) -> int:
        """Run every statement of a file, each in its own transaction (schema changes); returns count."""
        stmts = statements(name)
        for i, text in enumerate(stmts):
            t0 = self._announce(f"{name}[{i + 1}]")
            try:
                self.driver.execute_query(text, database_=self.database)
            except (Neo4jError, ServiceUnavailable, SessionExpired) as e:
                raise GraphError(f"{name} statement {i + 1} failed: {_short(e)}") from e
            self._trace(f"{name}[{i + 1}]", 0, t0)
        return len(stmts)

    def run_script_anew(self, name: str, tries: int = 20, wait: float = 0.5) -> None:
        """``run_script`` after the store was replaced underneath the driver (an admin import and
        a restart): retried while the pool's dead connections fail, and without the bookmarks of
        earlier writes, which name transactions the new store never had (a read would wait for
        them for ever). The new store's bookmark then replaces them."""
        stmts = statements(name)
        last: Exception | None = None
        for _ in range(tries):
            try:
                with self.driver.session(database=self.database) as session:
                    for text in stmts:
                        session.run(text).consume()
                    fresh = session.last_bookmarks()
                break
            except (Neo4jError, ServiceUnavailable, SessionExpired) as e:
                last = e
                time.sleep(wait)
        else:
            raise GraphError(
                f"{name} failed after the store was replaced: {_short(last) if last else '?'}"
            )
        manager = self.driver.execute_query_bookmark_manager
        manager.update_bookmarks(manager.get_bookmarks(), fresh.raw_values)

    def run_autocommit(self, name: str, **params: Any) -> None:
        """Run a statement that manages its own transactions (``CALL { } IN TRANSACTIONS``)."""
        t0 = self._announce(name)
        try:
            with self.driver.session(database=self.database) as session:
                session.run(query(name), params).consume()
        except (Neo4jError, ServiceUnavailable, SessionExpired) as e:
            raise GraphError(f"query {name} failed: {_short(e)}") from e
        self._trace(name, 0, t0)

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        """One read transaction: every query run inside it sees the same state of the graph."""
        with self.driver.session(
            database=self.database,
            default_access_mode=neo4j.READ_ACCESS,
            bookmark_manager=self.driver.execute_query_bookmark_manager,
        ) as session:
            try:
                with session.begin_transaction() as tx:
                    yield Reader(tx, self)
            except (Neo4jError, ServiceUnavailable, SessionExpired) as e:
                raise GraphError(f"read failed: {_short(e)}") from e

    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        """One explicit write transaction: everything inside commits together or not at all."""
        with self.driver.session(database=self.database) as session:
            tx = session.begin_transaction()
            try:
                yield Writer(tx, self)
                tx.commit()
            except (Neo4jError, ServiceUnavailable, SessionExpired) as e:
                if tx.closed() is False:
                    tx.rollback()
                hint = ""
                if "memory.transaction" in str(e):
                    hint = (
                        " (the write is too large for one transaction on this server: raise "
                        "[neo4j] transaction_memory, or load the events in parts, e.g. a day at "
                        "a time; each part is atomic and the result is the same)"
                    )
                raise GraphError(f"write failed, nothing was changed: {_short(e)}{hint}") from e
            except BaseException:
                if tx.closed() is False:
                    tx.rollback()
                raise


@dataclass
class Reader:
    """Named queries inside one read transaction (``Graph.reading``)."""

    tx: neo4j.Transaction
    graph: Graph

    def run(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run one named statement; returns its records as dicts (plain values, as ``Graph.run``)."""
        t0 = self.graph._announce(name)
        try:
            records = [dict(r) for r in self.tx.run(query(name), params)]
        except (Neo4jError, ServiceUnavailable, SessionExpired) as e:
            raise GraphError(f"query {name} failed: {_short(e)}") from e
        self.graph._trace(name, len(records), t0)
        return records


@dataclass
class Writer:
    """Writes inside one transaction, in batches of ``UNWIND $rows``."""

    tx: neo4j.Transaction
    graph: Graph

    def run(self, name: str, **params: Any) -> list[dict[str, Any]]:
        t0 = self.graph._announce(name)
        result = self.tx.run(query(name), params)
        records = [r.data() for r in result]
        self.graph._trace(name, len(records), t0)
        return records

    def batches(
        self,
        name: str,
        rows: Sequence[Any],
        batch_size: int,
        progress: Callable[[int], None] | None = None,
        **params: Any,
    ) -> int:
        """Send ``rows`` as ``$rows`` in fixed-size batches; returns how many rows went."""
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            t0 = self.graph._announce(name, len(chunk))
            self.tx.run(query(name), {"rows": chunk, **params}).consume()
            self.graph._trace(name, len(chunk), t0)
            if progress is not None:
                progress(len(chunk))
        return len(rows)


def _short(e: Exception) -> str:
    msg = getattr(e, "message", None) or str(e)
    return msg.strip().splitlines()[0][:300]
