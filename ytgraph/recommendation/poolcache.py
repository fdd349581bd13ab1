"""A serving process's memory of users' pools (issue 16): a visit without a round trip to Neo4j.

``serve(..., cache=PoolCache(...))`` keeps, per user, the stored pool (its items decoded as they
are first shown), any pool it had to rank online, and what the user was shown, for as long as the
graph stays at one *generation*: the state id of the last load or forget (which set
the stale marks and delete forgotten users in the same transaction) and the time precompute last
stored pools. Every write that can change what a visit shows changes one of the two, so within a
generation a cached pool is exactly what the graph would serve.

The generation is re-read at most every ``check_s`` seconds (``[serving] generation_check_s``), by
whichever visit finds it due: a process may serve from before another process's load, forget or
precompute for up to that long. A graph without a generation (not written by a load) is not
cached. What the user was shown grows with the impressions this process records; impressions
other processes record for the same user are seen when the user is read again (a new generation,
or after falling out of the ``max_users`` most recent).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ytgraph.config import ServingSettings
from ytgraph.db.graph import Graph
from ytgraph.recommendation.service import Recommendations

Generation = tuple[str, str | None]  # (state id, when precompute last stored pools)


# A pool item decoded (``serve.decode_item``): video id, title, score, signals and because as
# (key, value) pairs, channel, category, paths as (videos, scores, weights). Tuples of strings and
# numbers only, which the cyclic GC stops scanning: as parsed objects, 1,911 users' pools made
# each full collection take ~0.4 s (bench world, busy machine); as these, ~6 ms.
Item = tuple[
    str,
    str | None,
    float,
    tuple[tuple[str, float], ...],
    tuple[tuple[str, Any], ...],
    str | None,
    str | None,
    tuple[tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]], ...],
]


@dataclass(frozen=True)
class CachedPool:
    """A pool as a visit serves it from memory: its header parsed (seeds, shape, source; no
    items), each item's JSON (``serve.dump``) and video id, and the items decoded so far (each
    the first time it is shown: no visit decodes one twice)."""

    shell: Recommendations
    items: list[str]
    ids: list[str]
    decoded: list[Item | None]


@dataclass
class UserPools:
    """What a visit needs of one user: known to the graph, shown (oldest first, as ``User.shown``),
    and the pools by recommendation key (the stored one under its key, if valid)."""

    known: bool
    shown: list[str]
    pools: dict[str, CachedPool] = field(default_factory=dict)


UserReader = Callable[[Graph, str], UserPools]  # one user as the graph holds them now


class PoolCache:
    """Users' pools for one graph, dropped whenever its generation changes; thread-safe (the
    API's visits run in a thread pool). See the module doc."""

    def __init__(
        self,
        check_s: float = 1.0,
        max_users: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check_s = check_s
        self.max_users = max_users
        self._clock = clock
        self._lock = threading.Lock()
        self._users: OrderedDict[str, UserPools] = OrderedDict()
        self._generation: Generation | None = None
        self._checked_at: float | None = None  # when the last generation read began
        self._since: float = 0.0  # when the read that found the current generation began
        self._checking = False

    def user(self, graph: Graph, user_id: str, read: UserReader) -> UserPools | None:
        """The user's cached pools, ``read`` from the graph on a miss; None when the graph has no
        generation (then the caller reads the graph itself)."""
        self._check(graph)
        with self._lock:
            if self._generation is None:
                return None
            found = self._users.get(user_id)
            if found is not None:
                self._users.move_to_end(user_id)
                return found
        began = self._clock()
        found = read(graph, user_id)
        with self._lock:
            # Kept only if read after the current generation was found: a read that began before
            # a newer generation was adopted may hold the older one's pool.
            if began >= self._since:
                self._users[user_id] = found
                if len(self._users) > self.max_users:
                    self._users.popitem(last=False)
        return found

    def add(self, user_id: str, key: str, pool: CachedPool) -> None:
        """Keep a pool ranked online for the rest of the generation (if the user still is cached)."""
        with self._lock:
            found = self._users.get(user_id)
            if found is not None:
                found.pools[key] = pool

    def shown(self, user_id: str, videos: list[str], keep: int) -> None:
        """What ``record_shown`` will write once the recorder flushes: the last ``keep`` of what
        the user was shown (nothing for a user the graph does not know, or with ``keep`` 0)."""
        with self._lock:
            found = self._users.get(user_id)
            if found is not None and found.known and keep > 0:
                found.shown = (found.shown + videos)[-keep:]  # a new list: readers keep theirs

    def __len__(self) -> int:
        return len(self._users)

    def _check(self, graph: Graph) -> None:
        """Re-read the generation if it is due and no other visit is reading it already; drop
        every user when it changed."""
        with self._lock:
            due = self._checked_at is None or self._clock() - self._checked_at >= self.check_s
            if not due or self._checking:
                return
            self._checking = True
        try:
            began = self._clock()
            (row,) = graph.run("pool_generation")
            generation = None if row["state_id"] is None else (row["state_id"], row["stored_at"])
            with self._lock:
                if generation != self._generation or self._checked_at is None:
                    self._users.clear()
                    self._generation, self._since = generation, began
                self._checked_at = began
        finally:
            with self._lock:
                self._checking = False


def pool_cache(serving: ServingSettings) -> PoolCache | None:
    """The cache ``[serving]`` asks for: none with ``cache_users`` 0 (every visit reads the graph)."""
    if serving.cache_users == 0:
        return None
    return PoolCache(serving.generation_check_s, serving.cache_users)
