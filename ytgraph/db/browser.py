"""Neo4j Browser for analysts: a guide, a graph style and saved queries, served by the managed
server.

Sources live in ``cypher/browser/``: one ``<name>.cypher`` per saved query (a comment header gives
its title, description, example parameters, view and input boxes), ``guide.html`` (the prose, with a
placeholder for each query and for config defaults) and ``ytgraph.grass`` (the style).

How they reach the Browser (Neo4j 5.26 Community, Browser 5.24), each step checked against both:

- Neo4j serves ``/browser/`` from one place only: ``<home>/web/neo4j-browser*.zip`` when present
  (``internal.dbms.web_dir_path``, default ``web``; the archive is unpacked at start), else the
  first ``browser/`` folder on the class path. A jar of our own in ``plugins/`` is therefore never
  looked at, so :func:`install` writes ``<home>/web/neo4j-browser.zip``: the Browser jar's files
  plus ``browser/ytgraph/{guide.html,ytgraph.grass}``, rebuilt when a source changes.
- ``browser.post_connect_cmd`` (:func:`post_connect_command`) runs ``:style <url>`` and
  ``:guide <url>`` after every login; the Browser fetches both only from hosts in
  ``browser.remote_content_hostname_whitelist``, which Community declares (default
  ``guides.neo4j.com,localhost``: 127.0.0.1 is added).
- Community does not declare ``browser.allow_outgoing_connections`` nor
  ``browser.retain_connection_credentials`` and Browser 5.24 treats any Community server as allowing
  both: it stores the password in the page's local storage and, after login, loads Segment and
  Canny scripts from the internet. ``client.allow_telemetry=false`` (declared) turns the usage
  data and its consent banner off; the page's Content-Security-Policy (declared) is narrowed here
  to loopback hosts, so those scripts are refused by the browser itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ytgraph.config import Settings
from ytgraph.db.graph import cypher_dir
from ytgraph.errors import YtGraphError

STATIC_DIR = "ytgraph"  # served at /browser/ytgraph/
GUIDE_FILE = "guide.html"
STYLE_FILE = "ytgraph.grass"
WEB_ARCHIVE = "neo4j-browser.zip"  # matches Neo4j's internal.dbms.browser_artefact_pattern
ID_INPUTS = ("video_id", "user_id", "recommended_video_id", "channel_id")
# The Browser page may talk to loopback only: Bolt over WebSocket, the HTTP API, guide and style.
# Neo4j's default also allows cdn.segment.com, canny.io, api.segment.io, api.canny.io,
# fonts.googleapis.com, fonts.gstatic.com, guides.neo4j.com and any http(s)/ws(s) host.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; font-src 'self' data:; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'; connect-src 'self' "
    "ws://127.0.0.1:* ws://localhost:* http://127.0.0.1:* http://localhost:*"
)
REMOTE_CONTENT_HOSTS = "127.0.0.1,localhost"

_HEADER_FIELD = re.compile(r"^//\s*([a-z_]+):\s?(.*)$")
_PLACEHOLDER = re.compile(r"<!--\s*query:\s*([a-z0-9_]+)\s*-->")
_SETTING = re.compile(r"\{\{\s*([a-z_]+)\.([a-z_]+)\s*\}\}")
_COMMENT = re.compile(r"<!--(?!\s*query:).*?-->\s*", re.DOTALL)


@dataclass(frozen=True)
class BrowserQuery:
    """One saved query of the guide: ``cypher/browser/<name>.cypher``."""

    name: str
    title: str
    description: str
    cypher: str  # the statement without its header, as the guide shows and runs it
    params: dict[str, Any] = field(default_factory=dict)  # example values, for ``:param``
    view: str = "table"  # "graph" when the result is meant to be looked at as a graph
    inputs: dict[str, str] = field(default_factory=dict)  # parameter -> the guide's id input box

    def param_command(self) -> str:
        """The Browser command that sets the example parameters: ``:param {k: v, ...}``."""
        return ":param " + _param_map(self.params)


def browser_dir() -> Path:
    return cypher_dir() / "browser"


def _param_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str) or value is None:
        return json.dumps(value)
    raise YtGraphError(f"example parameter {value!r}: only strings, numbers and booleans")


def _param_map(params: dict[str, Any], inputs: dict[str, str] | None = None) -> str:
    """``{video_id: "v1", n: 25}``; as HTML when ``inputs`` is given, where the values of those
    parameters become spans that the guide's input boxes fill in (``value-key``)."""
    parts = []
    for key, value in params.items():
        text = _param_value(value)
        if inputs is not None:
            text = html.escape(text, quote=False)
            if key in inputs and isinstance(value, str):
                inner = html.escape(json.dumps(value)[1:-1], quote=False)
                text = f'"<span value-key="{inputs[key]}">{inner}</span>"'
        parts.append(f"{key}: {text}")
    return "{" + ", ".join(parts) + "}"


