"""The ``ytgraph`` command: a thin layer that parses, calls one library function, prints.

Library errors (``YtGraphError``) become one line on stderr and the error's exit code:
0 ok, 1 failure (server, graph), 2 bad usage or input.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import typer.core

from ytgraph.config import Settings, check_uri, load_settings, mask_credentials
from ytgraph.errors import InputError, YtGraphError

if TYPE_CHECKING:
    from loaders.schema import Dataset

F = TypeVar("F", bound=Callable[..., Any])

# Click's exception base, whether Typer bundles Click (as it does now) or depends on it.
_CLICK_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class OneLineErrors(typer.core.TyperGroup):
    """The root command: a usage mistake (unknown option, bad value, missing argument) is Click's
    message on one line of stderr and exit 2, not a usage box."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        run = functools.partial(
            super().main, args, prog_name, complete_var, False, windows_expand_args, **extra
        )
        if not standalone_mode:
            return run()
        try:
            code = run()
        except _CLICK_ERROR as e:
            exit_code = int(getattr(e, "exit_code", 2))
            if type(e).__name__ == "NoArgsIsHelpError":  # no arguments: the help was shown
                sys.exit(exit_code)
            message = " ".join(str(e.format_message()).split())  # type: ignore[attr-defined]
            ctx = getattr(e, "ctx", None)
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            typer.echo(f"ytgraph: {mask_credentials(message)}{hint}", err=True)
            sys.exit(exit_code)
        except typer.Abort:
            typer.echo("ytgraph: interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    help="ytgraph: video recommendations after YouTube's 2010 design, on a real Neo4j.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
neo4j_app = typer.Typer(
    help="Run the managed Neo4j server (no Docker needed).", no_args_is_help=True
)
app.add_typer(neo4j_app, name="neo4j")


class State:
    """Global options, read once per invocation."""

    config: Path | None = None
    uri: str | None = None
    profile: str | None = None
    quiet: bool = False


STATE = State()


@app.callback()
def main(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML config file (default ./ytgraph.toml)."),
    ] = None,
    uri: Annotated[
        str | None,
        typer.Option("--uri", help="Use this Neo4j (bolt://...) instead of the managed one."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Settings profile beneath the config file: default (measured) | paper (the "
            'paper\'s literal system). Also YTGRAPH_PROFILE or profile = "..." in the file.',
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr.")
    ] = False,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace",
            help="Every Neo4j query on stderr: its name before it runs (so a failing or hanging "
            "query shows), then its rows and time.",
        ),
    ] = False,
) -> None:
    STATE.config, STATE.uri, STATE.profile, STATE.quiet = config, uri, profile, quiet
    # Set on every invocation (off too), so in-process callers never inherit an earlier --trace;
    # without it the driver is not imported just to say so (`--help` stays fast).
    if trace or "ytgraph.db.graph" in sys.modules:
        from ytgraph.db.graph import trace_all

        trace_all(*((_trace_start, _trace_end) if trace else (None, None)))


def _trace_start(name: str, sent: int) -> None:
    rows = f" ({sent:,} rows)" if sent else ""
    typer.echo(f"trace: {name}{rows} ...", err=True)


def _trace_end(name: str, rows: int, seconds: float) -> None:
    typer.echo(f"trace: {name}: {rows:,} rows in {seconds * 1000:.1f} ms", err=True)


def fail(message: str, code: int) -> None:
    # No message shows a password, whichever URI it quotes.
    typer.echo(f"ytgraph: {mask_credentials(message)}", err=True)
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
        check_uri(STATE.uri, "--uri")
        overrides["neo4j.uri"] = STATE.uri
    return load_settings(STATE.config, overrides=overrides, profile=STATE.profile)


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
    from ytgraph.db.connect import managed_server

    server = managed_server(settings().neo4j)
    seconds = server.start(echo=note)  # 0.0: it was running, with this configuration
    if seconds == 0.0:
        typer.echo(f"Neo4j is already running at {server.uri}")
    else:
        typer.echo(f"Neo4j started in {seconds:.1f}s at {server.uri}; Browser {server.browser_url}")


@neo4j_app.command("stop")
@handled
def neo4j_stop() -> None:
    """Stop the managed Neo4j (SIGTERM to its processes, SIGKILL after a minute), pid file or not."""
    from ytgraph.db.server import ManagedServer

    stopped = ManagedServer(settings().neo4j).stop(echo=note)
    typer.echo("Neo4j stopped" if stopped else "Neo4j was not running")


