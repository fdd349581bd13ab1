"""A managed Neo4j Community server assembled from Neo4j's own artifacts on Maven Central.

No Docker and no download site: Maven resolves ``org.neo4j:neo4j`` + ``neo4j-server`` (+ the Browser and
APOC core) into a cache folder once; each *home* (conf, data, logs, run) runs its own server as a
background process group, with auth on, a generated password (file mode 0600) and loopback-only ports.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from ytgraph.config import Neo4jSettings, cache_dir
from ytgraph.errors import ServerError

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


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is not alive for our purposes.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


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
        self.home = Path(home or settings.home or root / "home" / "default")

    # -- paths -------------------------------------------------------------------------------
    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / "ytgraph-server.pid"

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

    def configure(self) -> None:
        """Write the home's layout and conf; set a generated initial password on first use."""
        for sub in ("conf", "data", "logs", "run", "import"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        for link, target in (("lib", self.dist / "lib"), ("plugins", self.dist / "plugins")):
            path = self.home / link
            if path.is_symlink() or path.exists():
                if path.resolve() == target.resolve():
                    continue
                path.unlink()
            path.symlink_to(target, target_is_directory=True)
        for addon in self.addons:  # e.g. the Browser archive with ytgraph's guide and style
            addon.install(self.home, self.dist / "lib")
        (self.home / "conf" / "neo4j.conf").write_text(self.conf_text())
        initialised = (self.home / "data" / "dbms").exists()
        if initialised and not self.password_file.exists():
            raise ServerError(
                f"{self.home} holds a database but its password file is gone: "
                f"delete {self.home} to start afresh"
            )
        if not initialised:
            password = secrets.token_urlsafe(18)
            java, _ = find_java()
            proc = subprocess.run(
                [
                    java,
                    "-cp",
                    f"{self.home / 'lib'}/*",
                    "org.neo4j.cli.AdminTool",
                    "dbms",
                    "set-initial-password",
                    password,
                ],
                env=self._env(java),
                capture_output=True,
                text=True,
                timeout=120,
            )
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
                raise ServerError(f"could not set the initial password: {' '.join(tail)}")
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
            os.chmod(self.password_file, 0o600)

    def _env(self, java: str) -> dict[str, str]:
        env = dict(os.environ)
        env["NEO4J_HOME"] = str(self.home)
        env["NEO4J_CONF"] = str(self.home / "conf")
        env["JAVA_HOME"] = str(Path(java).resolve().parent.parent)
        return env

    # -- lifecycle ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def http_ok(self, path: str = "/", timeout: float = 2.0) -> bool:
        url = f"http://127.0.0.1:{self.settings.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self, echo: Callable[[str], object] = print) -> float:
        """Start (resolving first if needed) and wait until Bolt answers; returns seconds to ready."""
        t0 = time.perf_counter()
        if self.pid() is not None:
            if not self._refresh():
                self._wait_ready(t0)
                return 0.0
            # A server started from an older conf or Browser archive would serve stale content.
            echo("ytgraph: the server's configuration changed; restarting Neo4j")
            self.stop()
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
        # A session of its own: the launcher forks the server JVM, and stop() signals the group.
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
        self.pid_file.write_text(f"{proc.pid}\n")
        try:
            self._wait_ready(boot, proc)
        except ServerError:
            self.stop(timeout=20)  # leave no half-started server behind
            raise
        return time.perf_counter() - t0

    def _refresh(self) -> bool:
        """Rewrite conf and the Browser archive; True when either changed (a restart applies it)."""
        conf = self.home / "conf" / "neo4j.conf"
        archive = self.home / "web" / "neo4j-browser.zip"

        def look() -> tuple[str | None, int | None]:
            return (
                conf.read_text() if conf.exists() else None,
                archive.stat().st_mtime_ns if archive.exists() else None,
            )

        before = look()
        self.configure()
        return look() != before

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

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM the server's process group, then SIGKILL if it lingers. False if it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._group_alive(pid):
            time.sleep(0.2)
        if self._group_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    @staticmethod
    def _group_alive(pgid: int) -> bool:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    return True
        return False
