"""The one connection resolver, shared by the CLI and the tests.

Order: an explicit URI (``--uri`` / ``NEO4J_URI`` with ``NEO4J_USER`` / ``NEO4J_PASSWORD``) → the
managed server (started if needed). Only a caller that asks (``containers=True``: the test suite)
gets a throwaway Neo4j testcontainer in between, when a Docker daemon answers. It says once which
one it uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import neo4j
from neo4j.exceptions import AuthError, ConfigurationError, ServiceUnavailable

from ytgraph.config import Neo4jSettings, check_uri, mask_credentials
from ytgraph.console import Echo, stderr_line
from ytgraph.db import browser
from ytgraph.db.browser import GUIDE_FILE, post_connect_command, static_url
from ytgraph.db.graph import query
from ytgraph.db.server import ManagedServer
from ytgraph.errors import InputError, ServerError, YtGraphError


@dataclass
class Connection:
    """A resolved server: where it is, how to log in, and an open driver."""

    provider: str  # "explicit" | "testcontainer" | "managed"
    uri: str
    user: str
    password: str
    database: str
    browser_url: str | None
    password_file: str | None
    driver: neo4j.Driver
    server: ManagedServer | None = None
    started: bool = False  # the managed server was down and this resolve started it
    _keepalive: Any = field(default=None, repr=False)

    def version(self) -> str:
        records, _, _ = self.driver.execute_query(query("server_version"), database_="system")
        return f"{records[0]['version']} {records[0]['edition']}"

    @property
    def state_key(self) -> str:
        """What names this server for its count state folder: the managed home, or the URI."""
        return str(self.server.home) if self.server else self.uri

    def describe(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "uri": self.uri,
            "browser_url": self.browser_url,
            "version": self.version(),
            "user": self.user,
            "password_file": self.password_file,
        }

    def close(self) -> None:
        self.driver.close()
        if self._keepalive is not None:
            self._keepalive.stop()


def managed_server(settings: Neo4jSettings) -> ManagedServer:
    """The managed server as ytgraph runs it: with the Browser add-on (guide, style, policy)."""
    return ManagedServer(settings, addons=(browser,))


def docker_available(timeout: float = 2.0) -> bool:
    """True only when a Docker daemon answers; quick when there is none (no socket, no DOCKER_HOST)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker  # testcontainers depends on it

        client = docker.from_env(timeout=int(max(timeout, 1)))  # type: ignore[attr-defined]
        return bool(client.ping())
    except Exception:
        return False


def _open(uri: str, user: str, password: str, database: str) -> neo4j.Driver:
    check_uri(uri, "Neo4j URI")  # settings made by hand reach here unchecked
    shown = mask_credentials(uri)
    # Server notifications (hints about unknown labels in an empty graph) would be logged as
    # warnings on every query; ytgraph's queries are tested, so they are switched off.
    try:
        driver = neo4j.GraphDatabase.driver(
            uri, auth=(user, password), connection_timeout=10, notifications_min_severity="OFF"
        )
    except (ConfigurationError, ValueError) as e:
        raise InputError(f"cannot use {shown}: {mask_credentials(str(e))}") from None
    try:
        driver.verify_connectivity()
    except AuthError:
        driver.close()
        raise ServerError(f"Neo4j at {shown} refused the credentials for user {user!r}") from None
    except (ServiceUnavailable, OSError, ValueError) as e:
        driver.close()
        raise ServerError(f"Neo4j at {shown} did not answer: {mask_credentials(str(e))}") from None
    return driver


def _browser_url_for(uri: str) -> str | None:
    host = uri.split("://", 1)[-1].split(":", 1)[0].split("/", 1)[0]
    return f"http://{host}:7474/browser/" if host else None


def resolve(
    settings: Neo4jSettings,
    *,
    start: bool = True,
    containers: bool = False,
    echo: Echo | None = stderr_line,
) -> Connection:
    """Find (or start) a Neo4j and return an open connection; ServerError when none can be had.

    ``containers``: use a throwaway testcontainer when a Docker daemon answers (the test suite
    does). Never for the CLI: the container goes when the connection closes, and with it the
    graph, so each command would see an empty database.
    """
    say: Echo = echo or (lambda _m: None)
    if settings.uri:
        driver = _open(settings.uri, settings.user, settings.password, settings.database)
        say(f"ytgraph: using Neo4j at {mask_credentials(settings.uri)} (explicit)")
        return Connection(
            "explicit",
            settings.uri,
            settings.user,
            settings.password,
            settings.database,
            _browser_url_for(settings.uri),
            None,
            driver,
        )
    if containers and docker_available():
        return _testcontainer(settings, say)
    server = managed_server(settings)
    was_running = server.pid() is not None
    if not was_running and not start:
        raise ServerError("the managed Neo4j is not running: start it with `ytgraph neo4j start`")
    seconds = 0.0
    if start:
        # Starts it when down, restarts it when its configuration changed, else returns at once
        # (after waiting, if another command is starting it right now).
        seconds = server.start(echo=say)
        if seconds:
            say(f"ytgraph: started the managed Neo4j in {seconds:.1f}s")
    driver = _open(server.uri, settings.user, server.password(), settings.database)
    say(f"ytgraph: using the managed Neo4j at {server.uri} (home {server.home})")
    return Connection(
        "managed",
        server.uri,
        settings.user,
        server.password(),
        settings.database,
        server.browser_url,
        str(server.password_file),
        driver,
        server=server,
        started=start and not was_running and seconds > 0,
    )


def _testcontainer(settings: Neo4jSettings, say: Echo) -> Connection:
    try:
        from testcontainers.community.neo4j import Neo4jContainer
    except ImportError:
        from testcontainers.neo4j import Neo4jContainer
    version = ".".join(settings.version.split(".")[:2])
    container = Neo4jContainer(image=f"neo4j:{version}")
    container.start()
    uri = container.get_connection_url()
    password = container.password
    driver = _open(uri, "neo4j", password, settings.database)
    say(f"ytgraph: using a Neo4j testcontainer at {uri}")
    http = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(7474)}/browser/"
    return Connection(
        "testcontainer",
        uri,
        "neo4j",
        password,
        settings.database,
        http,
        None,
        driver,
        _keepalive=container,
    )


def browse_info(conn: Connection, *, show_password: bool = False) -> dict[str, str | None]:
    """Where to open the Browser and how to log in: what ``ytgraph browse`` prints.

    ``url`` opens the Browser with the connect form filled in (all but the password); ``guide`` is
    set when the server serves ours (the managed one). The password itself is included only when
    asked for; otherwise ``password_file`` says where it is (None when it came from the user).
    """
    if not conn.browser_url:
        raise YtGraphError(f"no Neo4j Browser is known for {conn.uri}")
    bolt = conn.uri.split("://", 1)[-1]
    connect = f"bolt://{conn.user}@{bolt}" if conn.uri.startswith("bolt") else conn.uri
    info: dict[str, str | None] = {
        "url": f"{conn.browser_url}?dbms={quote(connect, safe='')}",
        "user": conn.user,
        "password_file": conn.password_file,
        "guide": None,
        "post_connect_cmd": None,
    }
    if conn.server is not None:
        base = conn.browser_url.split("/browser", 1)[0]
        info["guide"] = static_url(base, GUIDE_FILE)
        info["post_connect_cmd"] = post_connect_command(base)
    if show_password:
        info["password"] = conn.password
    return info