@neo4j_app.command("status")
@handled
def neo4j_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Which Neo4j ytgraph uses: provider, Bolt URI, Browser URL, version, user, password file.

    Exits 1 when the server is not running.
    """
    from ytgraph.db.connect import resolve

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


# -- graph helpers -----------------------------------------------------------------------------
class _Opened:
    """A resolved connection and a Graph over it, closed on exit."""

    def __init__(self, cfg: Settings) -> None:
        from ytgraph.db.connect import resolve
        from ytgraph.db.graph import Graph

        self.cfg = cfg
        self.conn = resolve(cfg.neo4j, echo=None if STATE.quiet else note)
        self.graph = Graph(self.conn.driver, self.conn.database)

    def __enter__(self) -> _Opened:
        return self

    def state_folder(self, given: Path | None = None) -> Path:
        """The count state's folder (``given``, else this server's default), one that ytgraph can
        write into: a file in its place or no permission is one line and exit 2."""
        from ytgraph.ingest.load import default_state_dir

        folder = given or default_state_dir(self.cfg, self.conn.state_key)
        return _output_folder(folder, "state folder")

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _user_ids(path: Path) -> list[str]:
    """The user ids of a file, one a line (blank lines skipped); unreadable is bad input."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"cannot read users file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise InputError(f"cannot read users file {path}: not UTF-8 text") from None
    return [ln.strip() for ln in lines if ln.strip()]


def _output_folder(path: Path, what: str) -> Path:
    """``path`` as a folder ytgraph can write into (made if missing), else one line, exit 2."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"{what} {path} is a file, not a folder") from None
    except OSError as e:
        raise InputError(f"{what} {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{what} {path}: not writable")
    return path


def _output_file(path: Path, what: str) -> None:
    """Fail early (one line, exit 2) when ``path`` cannot become a file: it is a folder, or a
    file stands where a folder should be, or the folder is not writable. Nothing is created."""
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a file")
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"{what} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"{what} {path}: not writable")


LINE_EVERY_S = 30.0  # a long stage's progress line, when stderr is not a terminal


def _stage_lines() -> Callable[[str, int, int], None]:
    """Progress as lines on stderr when it is not a terminal (a log, a CI job): one when a stage
    starts, one at most every ``LINE_EVERY_S`` while a long one runs, and one when it ends, with
    the time since the start and this process's peak memory. On a terminal (or with --quiet) it
    says nothing: the progress bars show the same."""
    if STATE.quiet or sys.stderr.isatty():
        return lambda _stage, _done, _total: None
    import resource
    import time

    t0 = time.perf_counter()
    started: set[str] = set()
    last = {"at": t0}

    def line(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage not in started:
            started.add(stage)
            last["at"] = now
            what = "" if total <= 1 else f" ({total:,} rows)"
            note(f"ytgraph: {now - t0:7.1f}s {stage}{what}...")
        elif done < total and now - last["at"] >= LINE_EVERY_S:
            last["at"] = now
            note(f"ytgraph: {now - t0:7.1f}s {stage}: {done:,} of {total:,}")
        elif done >= total:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
            note(f"ytgraph: {time.perf_counter() - t0:7.1f}s {stage} done (peak RSS {peak:.1f} GB)")

    return line


def _progress() -> Any:
    """A rich progress display whose callback fits the library's (stage, done, total) hook."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=STATE.quiet or not sys.stderr.isatty(),
        console=Console(stderr=True),
    )


# -- generate -----------------------------------------------------------------------------------
@app.command()
@handled
def generate(
    out_dir: Annotated[
        Path, typer.Argument(help="Folder to write events.csv.gz and videos.csv into.")
    ],
    users: Annotated[int, typer.Option(min=1, help="Number of users.")] = 3000,
    videos: Annotated[int, typer.Option(min=1, help="Number of videos.")] = 4000,
    days: Annotated[int, typer.Option(min=1, help="Days of activity.")] = 14,
    seed: Annotated[
        int, typer.Option(min=0, help="Random seed: the same seed gives the same world.")
    ] = 7,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was written as JSON.")
    ] = False,
) -> None:
    """Write a synthetic world (canonical events and videos) with realistic structure."""
    from ytgraph.ingest.generate import GenerateConfig, generate_world, write_world

    cfg = GenerateConfig(users=users, videos=videos, days=days, seed=seed)
    cfg.validate()
    _output_folder(out_dir, "output folder")
    events, vids = generate_world(cfg)
    try:
        paths = write_world(events, vids, out_dir, cfg)
    except OSError as e:
        raise InputError(f"cannot write the world into {out_dir}: {e.strerror or e}") from None
    info = {
        "events": len(events),
        "videos": len(vids),
        "files": {k: str(v) for k, v in paths.items()},
    }
    if as_json:
        echo_json(info)
    else:
        typer.echo(f"wrote {len(events):,} events and {len(vids):,} videos to {out_dir}")


