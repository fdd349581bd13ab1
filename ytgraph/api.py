"""The HTTP API: the read side of the CLI (recommend, related, explain) as JSON over HTTP.

An interface layer like ``cli``: each endpoint parses, calls one library function and returns its
JSON, the same JSON the matching ``--json`` command prints. One driver pool serves the whole
process; endpoints are plain functions run in Starlette's thread pool (the driver is thread-safe).
The only write is what serving records: ``/recommend`` rotates the user's pool and its
impressions are written in batches by a background thread, off the request's path. Pools are
served from one process-wide ``PoolCache`` (``[serving] cache_users``), with no round trip while
the graph stays at one generation, re-read every ``[serving] generation_check_s``. Errors are
one-line JSON, ``{"error": "..."}``, never a trace:

    400 bad input (the library's own checks: n 4-60, depth 1-4)   404 unknown user or video
    422 a parameter of the wrong type or range                     503 Neo4j failed or is down
"""

from __future__ import annotations

import gc
import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from ytgraph import __version__
from ytgraph.config import Settings
from ytgraph.console import Echo
from ytgraph.db.connect import Connection, resolve
from ytgraph.db.graph import Graph
from ytgraph.db.inspect import related_videos
from ytgraph.errors import GraphError, InputError, NotFoundError, ServerError, YtGraphError
from ytgraph.ingest.load import default_state_dir
from ytgraph.recommendation.explain import explain
from ytgraph.recommendation.poolcache import PoolCache, pool_cache
from ytgraph.recommendation.serve import ImpressionRecorder, serve
from ytgraph.recommendation.service import Recommendations

log = logging.getLogger("ytgraph.api")

N = Annotated[int | None, Query(description="List length, 4-60 (default: the settings').")]
DEPTH = Annotated[int | None, Query(description="Hops over RELATED, 1-4 (default: the settings').")]


class ErrorBody(BaseModel):
    """Every error response: one line, never a stack trace."""

    error: str