def parse_query_file(path: Path) -> BrowserQuery:
    """Read one saved query: leading ``// key: value`` lines, continued by indented ``//`` lines."""
    fields: dict[str, list[str]] = {}
    current: str | None = None
    lines = path.read_text(encoding="utf-8").splitlines()
    body_start = len(lines)
    for i, line in enumerate(lines):
        if not line.startswith("//"):
            body_start = i
            break
        m = _HEADER_FIELD.match(line)
        if m and not line.startswith("//  "):
            current = m.group(1)
            fields[current] = [m.group(2).strip()]
        elif current is not None:
            fields[current].append(line[2:].strip())
    cypher = "\n".join(lines[body_start:]).strip()
    name = path.stem
    missing = {"title", "description", "params"} - fields.keys()
    if missing or not cypher:
        raise YtGraphError(f"{path}: header needs title, description and params, then a query")
    try:
        params = json.loads(" ".join(fields["params"]))
    except json.JSONDecodeError as e:
        raise YtGraphError(f"{path}: params is not a JSON object ({e})") from None
    if not isinstance(params, dict):
        raise YtGraphError(f"{path}: params is not a JSON object")
    view = " ".join(fields.get("view", ["table"]))
    if view not in ("table", "graph"):
        raise YtGraphError(f"{path}: view must be table or graph, not {view!r}")
    inputs = {k: k for k in params if k in ID_INPUTS}
    if "inputs" in fields:  # e.g. {"video_id": "recommended_video_id"}
        inputs.update(json.loads(" ".join(fields["inputs"])))
    if not set(inputs) <= set(params) or not set(inputs.values()) <= set(ID_INPUTS):
        raise YtGraphError(f"{path}: inputs maps parameters to one of {', '.join(ID_INPUTS)}")
    if ";" in re.sub(r"'[^']*'|\"[^\"]*\"", "", cypher).rstrip(";"):
        raise YtGraphError(f"{path}: one statement only")
    return BrowserQuery(
        name=name,
        title=" ".join(fields["title"]),
        description=" ".join(fields["description"]),
        cypher=cypher,
        params=params,
        view=view,
        inputs=inputs,
    )


def guide_template() -> str:
    return (browser_dir() / GUIDE_FILE).read_text(encoding="utf-8")


def guide_queries() -> list[BrowserQuery]:
    """The saved queries, in the order the guide shows them (files it does not place come last)."""
    files = {p.stem: p for p in sorted(browser_dir().glob("*.cypher"))}
    order = [n for n in _PLACEHOLDER.findall(guide_template()) if n in files]
    order += [n for n in files if n not in order]
    seen: set[str] = set()
    out = []
    for name in order:
        if name not in seen:
            seen.add(name)
            out.append(parse_query_file(files[name]))
    return out


