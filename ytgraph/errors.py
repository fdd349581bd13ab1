"""The few exception types ytgraph raises; the CLI turns each into one line and an exit code."""

from __future__ import annotations


class YtGraphError(Exception):
    """Base of every error ytgraph raises on purpose. ``exit_code`` is what the CLI returns."""

    exit_code = 1


class InputError(YtGraphError):
    """The user's input is wrong: a bad file, a bad row under --strict, an unknown option value."""

    exit_code = 2


class ConfigError(InputError):
    """A configuration file, environment variable or override has a bad key or value."""


class NotFoundError(InputError):
    """A user or video that the graph does not hold."""


class ServerError(YtGraphError):
    """Neo4j could not be started, found, or reached; the message says why."""


class GraphError(YtGraphError):
    """A query or a write failed on the server; the graph is left as it was."""


class BusyError(YtGraphError):
    """Another ytgraph process holds what this one needs (the server's lifecycle, a count state)."""