ERRORS = {
    400: "Bad input: n or depth out of the library's range",
    404: "Unknown user (or video)",
    422: "A parameter of the wrong type or range",
    503: "Neo4j failed or does not answer",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error responses an endpoint documents in the OpenAPI page, all of them ``ErrorBody``."""
    return {c: {"model": ErrorBody, "description": ERRORS[c]} for c in codes}


def status_of(exc: YtGraphError) -> int:
    """The HTTP status of a library error, as the CLI's exit code is: the caller's fault or ours."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, (GraphError, ServerError)):
        return 503
    return 500


def one_line(message: object) -> str:
    """The first line of a message: what a client sees of any error."""
    return (str(message).strip().splitlines() or ["error"])[0]


def error(status: int, message: object) -> JSONResponse:
    return JSONResponse({"error": one_line(message)}, status_code=status)


def as_json(data: Any, headers: dict[str, str] | None = None) -> Response:
    """The body the CLI's ``--json`` prints (``default=str``), without FastAPI's slower encoder."""
    body = json.dumps(data, default=str, separators=(",", ":"))
    return Response(body, media_type="application/json", headers=headers)


FLUSH_SECONDS = 1.0  # how often the background thread writes the impressions it holds


def _recommendations(
    graph: Graph,
    user_id: str,
    settings: Settings,
    n: int | None,
    depth: int | None,
    *,
    allow_unknown: bool,
    rotate: bool | None,
    recorder: ImpressionRecorder | None,
    cache: PoolCache | None,
) -> Recommendations:
    """The one call into the serving path: n of the user's pool (stored while valid, else ranked
    online; from the process's cache while the graph's generation holds), rotated by what the
    user was shown, and recorded."""
    return serve(
        graph,
        user_id,
        settings,
        n=n,
        depth=depth,
        allow_unknown=allow_unknown,
        rotate_pool=rotate,
        recorder=recorder,
        cache=cache,
    )


def health(graph: Graph) -> dict[str, Any]:
    """The server's version and edition and the graph generation (the state id of the last load)."""
    (version,) = Graph(graph.driver, "system").run("server_version")
    (meta,) = graph.run("meta_get")
    return {
        "status": "ok",
        "neo4j": f"{version['version']} {version['edition']}",
        "generation": meta["state_id"],
    }


def create_app(
    settings: Settings,
    graph: Graph | None = None,
    *,
    connection: Connection | None = None,
    record: bool = True,
    impressions: Path | None = None,
) -> FastAPI:
    """The API over ``graph`` (kept open: the caller owns it), else over ``connection`` or a
    connection resolved at start-up, either closed at shutdown. One driver pool per process.
    With ``record``, what ``/recommend`` shows is recorded (User.shown, and rows appended to
    ``impressions`` if given) by a background thread, flushed at shutdown."""
    held: dict[str, Graph] = {}
    recorders: dict[str, ImpressionRecorder] = {}
    cache = pool_cache(settings.serving)  # one for the process: its visits share what they read

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        conn = None
        if graph is not None:
            held["graph"] = graph
        else:
            conn = connection or resolve(settings.neo4j, echo=None)
            held["graph"] = Graph(conn.driver, conn.database)
        try:
            health(held["graph"])  # warm up: a pooled connection, the query files
        except YtGraphError as e:  # serve anyway: /healthz says 503 until Neo4j answers
            log.warning("ytgraph api: Neo4j does not answer yet: %s", one_line(e))
        if record:
            recorders["r"] = ImpressionRecorder(
                held["graph"],
                keep=settings.serving.shown_keep,
                log=impressions,
                interval=FLUSH_SECONDS,
            )
        gc.freeze()  # the warm start-up heap stays out of full GC passes (DEVELOPERS.md)
        try:
            yield
        finally:
            recorder = recorders.pop("r", None)
            if recorder is not None:
                try:
                    recorder.close()
                except YtGraphError as e:
                    log.warning("ytgraph api: impressions not written: %s", one_line(e))
            held.pop("graph")
            if conn is not None:
                conn.close()

    app = FastAPI(
        title="ytgraph",
        version=__version__,
        description="Video recommendations after YouTube's 2010 design, on a real Neo4j: "
        "the JSON of `ytgraph recommend / related / explain --json`. Read-only.",
        lifespan=lifespan,
    )

    @app.exception_handler(YtGraphError)
    async def library_error(_request: Request, exc: YtGraphError) -> JSONResponse:
        return error(status_of(exc), exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
            for e in exc.errors()
        ]
        return error(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, exc.detail)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        return error(500, "internal error")  # the server's log has the trace, the client not

    @app.get(
        "/recommend/{user_id}",
        summary="A user's recommendations",
        responses=errors(400, 404, 422, 503),
    )
    def recommend_(
        user_id: str,
        n: N = None,
        depth: DEPTH = None,
        allow_unknown: Annotated[
            bool, Query(description="An unknown user gets the popular list instead of a 404.")
        ] = False,
        rotate: Annotated[
            bool | None,
            Query(description="Prefer what the user was not shown yet (default: the settings')."),
        ] = None,
    ) -> Response:
        """The list of `ytgraph recommend USER --json`: n of the user's ranked pool, rotated."""
        recs = _recommendations(
            held["graph"],
            user_id,
            settings,
            n,
            depth,
            allow_unknown=allow_unknown,
            rotate=rotate,
            recorder=recorders.get("r"),
            cache=cache,
        )
        return as_json(recs.to_json(), {"X-Recommendations-Source": recs.source})

    @app.get(
        "/related/{video_id}",
        summary="A video's related videos R_i",
        responses=errors(404, 422, 503),
    )
    def related_(
        video_id: str,
        n: Annotated[int, Query(ge=1, le=1000, description="How many, 1-1000.")] = 10,
    ) -> Response:
        """`{"video_id", "related"}`; `related` is the list `ytgraph related VIDEO --json` prints."""
        return as_json(
            {"video_id": video_id, "related": related_videos(held["graph"], video_id, n)}
        )

    @app.get("/explain/{user_id}/{video_id}", summary="Why a video is or is not recommended",
             responses=errors(400, 404, 422, 503))  # fmt: skip
    def explain_(user_id: str, video_id: str, n: N = None, depth: DEPTH = None) -> Response:
        """The verdict, paths and score breakdown of `ytgraph explain USER VIDEO --json`."""
        return as_json(
            explain(held["graph"], user_id, video_id, settings, n=n, depth=depth).to_json()
        )

    @app.get("/healthz", summary="Neo4j's version and the graph generation", responses=errors(503))
    def healthz() -> JSONResponse:
        """`{"status": "ok", "neo4j", "generation"}`; 503 with an error when Neo4j does not answer."""
        try:
            return JSONResponse(health(held["graph"]))
        except YtGraphError as e:
            return JSONResponse({"status": "unavailable", "error": one_line(e)}, status_code=503)

    return app


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, or ServerError in one line (say, the port is taken)."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as e:
        raise ServerError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def run(settings: Settings, host: str, port: int, *, echo: Echo | None = None) -> None:
    """Serve the API until Ctrl-C. The port and Neo4j are had first, so that either failing is a
    one-line ServerError rather than a server that starts and then dies."""
    import uvicorn

    say: Echo = echo or (lambda _m: None)
    sock = listen(host, port)
    try:
        conn = resolve(settings.neo4j, echo=echo)
    except BaseException:
        sock.close()
        raise
    log_file = default_state_dir(settings, conn.state_key) / "impressions.csv"
    app = create_app(settings, connection=conn, impressions=log_file)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    )
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    say(f"ytgraph: serving {url} (docs {url}/docs); Ctrl-C stops")
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shut down gracefully, then re-raised the signal
        pass
    finally:
        sock.close()
        conn.close()  # a no-op when the lifespan closed it