def _inline(text: str) -> str:
    """Plain text to HTML, with `code` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def query_html(q: BrowserQuery) -> str:
    """One query in the guide: title, description, a runnable ``:param`` line, a runnable query."""
    kind = "graph" if q.view == "graph" else "table"
    return (
        f'<div class="ytgraph-query" id="q-{q.name}">\n'
        f"<h5>{_inline(q.title)}</h5>\n"
        f"<p>{_inline(q.description)} <small>({kind}; "
        f"<code>cypher/browser/{q.name}.cypher</code>)</small></p>\n"
        f'<pre class="code runnable">:param {_param_map(q.params, q.inputs)}</pre>\n'
        f'<pre class="code runnable">{html.escape(q.cypher, quote=False)}</pre>\n'
        "</div>"
    )


def _setting(settings: Settings, section: str, key: str) -> str:
    part = getattr(settings, section, None)
    if part is None or not dataclasses.is_dataclass(part) or not hasattr(part, key):
        raise YtGraphError(f"{GUIDE_FILE}: no setting {section}.{key}")
    value = getattr(part, key)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return html.escape(str(value))


def guide_html(settings: Settings | None = None) -> str:
    """The guide as served: the template with its queries and config defaults filled in."""
    settings = settings or Settings()
    queries = {q.name: q for q in guide_queries()}
    text = _COMMENT.sub("", guide_template())
    placed = set(_PLACEHOLDER.findall(text))
    text = _PLACEHOLDER.sub(lambda m: query_html(queries[m.group(1)]), text)
    rest = [q for name, q in queries.items() if name not in placed]
    if rest:  # a new query file without a place in the template still reaches the analysts
        extra = "\n".join(query_html(q) for q in rest)
        text = text.rstrip() + f"\n\n<slide>\n<h3>More queries</h3>\n{extra}\n</slide>\n"
    return _SETTING.sub(lambda m: _setting(settings, m.group(1), m.group(2)), text)


def static_files() -> dict[str, bytes]:
    """What the server serves under ``/browser/ytgraph/``: the guide and the style."""
    return {
        GUIDE_FILE: guide_html().encode("utf-8"),
        STYLE_FILE: (browser_dir() / STYLE_FILE).read_bytes(),
    }


def _zip_dir(out: zipfile.ZipFile, name: str) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o40755 << 16
    out.writestr(info, b"")


def _zip_file(out: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    out.writestr(info, data)


def our_files() -> dict[str, bytes]:
    """The guide, style and saved queries, by their path inside the Browser archive."""
    return {f"browser/{STATIC_DIR}/{n}": data for n, data in static_files().items()}


def build_static_jar(
    dest: Path, browser_jar: Path | None = None, ours: dict[str, bytes] | None = None
) -> Path:
    """Write an archive of ``browser/ytgraph/*`` at ``dest``; with ``browser_jar``, the Browser too.

    Layout as Neo4j unpacks ``web/neo4j-browser*.zip``: the first entry is the ``browser/`` folder
    (it becomes ``/browser/``), every folder has its own entry before its files. Browser files are
    stored uncompressed (they are only unpacked once per start). Written to a temporary file and
    renamed, so a reader never sees half an archive. ``ours``: ``our_files()``, if already made.
    """
    ours = our_files() if ours is None else ours
    files: dict[str, bytes] = {}
    if browser_jar is not None:
        with zipfile.ZipFile(browser_jar) as src:
            for info in src.infolist():
                if info.filename.startswith("browser/") and not info.is_dir():
                    files[info.filename] = src.read(info)
    files.update(ours)
    dirs = {"browser/"}
    for name in files:
        parts = name.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".ytgraph-", suffix=".zip")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as out:
            for d in sorted(dirs, key=lambda d: (d.count("/"), d)):
                _zip_dir(out, d)
            for name in sorted(files):
                _zip_file(out, name, files[name])
            out.comment = _digest(ours, browser_jar).encode()
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def _digest(ours: dict[str, bytes], browser_jar: Path | None) -> str:
    h = hashlib.sha256()
    for name in sorted(ours):
        h.update(name.encode() + b"\0" + ours[name] + b"\0")
    if browser_jar is not None:
        st = browser_jar.stat()
        h.update(f"{browser_jar.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return "ytgraph-browser " + h.hexdigest()


def find_browser_jar(lib_dir: Path) -> Path | None:
    jars = sorted(lib_dir.glob("neo4j-browser-*.jar"))
    return jars[-1] if jars else None


def install(home: Path, lib_dir: Path) -> Path | None:
    """Put the Browser with our guide and style at ``<home>/web/neo4j-browser.zip``.

    Rebuilt only when the guide, the style, a saved query or the Browser jar changed (about half a
    second); None when ``lib_dir`` holds no Browser. The server reads it at its next start.
    """
    browser_jar = find_browser_jar(lib_dir)
    web = home / "web"
    dest = web / WEB_ARCHIVE
    if browser_jar is None:
        dest.unlink(missing_ok=True)
        return None
    ours = our_files()
    want = _digest(ours, browser_jar)
    if dest.is_file():
        try:
            with zipfile.ZipFile(dest) as z:
                if z.comment.decode(errors="replace") == want:
                    return dest
        except zipfile.BadZipFile:
            pass
    for stale in web.glob("neo4j-browser*.zip"):  # Neo4j would serve the newest of several
        if stale != dest:
            stale.unlink()
    return build_static_jar(dest, browser_jar, ours)


def static_url(http_base: str, name: str) -> str:
    return f"{http_base.rstrip('/')}/browser/{STATIC_DIR}/{name}"


def post_connect_command(http_base: str) -> str:
    """``browser.post_connect_cmd``: load the style, then open the guide in the sidebar.

    The Browser splits the value on ``;`` and runs each part as ``:<part>``.
    """
    return f"style {static_url(http_base, STYLE_FILE)}; guide {static_url(http_base, GUIDE_FILE)}"


def conf_lines(http_port: int) -> list[str]:
    """The ``neo4j.conf`` lines for the Browser (all declared by Community 5.26)."""
    base = f"http://127.0.0.1:{http_port}"
    return [
        f"browser.post_connect_cmd={post_connect_command(base)}",
        f"browser.remote_content_hostname_whitelist={REMOTE_CONTENT_HOSTS}",
        f"dbms.security.http_static_content_security_policy_header={CONTENT_SECURITY_POLICY}",
    ]
