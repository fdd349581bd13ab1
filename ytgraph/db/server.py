"""A managed Neo4j Community server assembled from Neo4j's own artifacts on Maven Central.

No Docker and no download site: Maven resolves ``org.neo4j:neo4j`` + ``neo4j-server`` (+ the Browser and
APOC core) into a cache folder once; each *home* (conf, data, logs, run) runs its own server as a
background process group, with auth on, a generated password (file mode 0600) and loopback-only ports.

Any number of ytgraph processes may use one home at once. One file lock in the home
(``ytgraph-server.lock``) makes them take turns at checking the configuration and starting or
stopping the server, so exactly one of them starts it and none restarts it needlessly; everything
written there (conf, pid file, password file) is written whole or not at all (a temporary file
renamed into place), and a running server is found by its command line even if its pid file is gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from ytgraph.config import Neo4jSettings, cache_dir
from ytgraph.errors import ServerError
from ytgraph.locks import exclusive

# How long a command waits for another one to finish starting or stopping the server, on top of the
# start-up timeout (a first start also resolves the jars with Maven, about a minute).
LOCK_GRACE_S = 600.0

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ytgraph</groupId><artifactId>neo4j-assembly</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""
_DEP = (
    "    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
    "<version>{v}</version></dependency>"
)


class ServerAddon(Protocol):
    """Something a home carries besides Neo4j itself: lines for neo4j.conf and files to install.

    The server knows nothing of what an add-on is for; ``ytgraph.db.browser`` (the analysts' guide and
    style) is one, wired in by ``connect.managed_server``.
    """

    def conf_lines(self, http_port: int) -> list[str]: ...

    def install(self, home: Path, lib_dir: Path) -> object: ...


def find_java() -> tuple[str, int]:
    """A Java 17 or 21 runtime (5.26 supports both), preferring $YTGRAPH_JAVA, then $JAVA_HOME, then PATH."""
    candidates = [os.environ.get("YTGRAPH_JAVA", "")]
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    candidates.append(shutil.which("java") or "")
    seen: list[str] = []
    for java in filter(None, candidates):
        try:
            out = subprocess.run(
                [java, "-version"], capture_output=True, text=True, timeout=20
            ).stderr
        except (OSError, subprocess.TimeoutExpired):
            continue
        m = re.search(r'version "(\d+)', out)
        major = int(m.group(1)) if m else 0
        seen.append(f"{java} ({major or '?'})")
        if major in (17, 21):
            return java, major
    if not seen:
        raise ServerError("no Java found: Neo4j 5.26 needs Java 17 or 21 (install openjdk-17-jre)")
    raise ServerError(f"Neo4j 5.26 needs Java 17 or 21; found {', '.join(seen)} (set YTGRAPH_JAVA)")


def own_server(neo4j: Neo4jSettings, name: str, bolt_port: int, http_port: int) -> Neo4jSettings:
    """``neo4j`` moved to a managed server of a command's own (home ``<cache>/home/<name>``), so
    what that command empties is never the user's graph."""
    return dataclasses.replace(
        neo4j,
        uri="",
        bolt_port=bolt_port,
        http_port=http_port,
        home=str(cache_dir() / "home" / name),
    )


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` by ``text`` in one step: a reader sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _cmdline(proc: Path) -> list[bytes]:
    return (proc / "cmdline").read_bytes().split(b"\0")


def home_processes(home: Path) -> dict[int, int]:
    """``{pid: process group}`` of the live processes running a Neo4j of ``home``: the launcher
    (``-Dbasedir=<home>``) and the server JVM it forks (``--home-dir=<home>``). Exact arguments, so
    ``home/test`` never matches ``home/test-2``."""
    marks = {f"-Dbasedir={home}".encode(), f"--home-dir={home}".encode()}
    found: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            if not marks.intersection(_cmdline(proc)):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z":  # a zombie has exited; only its exit status is left
                found[int(proc.name)] = int(fields[2])
    return found


class ManagedServer:
    """One Neo4j home (conf, data, logs, run) on top of a shared, cached set of resolved jars."""

    def __init__(
        self,
        settings: Neo4jSettings,
        home: Path | None = None,
        addons: Sequence[ServerAddon] = (),
    ) -> None:
        self.settings = settings
        self.addons = tuple(addons)
        root = cache_dir()
        self.dist = root / "dist" / f"neo4j-{settings.version}-browser-{settings.browser_version}"
        # Absolute: the process list is searched for this exact path (see ``home_processes``).
        self.home = Path(home or settings.home or root / "home" / "default").absolute()

    # -- paths -------------------------------------------------------------------------------
    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / "ytgraph-server.pid"

    @property
    def lock_file(self) -> Path:
        return self.home / "ytgraph-server.lock"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "console.log"

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.settings.bolt_port}"

    @property
    def browser_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}/browser/"

    def password(self) -> str:
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            raise ServerError(
                f"no password file at {self.password_file}: run `ytgraph neo4j start` first"
            ) from None

    # -- resolution --------------------------------------------------------------------------
    def resolved(self) -> bool:
        return (self.dist / "complete").is_file()

    def resolve(self, echo: Callable[[str], object] = print) -> float:
        """Fetch the server, Browser and APOC jars with Maven into the cache; returns seconds spent."""
        if self.resolved():
            return 0.0
        mvn = shutil.which("mvn")
        if not mvn:
            raise ServerError("Maven (mvn) is needed once to fetch Neo4j from Maven Central")
        s = self.settings
        t0 = time.perf_counter()
        echo(f"Resolving Neo4j {s.version} from Maven Central (first run only, about a minute)...")
        self.dist.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.dist.parent) as tmp:
            work = Path(tmp)
            self._mvn(
                mvn,
                work / "server",
                [
                    ("org.neo4j", "neo4j", s.version),
                    ("org.neo4j.app", "neo4j-server", s.version),
                    ("org.neo4j.client", "neo4j-browser", s.browser_version),
                ],
                work / "dist" / "lib",
                transitive=True,
            )
            try:  # APOC core is welcome, not required: the recommender does not depend on it.
                self._mvn(
                    mvn,
                    work / "apoc",
                    [
                        ("org.neo4j.procedure", "apoc-core", s.apoc_version),
                        ("org.neo4j.procedure", "apoc-common", s.apoc_version),
                    ],
                    work / "dist" / "plugins",
                    transitive=False,
                )
            except ServerError as e:
                echo(f"APOC not resolved, going on without it: {e}")
                (work / "dist" / "plugins").mkdir(parents=True, exist_ok=True)
            (work / "dist" / "complete").write_text(s.version + "\n")
            if self.dist.exists():
                shutil.rmtree(self.dist)
            (work / "dist").rename(self.dist)
        return time.perf_counter() - t0

    @staticmethod
    def _mvn(
        mvn: str, work: Path, deps: list[tuple[str, str, str]], out: Path, *, transitive: bool
    ) -> None:
        work.mkdir(parents=True)
        body = "\n".join(_DEP.format(g=g, a=a, v=v) for g, a, v in deps)
        (work / "pom.xml").write_text(_POM.format(deps=body))
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(work / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={out}",
        ]
        if not transitive:
            cmd.append("-DexcludeTransitive=true")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln]
            raise ServerError("Maven could not resolve Neo4j: " + " | ".join(lines[:2] or ["?"]))

    # -- configuration -----------------------------------------------------------------------
    def conf_text(self) -> str:
        s = self.settings
        return "\n".join(
            [
                "# Written by ytgraph on every start; edit ytgraph.toml [neo4j] instead.",
                "server.default_listen_address=127.0.0.1",
                f"server.bolt.listen_address=127.0.0.1:{s.bolt_port}",
                f"server.bolt.advertised_address=127.0.0.1:{s.bolt_port}",
                f"server.http.listen_address=127.0.0.1:{s.http_port}",
                f"server.http.advertised_address=127.0.0.1:{s.http_port}",
                "server.https.enabled=false",
                "server.bolt.tls_level=DISABLED",
                "dbms.security.auth_enabled=true",
                f"server.memory.heap.initial_size={s.heap}",
                f"server.memory.heap.max_size={s.heap}",
                f"server.memory.pagecache.size={s.pagecache}",
                "db.tx_state.memory_allocation=OFF_HEAP",
                f"server.memory.off_heap.transaction_max_size={s.transaction_memory}",
                f"dbms.memory.transaction.total.max={s.transaction_memory}",
                f"server.directories.data={self.home / 'data'}",
                f"server.directories.logs={self.home / 'logs'}",
                f"server.directories.run={self.home / 'run'}",
                f"server.directories.import={self.home / 'import'}",
                f"server.directories.plugins={self.home / 'plugins'}",
                "dbms.security.procedures.unrestricted=apoc.*",
                # No phoning home and no usage-data banner. (Community 5.26 declares only these two
                # client settings; browser.allow_outgoing_connections and
                # browser.retain_connection_credentials are Enterprise-only and fail strict validation.)
                "dbms.usage_report.enabled=false",
                "client.allow_telemetry=false",
                *self.browser_conf_lines(),
                "",
            ]
        )

    def browser_conf_lines(self) -> list[str]:
        """What the add-ons put into neo4j.conf (the Browser's guide, style and policy)."""
        return [line for addon in self.addons for line in addon.conf_lines(self.settings.http_port)]

    def configure(self) -> bool:
        """Lay out the home and write conf and add-ons where they differ from what is there; set a
        generated initial password on first use. True when conf or an add-on's files changed.

        Call it with the lifecycle lock held (``start`` does): it writes into the home.
        """
        for sub in ("conf", "data", "logs", "run", "import"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        for link, target in (("lib", self.dist / "lib"), ("plugins", self.dist / "plugins")):
            path = self.home / link
            if path.is_symlink() or path.exists():
                if path.resolve() == target.resolve():
                    continue
                path.unlink()
            path.symlink_to(target, target_is_directory=True)
        archive = self.home / "web" / "neo4j-browser.zip"
        before = archive.stat().st_mtime_ns if archive.exists() else None
        for addon in self.addons:  # e.g. the Browser archive with ytgraph's guide and style
            addon.install(self.home, self.dist / "lib")
        changed = (archive.stat().st_mtime_ns if archive.exists() else None) != before
        conf = self.home / "conf" / "neo4j.conf"
        text = self.conf_text()
        if not conf.exists() or conf.read_text() != text:
            write_atomically(conf, text)
            changed = True
        initialised = (self.home / "data" / "dbms").exists()
        if initialised and not self.password_file.exists():
            raise ServerError(
                f"{self.home} holds a database but its password file is gone: "
                f"delete {self.home} to start afresh"
            )
        if not initialised:
            self._set_initial_password()
        return changed

    def _set_initial_password(self) -> None:
        """Generate the password, keep it in the password file (0600), and give it to Neo4j.

        The admin tool reads its arguments from a file named ``@<file>`` (Neo4j's documented
        argument files), so the password is never on a command line that ``ps`` shows: the
        password file itself is that argument file.
        """
        password = secrets.token_urlsafe(18)
        while password.startswith("-"):  # the admin tool would take it for an option
            password = secrets.token_urlsafe(18)
        write_atomically(self.password_file, password + "\n", mode=0o600)
        java, _ = find_java()
        proc = subprocess.run(
            [
                java,
                "-cp",
                f"{self.home / 'lib'}/*",
                "org.neo4j.cli.AdminTool",
                "dbms",
                "set-initial-password",
                f"@{self.password_file}",
            ],
            env=self._env(java),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            self.password_file.unlink(missing_ok=True)
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
            raise ServerError(f"could not set the initial password: {' '.join(tail)}")

    def _env(self, java: str) -> dict[str, str]:
        env = dict(os.environ)
        env["NEO4J_HOME"] = str(self.home)
        env["NEO4J_CONF"] = str(self.home / "conf")
        env["JAVA_HOME"] = str(Path(java).resolve().parent.parent)
        return env

    # -- lifecycle ---------------------------------------------------------------------------
    def lifecycle(
        self, echo: Callable[[str], object] | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """The home's lock: held while checking or writing its files and starting or stopping its
        server, so that of many commands at once one starts the server and the others find it up."""
        wait = self.settings.start_timeout_s + LOCK_GRACE_S

        def waiting(pid: str) -> None:
            if echo is not None:
                echo(f"ytgraph: waiting for another ytgraph (pid {pid}) to start or stop Neo4j...")

        def busy(pid: str) -> str:
            return (
                f"another ytgraph (pid {pid}) is still starting or stopping the managed Neo4j in "
                f"{self.home} after {wait:.0f}s"
            )

        # Say so only for a real wait (a start), not for another command's quick look at the conf.
        return exclusive(self.lock_file, timeout=wait, busy=busy, waiting=waiting, quiet_s=1.0)

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def pid(self) -> int | None:
        """The running server's process group, None when no server of this home runs. Found in
        the process list, so a lost or stale pid file neither hides a server nor invents one."""
        groups = set(home_processes(self.home).values())
        if not groups:
            return None
        recorded = self._recorded_pid()
        return recorded if recorded in groups else min(groups)

    def http_ok(self, path: str = "/", timeout: float = 2.0) -> bool:
        url = f"http://127.0.0.1:{self.settings.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self, echo: Callable[[str], object] = print) -> float:
        """Start (resolving first if needed) and wait until Bolt answers; returns seconds to ready,
        0.0 when it was running already with this configuration."""
        t0 = time.perf_counter()
        with self.lifecycle(echo):
            running = self.pid()
            if running is not None:
                if self._recorded_pid() != running:  # the pid file was lost: adopt the server
                    write_atomically(self.pid_file, f"{running}\n")
                if not self.configure():
                    self._wait_ready(time.perf_counter())
                    return 0.0
                # A server started from an older conf or Browser archive would serve stale content.
                echo("ytgraph: the server's configuration changed; restarting Neo4j")
                self._stop()
            return self._start(t0, echo)

    def _start(self, t0: float, echo: Callable[[str], object]) -> float:
        """Start a server of this home (none runs; the lifecycle lock is held)."""
        java, _ = find_java()
        resolved_in = self.resolve(echo=echo)
        if resolved_in:
            echo(f"ytgraph: resolved Neo4j {self.settings.version} in {resolved_in:.0f}s")
        boot = time.perf_counter()  # the start-up deadline counts from here, not from resolution
        s = self.settings
        for port, what, key in (
            (s.bolt_port, "Bolt", "BOLT_PORT"),
            (s.http_port, "HTTP", "HTTP_PORT"),
        ):
            deadline = time.monotonic() + 10  # a server we just stopped may hold it a moment
            while not port_free(port) and time.monotonic() < deadline:
                time.sleep(0.5)
            if not port_free(port):
                raise ServerError(
                    f"{what} port {port} is taken (another Neo4j?): stop it, or set "
                    f"YTGRAPH_NEO4J__{key} / [neo4j] {key.lower()} in ytgraph.toml"
                )
        self.configure()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_file.open("ab")
        cmd = [
            java,
            "-cp",
            f"{self.home / 'lib'}/*:{self.home / 'plugins'}/*",
            f"-Dbasedir={self.home}",
            "org.neo4j.server.startup.Neo4jCommand",
            "console",
        ]
        # A session of its own: the launcher forks the server JVM; neither outlives stop().
        proc = subprocess.Popen(
            cmd,
            env=self._env(java),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.home,
        )
        log.close()
        # Before anyone else can look (they wait for the lock), so no running server lacks one.
        write_atomically(self.pid_file, f"{proc.pid}\n")
        try:
            self._wait_ready(boot, proc)
        except ServerError:
            self._stop(timeout=20)  # leave no half-started server behind
            raise
        return time.perf_counter() - t0

    def _wait_ready(self, t0: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        deadline = t0 + self.settings.start_timeout_s
        while time.perf_counter() < deadline:
            if proc is not None and proc.poll() is not None:
                raise ServerError(f"Neo4j exited during start-up: {self.log_tail()}")
            if self.http_ok("/") and self._bolt_ok():
                return
            time.sleep(0.3)
        raise ServerError(
            f"Neo4j did not answer within {self.settings.start_timeout_s:.0f}s: {self.log_tail()}"
        )

    def _bolt_ok(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(1.0)
            return sock.connect_ex(("127.0.0.1", self.settings.bolt_port)) == 0

    def log_tail(self, lines: int = 2) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no server log yet)"
        keep = [ln for ln in text if ln.strip() and "open files allowed" not in ln]
        errors = [ln for ln in keep if "ERROR" in ln or "Exception" in ln]
        return " | ".join((errors or keep)[-lines:]) or "(empty server log)"

    def admin_command(self, *args: str) -> tuple[list[str], dict[str, str]]:
        """The command line and environment of ``neo4j-admin <args>`` for this home (run it with
        the server stopped, see ``stopped``)."""
        java, _ = find_java()
        cmd = [java, "-cp", f"{self.home / 'lib'}/*", "org.neo4j.cli.AdminTool", *args]
        return cmd, self._env(java)

    @contextlib.contextmanager
    def stopped(self, echo: Callable[[str], object] = print) -> Iterator[None]:
        """The server stopped for offline work on its store (``neo4j-admin database import``),
        then started again, all under the lifecycle lock: no other command starts it meanwhile.
        It is started again even when the work fails (a kill -9 leaves it stopped; the next
        command starts it)."""
        with self.lifecycle(echo):
            self._stop()
            try:
                yield
            finally:
                self._start(time.perf_counter(), echo)

    def stop(self, timeout: float = 60.0, echo: Callable[[str], object] | None = None) -> bool:
        """Stop this home's server (SIGTERM, then SIGKILL if it lingers). False if none was running."""
        with self.lifecycle(echo):
            return self._stop(timeout)

    def _stop(self, timeout: float = 60.0) -> bool:
        """Stop every process of this home's server, found in the process list (pid file or not);
        the lifecycle lock is held."""
        procs = home_processes(self.home)
        found = bool(procs)
        for pid in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while procs and time.monotonic() < deadline:
            time.sleep(0.2)
            procs = home_processes(self.home)
        for pid in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while home_processes(self.home) and time.monotonic() < deadline + 10:
            time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return found
