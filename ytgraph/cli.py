"""The ``ytgraph`` command: a thin layer that parses, calls one library function, prints.

Library errors (``YtGraphError``) become one line on stderr and the error's exit code:
0 ok, 1 failure (server, graph), 2 bad usage or input.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ytgraph.config import Settings, load_settings
from ytgraph.errors import YtGraphError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    help="ytgraph: video recommendations after YouTube's 2010 design, on a real Neo4j.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
neo4j_app = typer.Typer(help="Run the managed Neo4j server (no Docker needed).", no_args_is_help=True)
app.add_typer(neo4j_app, name="neo4j")


class State:
    """Global options, read once per invocation."""

    config: Path | None = None
    uri: str | None = None
    quiet: bool = False


STATE = State()


@app.callback()
def main(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config file (default ./ytgraph.toml).")
    ] = None,
    uri: Annotated[
        str | None, typer.Option("--uri", help="Use this Neo4j (bolt://...) instead of the managed one.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr.")] = False,
) -> None:
    STATE.config, STATE.uri, STATE.quiet = config, uri, quiet


def fail(message: str, code: int) -> None:
    typer.echo(f"ytgraph: {message}", err=True)
    raise typer.Exit(code)


def handled(fn: F) -> F:
    """Turn library errors into one line and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except YtGraphError as e:
            fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper  # type: ignore[return-value]


def settings(overrides: dict[str, Any] | None = None) -> Settings:
    overrides = dict(overrides or {})
    if STATE.uri:
        overrides["neo4j.uri"] = STATE.uri
    return load_settings(STATE.config, overrides=overrides)


def note(message: str) -> None:
    if not STATE.quiet:
        typer.echo(message, err=True)


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


# -- neo4j ------------------------------------------------------------------------------------
@neo4j_app.command("start")
@handled
def neo4j_start() -> None:
    """Resolve (first time only) and start the managed Neo4j; wait until it answers."""
    from ytgraph.server import ManagedServer

    server = ManagedServer(settings().neo4j)
    already = server.pid() is not None
    seconds = server.start(echo=note)
    if already:
        typer.echo(f"Neo4j is already running at {server.uri}")
    else:
        typer.echo(f"Neo4j started in {seconds:.1f}s at {server.uri}; Browser {server.browser_url}")


@neo4j_app.command("stop")
@handled
def neo4j_stop() -> None:
    """Stop the managed Neo4j (SIGTERM to its process group, SIGKILL after a minute)."""
    from ytgraph.server import ManagedServer

    stopped = ManagedServer(settings().neo4j).stop()
    typer.echo("Neo4j stopped" if stopped else "Neo4j was not running")


@neo4j_app.command("status")
@handled
def neo4j_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Which Neo4j ytgraph uses: provider, Bolt URI, Browser URL, version, user, password file.

    Exits 1 when the server is not running.
    """
    from ytgraph.connect import resolve

    conn = resolve(settings().neo4j, start=False, echo=None)
    try:
        info = conn.describe()
    finally:
        conn.close()
    if as_json:
        echo_json(info)
    else:
        for key, value in info.items():
            typer.echo(f"{key:14} {value}")


def run() -> None:  # pragma: no cover - console entry when called as a module
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
