"""The command line over the real server: exit codes, one-line errors, JSON shapes, rejects files.

Each command runs through Typer's test runner with the environment pointing at the test server;
results are checked through the library or against hand-written inputs.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ytgraph.cli import app
from ytgraph.db.graph import Graph
from ytgraph.errors import YtGraphError
from ytgraph.ingest.generate import GenerateConfig, generate_world, write_world

GOOD = """user_id,video_id,timestamp,event,watch_seconds,rating
u1,a,2024-01-01T10:00:00,watch,100,
u1,b,2024-01-01T10:05:00,watch,100,
u2,a,1704103200,watch,50,
u2,b,1704103500,watch,80,
u3,a,1704103200,watch,50,
u3,b,1704103300,watch,50,
u3,c,1704103400,watch,50,
u1,a,1704103800,like,,
u1,b,1704103800,rate,,4.5
"""
BAD_ROWS = """u4,a,yesterday-ish,watch,10,
,b,1704103200,watch,10,
u5,b,1704103200,pause,10,
u5,c,1704103200,watch,-3,
u5,c,1704103200,rate,,9
u5,c,1704103200
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["-q", *args])
    return result.exit_code, result.stdout, result.stderr


def test_load_writes_rejects_and_balances(cli_env: Graph, tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text(GOOD + BAD_ROWS)
    code, out, err = run("load", str(events), "--min-count", "1", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["read"] == 15 and summary["accepted"] == 9 and summary["rejected"] == 6
    with open(tmp_path / "rejects.csv", newline="") as f:
        rejects = list(csv.DictReader(f))
    # Lines are 1-based with the header on line 1: the bad rows are lines 11-16.
    assert [int(r["line"]) for r in rejects] == [11, 12, 13, 14, 15, 16]
    reasons = [r["reason"] for r in rejects]
    assert reasons[0] == "unparseable timestamp" and reasons[1] == "missing user_id"
    assert reasons[2] == "unknown event 'pause'" and reasons[3] == "negative watch_seconds"
    assert reasons[4] == "rating out of range" and reasons[5].startswith("wrong column count")
    # The three sessions hold {a,b}, {a,b}, {a,b,c}: c_ab = 3, c_a = c_b = 3, c_c = 1, so
    # r(a,b) = 3/(3*3) = 1/3 and r(a,c) = 1/(3*1) = 1/3 (tie broken by c_ij, then id).
    code, out, err = run("related", "a", "--json")
    assert code == 0, err
    assert [(r["video_id"], r["cooccurrences"], r["rank"]) for r in json.loads(out)] == [
        ("b", 3, 1),
        ("c", 1, 2),
    ]
    assert json.loads(out)[0]["score"] == pytest.approx(1 / 3)
    code, out, _ = run("stats", "--json")
    stats = json.loads(out)
    assert stats["nodes"]["User"] == 3 and stats["relationships"]["RELATED"] == 6
    assert stats["related_degree"] == {"2": 3} or stats["related_degree"] == {"1": 2, "2": 1}


def test_strict_stops_at_the_first_bad_row(cli_env: Graph, tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text(GOOD + BAD_ROWS)
    code, out, err = run("load", str(events), "--strict")
    assert code == 2
    assert "line 11" in err and "unparseable timestamp" in err
    assert "Traceback" not in err + out
    records, _, _ = cli_env.driver.execute_query("MATCH (n) RETURN count(n) AS n")
    assert records[0]["n"] == 0  # nothing was loaded


@pytest.mark.parametrize("make", ["missing", "directory", "not-gzip", "no-columns"])
def test_unreadable_input_is_one_line(cli_env: Graph, tmp_path: Path, make: str) -> None:
    path = tmp_path / "events.csv"
    if make == "directory":
        path.mkdir()
    elif make == "not-gzip":
        path = tmp_path / "events.csv.gz"
        path.write_text(GOOD)
    elif make == "no-columns":
        path.write_text("who,what\n1,2\n")
    code, out, err = run("load", str(path))
    assert code == 2
    assert err.startswith("ytgraph: ") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err


def test_recommend_json_and_batch(cli_env: Graph, tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text(GOOD)
    assert run("load", str(events), "--min-count", "1")[0] == 0
    code, out, err = run("recommend", "u2", "--n", "4", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["user_id"] == "u2"
    recs = data["recommendations"]
    # u2 watched a and b; c is reachable from both (r = 1/3 each way), so it comes first.
    assert recs[0]["video_id"] == "c"
    assert set(recs[0]) == {"video_id", "title", "score", "signals", "because", "paths"}
    assert recs[0]["because"]["seed_video_id"] in {"a", "b"}
    # Depth 2: besides a->c and b->c, each seed also reaches c through the other seed.
    assert sorted(map(tuple, recs[0]["paths"])) == [
        ("a", "b", "c"),
        ("a", "c"),
        ("b", "a", "c"),
        ("b", "c"),
    ]
    users = tmp_path / "users.txt"
    users.write_text("u1\nnobody\nu3\n")
    code, out, err = run("recommend", "--users", str(users), "--jsonl", "--n", "4")
    assert code == 1  # one user failed; the others were served
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["user_id"] for line in lines] == ["u1", "nobody", "u3"]
    assert "unknown user" in lines[1]["error"] and "recommendations" in lines[2]


def test_precompute_then_serve(cli_env: Graph, tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text(GOOD)
    assert run("load", str(events), "--min-count", "1")[0] == 0
    users = tmp_path / "users.txt"
    users.write_text("u1\nnobody\nu2\n")
    code, out, err = run("precompute", "--users", str(users), "--json")
    assert code == 1  # nobody failed; u1 and u2 were stored
    report = json.loads(out)
    assert (report["users"], report["stored"]) == (3, 2)
    assert [f["user_id"] for f in report["failed"]] == ["nobody"]
    assert "nobody" in err and "Traceback" not in err
    stored, _, _ = cli_env.driver.execute_query(
        "MATCH (u:User) WHERE u.recs_key = $key RETURN u.user_id AS u ORDER BY u",
        key=report["key"],
    )
    assert [r["u"] for r in stored] == ["u1", "u2"]
    served = run("recommend", "u2", "--n", "4", "--json")
    fresh = run("recommend", "u2", "--n", "4", "--json", "--fresh")
    assert served[0] == fresh[0] == 0
    assert json.loads(served[1]) == json.loads(fresh[1])


def test_bad_usage_exits_2(cli_env: Graph) -> None:
    assert run("recommend", "u1", "--n", "3")[0] == 2
    assert run("recommend", "u1", "--depth", "9")[0] == 2
    code, _, err = run("recommend", "nobody")
    assert code == 2 and "unknown user 'nobody'" in err
    code, _, err = run("related", "nope")
    assert code == 2 and "unknown video" in err
    assert run("reset")[0] == 2  # needs --yes


def test_every_command_has_help() -> None:
    import typer.main

    group = typer.main.get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    assert {
        "load",
        "related",
        "stats",
        "recommend",
        "explain",
        "browse",
        "generate",
        "neo4j",
        "precompute",
    } <= set(names)
    for name in names:
        result = CliRunner().invoke(app, [name, "--help"])
        assert result.exit_code == 0
        assert len(result.stdout) > 200, name


def test_visits_rotate_and_only_stale_pools_are_recomputed(
    cli_env: Graph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The defaults, with pools of 12 from 1,000 videos (a pool of 60 from a world this small holds
    # so much of it that any load touches every pool).
    monkeypatch.setenv("YTGRAPH_PROFILE", "default")
    monkeypatch.setenv("YTGRAPH_RANKING__POOL", "12")
    ev, videos = generate_world(GenerateConfig(users=200, videos=1000, days=5, seed=2))
    late = ev["user_id"] == ev["user_id"].min()  # one user arrives in a second load
    write_world(ev[~late], videos, tmp_path / "one")
    write_world(ev[late], videos.iloc[:0], tmp_path / "two")
    one, two = tmp_path / "one", tmp_path / "two"
    assert run("load", str(one / "events.csv.gz"), "--videos", str(one / "videos.csv"))[0] == 0
    code, out, err = run("precompute", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["stored"] == first["users"] == first["all_users"] == ev[~late]["user_id"].nunique()
    user = ev[~late]["user_id"].max()
    visits = [json.loads(run("recommend", user, "--n", "4", "--json")[1]) for _ in range(2)]
    a, b = ({r["video_id"] for r in v["recommendations"]} for v in visits)
    assert len(a) == len(b) == 4 and not a & b  # the second visit shows four new videos
    stable = [run("recommend", user, "--n", "4", "--json", "--no-rotate")[1] for _ in range(2)]
    assert json.loads(stable[0])["recommendations"] == visits[0]["recommendations"]
    assert stable[0] == stable[1]
    with open(tmp_path / "state" / "impressions.csv", newline="") as f:
        shown = list(csv.DictReader(f))
    assert len(shown) == 16 and {r["event"] for r in shown} == {"impression"}
    code, out, err = run("load", str(two / "events.csv.gz"))
    assert code == 0, err
    code, out, err = run("precompute", "--stale", "--json")
    again = json.loads(out)
    stale, _, _ = cli_env.driver.execute_query(
        "MATCH (u:User) WHERE u.recs_at IS NOT NULL RETURN count(u) AS n"
    )
    assert code == 0 and again["all_users"] == first["all_users"] + 1
    assert 1 <= again["users"] < again["all_users"] and again["stored"] == again["users"]
    assert stale[0]["n"] == again["all_users"]  # every user has a pool again


def one_line(code: int, out: str, err: str) -> str:
    """The one line on stderr of a usage or input mistake (exit 2), checked to be just that."""
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ytgraph: "), err
    assert "Traceback" not in out + err and "Usage:" not in err
    return lines[0]


USAGE_MISTAKES = [
    (["load", "events.csv", "--nope"], "No such option: --nope"),
    (["nope"], "No such command 'nope'"),
    (["explain", "u1"], "Missing argument"),
    (["load"], "give at least one events file"),
    (["related", "v1", "--n", "0"], "'--n'"),
    (["recommend", "u1", "--n", "abc"], "'--n'"),
    (["recommend", "--users", "missing.txt"], "missing.txt"),
    (["precompute", "--users", "missing.txt"], "missing.txt"),
    (["--uri", "nonsense", "stats"], "bolt://"),
    (["--uri", "http://localhost:7474", "stats"], "bolt://"),
    (["--uri", "bolt://localhost:notaport", "stats"], "bolt://"),
    (["load", "events.csv", "--min-count", "-5"], "related.min_count must be >= 1"),
    (["load", "events.csv", "--top-n", "0"], "related.top_n must be >= 1"),
    (["load", "events.csv", "--window-hours", "-1"], "sessions.window_hours must be > 0"),
    (["load", "events.csv", "--window-hours", "nan"], "sessions.window_hours"),
    (["generate", "--seed", "-1", "world"], "'--seed'"),
    (["generate", "--users", "0", "world"], "'--users'"),
    (["generate", "--days", "100000000", "world"], "at most 50,000,000 events and 36,500 days"),
    (["evaluate", "events.csv", "--engine", "memory", "--seed", "-1"], "'--seed'"),
    (["evaluate", "events.csv", "--engine", "memory", "--max-users", "-3"], "'--max-users'"),
    (["evaluate", "events.csv", "--engine", "memory", "--resamples", "-1"], "'--resamples'"),
    (["tune", "events.csv", "--seed", "-2"], "'--seed'"),
    (["tune", "events.csv", "--max-users", "-1"], "'--max-users'"),
    (["demo-recommend", "--users", "-1"], "'--users'"),
]


@pytest.mark.parametrize(
    ("args", "says"), USAGE_MISTAKES, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_usage_mistakes_are_one_line(offline_env: Path, args: list[str], says: str) -> None:
    (offline_env / "events.csv").write_text(GOOD)
    line = one_line(*run(*args))
    assert says in line
    assert not (offline_env / "world").exists()


def test_help_still_works_and_no_arguments_shows_it() -> None:
    result = CliRunner().invoke(app, ["load", "--help"])
    assert result.exit_code == 0 and "--rejects" in result.stdout
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2 and "load" in result.stdout + result.stderr


def unwritable(tmp_path: Path) -> Path:
    """A folder this process cannot write into (as root, where modes do not stop it: /sys)."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    if not Path("/sys/kernel").is_dir():
        pytest.skip("no folder a root process cannot write into")
    return Path("/sys/kernel")


def test_output_paths_that_cannot_be_used_are_one_line(offline_env: Path) -> None:
    events = offline_env / "events.csv"
    events.write_text(GOOD + BAD_ROWS)
    (offline_env / "adir").mkdir()
    cases = [
        (["load", str(events), "--rejects", "events.csv/rejects.csv"], "events.csv"),
        (["load", str(events), "--rejects", "adir"], "adir"),
        (["load", str(events), "--rejects", str(unwritable(offline_env) / "r.csv")], "r.csv"),
        (["load", str(events), "--state-dir", "events.csv"], "events.csv"),
        (["reset", "--yes", "--state-dir", "events.csv"], "events.csv"),
        (
            ["generate", "--users", "5", "--videos", "5", "--days", "1", "events.csv/w"],
            "events.csv",
        ),
        (["generate", "--users", "5", "--videos", "5", "--days", "1", "events.csv"], "events.csv"),
    ]
    for args, says in cases:
        assert says in one_line(*run(*args)), args
    assert events.read_text() == GOOD + BAD_ROWS  # nothing written over the events


def test_oversized_ids_do_not_sink_a_lenient_load(cli_env: Graph, tmp_path: Path) -> None:
    # Neo4j's index refuses keys over ~8 KB: one such id used to fail the whole transaction.
    huge = "".join(f"u{i}{'x' * 9000},a,1704103200,watch,10,\n" for i in range(226))
    events = tmp_path / "events.csv"
    events.write_text(GOOD + huge)
    code, out, err = run("load", str(events), "--min-count", "1", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["read"], summary["accepted"], summary["rejected"]) == (9 + 226, 9, 226)
    with open(tmp_path / "rejects.csv", newline="") as f:
        rejects = list(csv.DictReader(f))
    assert [int(r["line"]) for r in rejects] == list(range(11, 11 + 226))
    assert {r["reason"] for r in rejects} == {"user_id too long (over 1024 bytes)"}
    records, _, _ = cli_env.driver.execute_query("MATCH (u:User) RETURN count(u) AS n")
    assert records[0]["n"] == 3
    code, out, err = run("load", str(events), "--strict")
    assert "line 11: user_id too long (over 1024 bytes)" in one_line(code, out, err)


def test_the_installed_entry_point_gives_one_line_too(tmp_path: Path) -> None:
    # `ytgraph` runs app() itself, not through the test runner: the same one line, exit 2.
    repo = Path(__file__).resolve().parents[1]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(repo)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        script = "from ytgraph.cli import app; app()"
        return subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
        )  # fmt: skip

    done = cli("load", "--nope")
    assert "No such option: --nope" in one_line(done.returncode, done.stdout, done.stderr)
    done = cli("--uri", "http://localhost:7474", "stats")
    assert "bolt://" in one_line(done.returncode, done.stdout, done.stderr)
    done = cli("load", "--help")
    assert done.returncode == 0 and "--rejects" in done.stdout and not done.stderr


def test_a_state_folder_that_is_a_file_is_one_line_for_every_command(
    cli_env: Graph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = tmp_path / "events.csv"
    events.write_text(GOOD)
    assert run("load", str(events))[0] == 0
    monkeypatch.setenv("YTGRAPH_LOAD__STATE_DIR", str(events))
    for args in (["recommend", "u1"], ["user", "show", "u1"], ["user", "forget", "u1", "--yes"]):
        assert "is a file, not a folder" in one_line(*run(*args)), args
    assert events.read_text() == GOOD


def test_trace_names_each_query_before_it_runs_and_after(cli_env: Graph, tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text(GOOD)
    result = CliRunner().invoke(app, ["-q", "--trace", "load", str(events)])
    assert result.exit_code == 0, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("trace: ")]
    starts = [ln for ln in lines if ln.endswith(" ...")]
    ends = [ln for ln in lines if " rows in " in ln]
    assert starts and len(starts) == len(ends) and len(starts) + len(ends) == len(lines)
    # Each query is announced, then reported, before the next one starts.
    for before, after in zip(lines[::2], lines[1::2], strict=True):
        name = before.removeprefix("trace: ").split(" (")[0].removesuffix(" ...")
        assert after.startswith(f"trace: {name}: "), (before, after)
    # The load's batches say how many rows they send: this file has 3 videos, 7 watches and
    # 2 other actions.
    for sent in ("ensure_videos (3 rows)", "upsert_watched (7 rows)", "upsert_actions (2 rows)"):
        assert f"trace: {sent} ..." in starts, starts
    # No --trace, no trace lines (an earlier --trace in this process does not linger).
    assert "trace:" not in CliRunner().invoke(app, ["stats"]).stderr


def test_a_failing_query_was_named_before_it_failed(graph: Graph) -> None:
    seen: list[str] = []
    graph.announcer = lambda name, sent: seen.append(name)
    with pytest.raises(YtGraphError, match="related_of"):
        graph.run("related_of")  # its parameters are missing: Neo4j refuses it
    assert seen == ["related_of"]


def test_stage_lines_say_start_progress_and_end_when_not_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A long stage in a log: a line when it starts, one per interval while it runs (here every
    call: the interval is 0), one when it ends; another stage starts its own lines."""
    from ytgraph import cli

    monkeypatch.setattr(cli, "LINE_EVERY_S", 0.0)
    monkeypatch.setattr(cli.STATE, "quiet", False)
    line = cli._stage_lines()
    for done in (0, 2_500, 7_000, 10_000):
        line("stage related", done, 10_000)
    line("prune related", 0, 3)
    got = [ln.split("s ", 1)[1] for ln in capsys.readouterr().err.splitlines()]
    assert got[:4] == [
        "stage related (10,000 rows)...",
        "stage related: 2,500 of 10,000",
        "stage related: 7,000 of 10,000",
        got[3],
    ]
    assert got[3].startswith("stage related done (peak RSS ") and got[3].endswith(" GB)")
    assert got[4:] == ["prune related (3 rows)..."]