# -- load ---------------------------------------------------------------------------------------
@app.command()
@handled
def load(
    events: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Event files (CSV, JSON Lines or Parquet; .gz welcome), or a MovieLens "
            "folder / YouTube-2008 file with --format."
        ),
    ] = None,
    videos: Annotated[Path | None, typer.Option(help="Video metadata file.")] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="canonical | movielens | youtube2008")
    ] = "canonical",
    strict: Annotated[bool, typer.Option(help="Stop at the first bad row (exit 2).")] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Where to write rejected rows (default ./rejects.csv).")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="Folder of the count state kept beside Neo4j.")
    ] = None,
    window_hours: Annotated[float | None, typer.Option(help="Session window in hours.")] = None,
    normalization: Annotated[
        str | None,
        typer.Option(help="product | candidate | cosine | jaccard | lift | llr"),
    ] = None,
    top_n: Annotated[int | None, typer.Option(help="Related videos kept per video (N).")] = None,
    min_count: Annotated[int | None, typer.Option(help="Least c_ij for a pair to count.")] = None,
    engine: Annotated[
        str | None,
        typer.Option(help="Where the counting runs: inprocess (default) | spark (PySpark)."),
    ] = None,
    spark_master: Annotated[
        str | None,
        typer.Option(help="Spark master URL for --engine spark (default local[*])."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the load summary as JSON.")
    ] = False,
) -> None:
    """Load watch events (and video metadata) into Neo4j and (re)compute the related-video graph.

    Rows read = accepted + rejected; rejected rows go to the rejects file with file, line and
    reason. A load commits whole or not at all, skips events it has loaded before, and only
    rewrites what the new events change.
    """
    from loaders import read_dataset
    from ytgraph.ingest.engines import check_engine
    from ytgraph.ingest.load import load as run_load

    cfg = settings(
        {
            "sessions.window_hours": window_hours,
            "related.normalization": normalization,
            "related.top_n": top_n,
            "related.min_count": min_count,
            "load.engine": engine,
            "load.spark_master": spark_master,
        }
    )
    check_engine(cfg.load)  # before reading: a missing PySpark is said at once
    if not events and fmt == "canonical":
        raise typer.BadParameter("give at least one events file")
    if rejects is not None:
        _output_file(rejects, "rejects file")
    chosen_state = state_dir or (Path(cfg.load.state_dir) if cfg.load.state_dir else None)
    if chosen_state is not None:
        _output_folder(chosen_state, "state folder")
    lines = _stage_lines()
    lines("read", 0, 1)
    dataset = read_dataset(
        fmt, [str(p) for p in events or []], str(videos) if videos else None, strict
    )
    lines("read", 1, 1)
    report = dataset.report
    rejects_path = None
    if report.rejected:
        rejects_path = str(report.write_rejects(rejects or Path("rejects.csv")))
    with _Opened(cfg) as opened, _progress() as bar:
        tasks: dict[str, Any] = {}

        def step(stage: str, done: int, total: int) -> None:
            lines(stage, done, total)
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        target = opened.state_folder(chosen_state)
        summary = run_load(
            dataset, cfg, opened.graph, target, progress=step, echo=note, server=opened.conn.server
        )
    summary.rejects_file = rejects_path
    if as_json:
        echo_json(summary.as_dict())
        return
    typer.echo(
        f"read {summary.read:,} rows: {summary.accepted:,} accepted, {summary.rejected:,} rejected"
        + (f" (see {rejects_path})" if rejects_path else "")
    )
    typer.echo(
        f"{summary.new_events:,} new events ({summary.already_loaded:,} loaded before"
        + (f", {summary.log_events:,} impressions/clicks skipped" if summary.log_events else "")
        + "); "
        f"{summary.sessions:,} sessions, {summary.pairs:,} co-viewed pairs, "
        f"{summary.related_edges:,} RELATED edges "
        f"({summary.related_sources_written:,} lists written"
        f"{', full recount' if summary.full_rebuild else ''}) in {summary.seconds:.1f}s"
    )
    if summary.stored_pools:
        typer.echo(
            f"{summary.stale_pools:,} of {summary.stored_pools:,} stored pools are stale: "
            "`ytgraph precompute --stale` recomputes them"
        )


# -- reading the graph --------------------------------------------------------------------------
@app.command()
@handled
def related(
    video_id: Annotated[str, typer.Argument(help="The video whose related list R_i to show.")],
    n: Annotated[int, typer.Option("--n", min=1, max=1000, help="How many.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A video's related videos R_i, best first, with relatedness score and co-view count c_ij."""
    from ytgraph.db.inspect import related_videos

    with _Opened(settings()) as opened:
        rows = related_videos(opened.graph, video_id, n)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo(f"{video_id} has no related videos (too few co-views)")
    for r in rows:
        title = r["title"] or ""
        typer.echo(
            f"{r['rank']:>3}  {r['video_id']:<14} {r['score']:<12.6g} c_ij={r['cooccurrences']:<6} {title}"
        )


@app.command()
@handled
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Nodes by label, relationships by type, and the RELATED out-degree distribution."""
    from ytgraph.db.inspect import graph_stats

    with _Opened(settings()) as opened:
        data = graph_stats(opened.graph).to_json()
    if as_json:
        echo_json(data)
        return
    for section in ("nodes", "relationships"):
        typer.echo(section)
        for name, value in data[section].items():
            typer.echo(f"  {name:<14} {value:>12,}")
    typer.echo("RELATED out-degree: videos")
    for degree, videos_n in data["related_degree"].items():
        typer.echo(f"  {degree:>4}: {videos_n:,}")


@app.command()
@handled
def reset(
    yes: Annotated[bool, typer.Option("--yes", help="Really delete everything.")] = False,
    state_dir: Annotated[Path | None, typer.Option(help="Count state folder to clear too.")] = None,
) -> None:
    """Delete every node and relationship and the count state beside them."""
    from ytgraph.ingest.load import wipe_graph
    from ytgraph.ingest.state import StateStore

    if not yes:
        raise typer.BadParameter("this deletes the whole graph: add --yes")
    if state_dir is not None and state_dir.exists() and not state_dir.is_dir():
        raise InputError(f"state folder {state_dir} is a file, not a folder")
    cfg = settings()
    with _Opened(cfg) as opened:
        store = StateStore(opened.state_folder(state_dir))
        # Not under a load's feet: the graph and its count state go together, between loads.
        with store.locked(cfg.load.lock_timeout_s, echo=note):
            wipe_graph(opened.graph)
            store.clear()
    typer.echo("graph and count state cleared")


# -- recommendations ----------------------------------------------------------------------------
def _rec_table(recs: Any) -> None:
    """A human-readable list: rank, score, title, and why."""
    typer.echo(
        f"Recommendations for {recs.user_id}"
        + (" (popular videos: no personal history yet)" if not recs.seeds else "")
    )
    for r in recs.recommendations:
        if r.popular:
            why = "popular right now"
        else:
            why = f"because you watched {r.because.get('seed_title') or r.because.get('seed_video_id')}"
        title = (r.title or r.video_id)[:48]
        typer.echo(f"{r.rank:>3}. {r.score:6.3f}  {title:<48}  {why}")


@app.command()
@handled
def recommend(
    user: Annotated[str | None, typer.Argument(help="The user to recommend for.")] = None,
    n: Annotated[int | None, typer.Option("--n", help="How many (4-60, default 12).")] = None,
    depth: Annotated[int | None, typer.Option(help="Hops over RELATED (1-4, default 1).")] = None,
    users: Annotated[
        Path | None, typer.Option("--users", help="File of user ids, one a line (batch mode).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Batch mode: one JSON object a line.")
    ] = False,
    allow_unknown: Annotated[
        bool, typer.Option(help="Give an unknown user the popular list instead of an error.")
    ] = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="The top n computed online, ignoring any stored pool; not rotated, not recorded.",
        ),
    ] = False,
    rotate: Annotated[
        bool | None,
        typer.Option(
            "--rotate/--no-rotate",
            help="Prefer pool items not shown yet (default: [serving] rotate), or a stable list.",
        ),
    ] = None,
) -> None:
    """Recommend videos for a user: seeds → Cypher expansion over RELATED → ranking → diversity.

    Each recommendation says which of the user's videos it comes from ("because you watched X").
    n videos are shown from the user's ranked pool (stored by `ytgraph precompute` while valid,
    else computed online), preferring those the user was shown least, so a second call shows new
    ones; what was shown is recorded (User.shown, and impressions.csv in the state folder).
    """
    from ytgraph.recommendation.serve import ImpressionRecorder, serve
    from ytgraph.recommendation.service import Failed, check_n, recommend_many
    from ytgraph.recommendation.service import recommend as online

    recorder: ImpressionRecorder | None = None

    def opened_recorder(opened: _Opened) -> ImpressionRecorder | None:
        if fresh:
            return None
        log = opened.state_folder() / "impressions.csv"
        return ImpressionRecorder(opened.graph, keep=cfg.serving.shown_keep, log=log)

    def run_recommend(graph: Any, user_id: str, cfg: Settings, **kw: Any) -> Any:
        if fresh:
            return online(graph, user_id, cfg, **kw)
        return serve(graph, user_id, cfg, rotate_pool=rotate, recorder=recorder, **kw)

    if (user is None) == (users is None):
        raise typer.BadParameter("give one USER, or --users FILE")
    cfg = settings()
    if n is not None:
        check_n(n)
    if users is not None:
        ids = _user_ids(users)
        failed = 0
        with _Opened(cfg) as opened:
            recorder = opened_recorder(opened)
            # A batch is a long-lived process: keep its start-up heap (modules, the driver) out of
            # the cyclic GC's full passes, which otherwise land in the middle of some user's list.
            gc.freeze()
            for item in recommend_many(
                opened.graph,
                ids,
                cfg,
                n=n,
                depth=depth,
                allow_unknown=allow_unknown,
                using=run_recommend,
            ):
                if isinstance(item, Failed):
                    failed += 1
                    note(f"ytgraph: {item.user_id}: {item.error}")
                if jsonl or isinstance(item, Failed):
                    typer.echo(json.dumps(item.to_json(), default=str))
                else:
                    _rec_table(item)
            if recorder is not None:
                recorder.close()
        if failed:
            raise typer.Exit(1)
        return
    assert user is not None
    with _Opened(cfg) as opened:
        recorder = opened_recorder(opened)
        recs = run_recommend(opened.graph, user, cfg, n=n, depth=depth, allow_unknown=allow_unknown)
        if recorder is not None:
            recorder.close()
    if as_json or jsonl:
        typer.echo(json.dumps(recs.to_json(), indent=None if jsonl else 2, default=str))
    else:
        _rec_table(recs)


@app.command()
@handled
def precompute(
    users: Annotated[
        Path | None,
        typer.Option("--users", help="File of user ids, one a line (default: every user)."),
    ] = None,
    depth: Annotated[int | None, typer.Option(help="Hops over RELATED (1-4, default 1).")] = None,
    stale: Annotated[
        bool,
        typer.Option(
            "--stale", help="Only users without a valid pool (new, or made stale by a load)."
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="Processes ranking at once (they share one snapshot)."),
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compute and store every user's ranked pool ([ranking] pool, 60) for `ytgraph recommend`.

    The paper's design: pools are computed ahead, several times a day, and each visit shows n of
    them with one query, rotated. A load marks stale only the pools it can have changed; `--stale`
    recomputes exactly those (and new users), the others stay valid.
    Exit 1 if some users failed (each is named on stderr); the others are stored.
    """
    from ytgraph.recommendation.serve import precompute as run_precompute

    cfg = settings()
    if users is not None and stale:
        raise typer.BadParameter("give --users or --stale, not both")
    ids = None if users is None else _user_ids(users)
    with _Opened(cfg) as opened, _progress() as bar:
        gc.freeze()  # a long batch: see `recommend --users`
        task = bar.add_task("precompute", total=None)

        def step(_stage: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = run_precompute(
            opened.graph, cfg, ids, depth=depth, stale_only=stale, workers=workers, progress=step
        )
    for f in report.failed:  # errors, not chatter: shown under --quiet too
        typer.echo(f"ytgraph: {f.user_id}: {f.error}", err=True)
    if as_json:
        echo_json(report.to_json())
    else:
        rate = report.users / report.seconds if report.seconds > 0 else 0.0
        typer.echo(
            f"stored {report.stored:,} pools for {report.users:,} of {report.all_users:,} users "
            f"in {report.seconds:.1f}s ({rate:,.0f} users/s); {len(report.failed)} failed"
            + (f", {report.superseded:,} superseded by a load" if report.superseded else "")
        )
    if report.failed:
        raise typer.Exit(1)


@app.command()
@handled
def explain(
    user: Annotated[str, typer.Argument(help="The user.")],
    video: Annotated[str, typer.Argument(help="The video: recommended or not, say why.")],
    n: Annotated[int | None, typer.Option("--n", help="List length to judge against.")] = None,
    depth: Annotated[int | None, typer.Option(help="Hops over RELATED (1-4).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (includes the Cypher).")
    ] = False,
    cypher: Annotated[
        bool, typer.Option("--cypher", help="Print a query that draws the paths in Neo4j Browser.")
    ] = False,
) -> None:
    """Why VIDEO was (or was not) recommended to USER: every seed → video path with its edge scores,
    the score by signal, or the reason it is missing (watched, unreachable, capped, cut off)."""
    from ytgraph.recommendation.explain import explain as run_explain

    cfg = settings()
    with _Opened(cfg) as opened:
        result = run_explain(opened.graph, user, video, cfg, n=n, depth=depth)
    if as_json:
        echo_json(result.to_json())
    elif cypher:
        typer.echo(result.cypher())
    else:
        typer.echo(result.text())


@app.command("demo-recommend", hidden=True)
@handled
def demo_recommend(
    users: Annotated[int, typer.Option(min=1, help="How many users to show.")] = 3,
    n: Annotated[int, typer.Option("--n", min=1)] = 6,
) -> None:
    """For `make demo`: recommendations with explanations for the most active users."""
    from ytgraph.db.inspect import active_users
    from ytgraph.recommendation.service import recommend as run_recommend

    cfg = settings()
    with _Opened(cfg) as opened:
        for uid in active_users(opened.graph, users):
            recs = run_recommend(opened.graph, uid, cfg, n=max(4, n))
            _rec_table(recs)
            seeds = ", ".join(f"{s.title or s.video_id} ({s.weight:.2f})" for s in recs.seeds[:3])
            typer.echo(f"     seeds: {seeds}")
            if recs.recommendations and not recs.recommendations[0].popular:
                top = recs.recommendations[0]
                path = max(top.paths, key=lambda p: p.strength)
                typer.echo(
                    f"     top pick via: {' -> '.join(path.videos)}  "
                    f"(try: ytgraph explain {uid} {top.video_id})"
                )
            typer.echo("")


# -- evaluation ---------------------------------------------------------------------------------
# The data and split options that evaluate and tune share.
SplitEvents = Annotated[
    list[Path], typer.Argument(help="Events (or a MovieLens folder with --format movielens).")
]
SplitVideos = Annotated[Path | None, typer.Option(help="Video metadata file.")]
SplitFormat = Annotated[str, typer.Option("--format", help="canonical | movielens | youtube2008")]
SplitProtocol = Annotated[
    str, typer.Option(help="temporal (one cut in time) | last-n | random (per user, seeded)")
]
SplitN = Annotated[int, typer.Option("--n", help="List length the metrics look at.")]


def _split_data(events: list[Path], videos: Path | None, fmt: str) -> Dataset:
    """The data set evaluate and tune split (lenient: bad rows are left out, as a load would)."""
    from loaders import read_dataset

    return read_dataset(fmt, [str(p) for p in events], str(videos) if videos else None, False)


@app.command()
@handled
def evaluate(
    events: SplitEvents,
    videos: SplitVideos = None,
    fmt: SplitFormat = "canonical",
    protocol: SplitProtocol = "temporal",
    n: SplitN = 10,
    variants: Annotated[
        Path | None, typer.Option(help="TOML file of [[variant]] overrides (eval/variants.toml).")
    ] = None,
    peers: Annotated[
        str, typer.Option(help="Comma list: sar (all three), sar-lift, sar-jaccard, sar-cosine.")
    ] = "",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random split and bootstrap.")] = 0,
    test_fraction: Annotated[float | None, typer.Option(help="Share of activity held out.")] = None,
    max_users: Annotated[
        int | None, typer.Option(min=1, help="Evaluate a seeded sample of users.")
    ] = None,
    resamples: Annotated[
        int, typer.Option(min=1, help="Bootstrap resamples for the 95% CIs.")
    ] = 1000,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG plot of the metrics.")] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="neo4j (load the training part into the evaluation server) | memory (the same "
            "lists from the load held in memory: no server, much faster)"
        ),
    ] = "neo4j",
) -> None:
    """Offline evaluation: ytgraph (and variants) vs Most Viewed, Top Favorited, Top Rated, Random
    and optionally SAR, on one split, with hit rate, precision, recall, nDCG, coverage, diversity.

    Everything is built from the training part only, on an evaluation server of its own (its
    database is emptied: never the demo graph).
    """
    from ytgraph.evaluation.offline import evaluate as run_evaluate
    from ytgraph.evaluation.offline import load_variants

    cfg = settings()
    dataset = _split_data(events, videos, fmt)
    report = run_evaluate(
        dataset,
        cfg,
        protocol=protocol,
        n=n,
        variants=load_variants(variants) if variants else None,
        peers=[p.strip() for p in peers.split(",") if p.strip()],
        seed=seed,
        test_fraction=test_fraction,
        max_users=max_users,
        resamples=resamples,
        engine=engine,
        echo=None if STATE.quiet else note,
    )
    _print_report(report, json_out, plot)


@app.command()
@handled
def tune(
    events: SplitEvents,
    videos: SplitVideos = None,
    fmt: SplitFormat = "canonical",
    protocol: SplitProtocol = "temporal",
    budget: Annotated[
        int, typer.Option(help="Most configurations to try on the validation split (>= 1).")
    ] = 26,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the splits and the bootstrap.")] = 0,
    n: SplitN = 10,
    metric: Annotated[
        str, typer.Option(help="What to choose by: ndcg | precision | hit_rate | recall")
    ] = "ndcg",
    learn: Annotated[
        bool, typer.Option(help="Learn the ranker's weights after the settings search.")
    ] = True,
    max_users: Annotated[
        int | None,
        typer.Option(min=1, help="Use a seeded sample of the validation and test users."),
    ] = None,
    write: Annotated[
        Path | None,
        typer.Option(help="Write the chosen settings as a config file (e.g. ytgraph.toml)."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write every trial and the figures as JSON.")
    ] = None,
    engine: Annotated[
        str, typer.Option(help="How the test figures are measured: memory | neo4j")
    ] = "memory",
) -> None:
    """Choose settings for your own data: search relatedness, the popular pool, diversity caps,
    list length, depth, edges per hop, session window, seeds and their weights, then learn the
    ranker's weights, all on a validation split carved out of the training part (the test part is
    never read while choosing).

    Prints every trial's validation figures and the choice's test figures next to the settings
    it started from; --write saves the choice as a config file that every command reads.
    """
    from ytgraph.evaluation.tune import tune as run_tune

    cfg = settings()
    dataset = _split_data(events, videos, fmt)
    result = run_tune(
        dataset,
        cfg,
        protocol=protocol,
        n=n,
        budget=budget,
        seed=seed,
        metric=metric,
        learn=learn,
        max_users=max_users,
        test_engine=engine,
        echo=None if STATE.quiet else note,
    )
    typer.echo(result.table())
    if write:
        header = (
            f"Written by ytgraph tune ({fmt}, {protocol} split, seed {seed}, budget {budget}, "
            f"chosen by validation {metric}@{n}).\nEvery ytgraph command reads this file."
        )
        write_text(write, result.to_toml(header))
    if json_out:
        write_text(json_out, json.dumps(result.to_json(), indent=2, default=str))


def write_text(path: Path, text: str) -> None:
    """Write an output file, or fail with one line (exit 2) when the path cannot take it."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        fail(f"cannot write {path}: {e.strerror or e}", 2)
    note(f"ytgraph: wrote {path}")


def _print_report(report: Any, json_out: Path | None, plot: Path | None) -> None:
    """An evaluation report (offline or live): its table on stdout, then JSON and plot files."""
    typer.echo(report.table())
    if json_out:
        write_text(json_out, json.dumps(report.to_json(), indent=2, default=str))
    if plot:
        note(f"ytgraph: wrote {report.plot(plot)}")


# -- HTTP API -----------------------------------------------------------------------------------
@app.command()
@handled
def api(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Serve recommend, related and explain as JSON over HTTP until Ctrl-C (docs at /docs).

    Read-only; one Neo4j driver pool for the process. A port in use is one line and exit 1.
    """
    from ytgraph.api import run

    run(settings(), host, port, echo=None if STATE.quiet else note)


# -- Neo4j Browser ------------------------------------------------------------------------------
@app.command()
@handled
def browse(
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open it in a local web browser.")
    ] = False,
    show_password: Annotated[
        bool,
        typer.Option("--show-password", help="Print the password too (it is never by default)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Make sure Neo4j is up, then print the Browser URL, the user and where the password is.

    After login the Browser shows ytgraph's guide (what the graph holds, ready queries) and styles
    the graph (videos by title).
    """
    from ytgraph.db.connect import browse_info

    with _Opened(settings()) as opened:
        info = browse_info(opened.conn, show_password=show_password)
    if as_json:
        echo_json(info)
    else:
        typer.echo(f"Neo4j Browser: {info['url']}")
        typer.echo(f"user:          {info['user']}")
        if info.get("password_file"):
            typer.echo(f"password file: {info['password_file']}")
        if show_password and info.get("password"):
            typer.echo(f"password:      {info['password']}")
    if open_browser:
        import webbrowser

        if not webbrowser.open(str(info["url"])):
            note("ytgraph: no local web browser found; open the URL above yourself")


# -- your data: show and forget ----------------------------------------------------------------
user_app = typer.Typer(
    help="What ytgraph holds about a user, and forgetting it.", no_args_is_help=True
)
app.add_typer(user_app, name="user")
StateDir = Annotated[
    Path | None, typer.Option(help="Folder of the count state (as given to load).")
]


@user_app.command("show")
@handled
def user_show(
    user: Annotated[str, typer.Argument(help="The user.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, with every row.")] = False,
    state_dir: StateDir = None,
) -> None:
    """Everything held about USER: events in the count state, actions in the graph, seeds with
    weights, the stored pool and its stale mark, what was shown, rows of the impressions log."""
    from ytgraph.recommendation.userdata import user_data

    cfg = settings()
    with _Opened(cfg) as opened:
        target = opened.state_folder(state_dir)
        data = user_data(opened.graph, user, cfg, target)
    if as_json:
        echo_json(data.to_json())
    else:
        typer.echo(data.text())


@user_app.command("forget")
@handled
def user_forget(
    users: Annotated[list[str], typer.Argument(help="The users to forget.")],
    yes: Annotated[bool, typer.Option("--yes", help="Really forget them.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was removed as JSON.")
    ] = False,
    state_dir: StateDir = None,
) -> None:
    """Remove the users' events, sessions, actions, stored pools, impressions and the videos only
    they created, as if they had never been loaded; the pools that depended on them go stale."""
    from ytgraph.ingest.forget import forget

    if not yes:
        fail("this deletes everything held about them: add --yes", 2)
    cfg = settings()
    with _Opened(cfg) as opened:
        target = opened.state_folder(state_dir)
        summary = forget(users, cfg, opened.graph, target, echo=note)
    if as_json:
        echo_json(summary.as_dict())
        return
    typer.echo(
        f"forgot {len(summary.users)} user(s): {summary.events:,} events, {summary.sessions:,} "
        f"sessions, {summary.videos_deleted:,} videos, {summary.impressions:,} impressions; "
        f"{summary.related_sources_written:,} related lists rewritten in {summary.seconds:.1f}s"
    )
    if summary.stale_pools:
        typer.echo(
            f"{summary.stale_pools:,} stored pools are stale: "
            "`ytgraph precompute --stale` recomputes them"
        )


# -- live evaluation ----------------------------------------------------------------------------
abtest_app = typer.Typer(
    help="Live evaluation: A/B arms judged by CTR, long CTR, session length.", no_args_is_help=True
)
app.add_typer(abtest_app, name="abtest")


@abtest_app.command("report")
@handled
def abtest_report(
    logs: Annotated[
        list[Path], typer.Argument(help="Event logs: impressions, clicks, watches (canonical).")
    ],
    videos: Annotated[
        Path | None, typer.Option(help="Video metadata file: durations for the long-watch rule.")
    ] = None,
    control: Annotated[
        str | None, typer.Option(help="The arm the others are compared with (default: largest).")
    ] = None,
    resamples: Annotated[
        int, typer.Option(min=1, help="Bootstrap resamples for the 95% intervals.")
    ] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the bootstrap.")] = 0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write a PNG of CTR per day relative to the control.")
    ] = None,
) -> None:
    """Per arm and day: impressions, CTR, long CTR, session length, time to first long watch and
    coverage, each relative to the control arm with bootstrap intervals (paper section 4)."""
    from ytgraph.evaluation.live import abtest_report as run_report

    for path in (json_out, plot):
        if path is not None:
            _output_file(path, "output file")
    report = run_report(
        [str(p) for p in logs],
        settings(),
        videos=videos,
        control=control,
        resamples=resamples,
        seed=seed,
    )
    _print_report(report, json_out, plot)


@app.command()
@handled
def simulate(
    world: Annotated[Path, typer.Argument(help="A folder written by `ytgraph generate`.")],
    arms: Annotated[Path, typer.Option(help="The arms file (TOML): experiment, arms, shares.")],
    out: Annotated[
        Path, typer.Option(help="Folder for the logs (impressions, clicks, watches per day).")
    ],
    days: Annotated[int, typer.Option(min=1, max=365, help="Days to simulate.")] = 21,
    n: Annotated[
        int, typer.Option("--n", min=4, max=60, help="Videos the browse-page module shows.")
    ] = 4,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulated users' choices.")] = 0,
    engine: Annotated[
        str,
        typer.Option(
            help="neo4j (precompute, serve and the nightly load on the simulation's own server) "
            "| memory (the same lists from a MemoryGraph rebuilt nightly: no server, faster)"
        ),
    ] = "neo4j",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run's summary as JSON.")
    ] = False,
) -> None:
    """Simulate a live test on a generated world: every day each user visits the browse page, sees
    their arm's list, clicks and watches by hidden interest and quality; the day's watches are
    loaded and the pools recomputed overnight. Empties the simulation's own Neo4j server."""
    from ytgraph.evaluation.arms import load_experiment
    from ytgraph.evaluation.simulate import simulate as run_simulate

    experiment = load_experiment(arms)
    _output_folder(out, "output folder")
    summary = run_simulate(
        world,
        experiment,
        settings(),
        out=out,
        days=days,
        n=n,
        seed=seed,
        engine=engine,
        echo=None if STATE.quiet else note,
    )
    if as_json:
        echo_json(summary.to_json())
    else:
        typer.echo(summary.text())


if __name__ == "__main__":  # pragma: no cover
    app()
