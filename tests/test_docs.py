"""The README documents every command and every option the CLI has (a new flag cannot land unsaid).

A command counts as documented when ``ytgraph <command>`` appears in the README; an option, when it
appears in a paragraph or code block that names its command (``ytgraph <command>`` or
```<command>```), or anywhere for the global options.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from ytgraph.cli import app
from ytgraph.db.connect import Connection
from ytgraph.db.graph import Graph
from ytgraph.ingest.generate import GenerateConfig, generate_world, write_world

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
BLOCKS = re.split(r"\n\s*\n", README)


def commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    for name, sub in getattr(group, "commands", {}).items():
        if getattr(sub, "commands", None):
            yield from commands(sub, (*prefix, name))
        elif not sub.hidden:
            yield " ".join((*prefix, name)), sub


ROOT = typer.main.get_command(app)
COMMANDS = dict(commands(ROOT))


def long_options(command: Any) -> list[str]:
    return [
        o for p in command.params if p.param_type_name == "option" for o in p.opts if o[:2] == "--"
    ]


def names_command(block: str, name: str) -> bool:
    return (
        f"ytgraph {name}" in block
        or f"`{name}`" in block
        or f"ytgraph --profile paper {name}" in block
    )


def test_the_cli_has_the_commands_this_test_expects() -> None:
    # Guards the walk itself: were it to find nothing, every other test here would pass vacuously.
    assert {"load", "recommend", "evaluate", "tune", "neo4j start"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_in_the_readme(name: str) -> None:
    assert f"ytgraph {name}" in README, f"`ytgraph {name}` is not in the README"


@pytest.mark.parametrize(
    ("name", "option"), [(n, o) for n, c in sorted(COMMANDS.items()) for o in long_options(c)]
)
def test_every_option_is_in_the_readme_beside_its_command(name: str, option: str) -> None:
    pattern = re.compile(re.escape(option) + r"(?![\w-])")
    blocks = [b for b in BLOCKS if names_command(b, name)]
    assert any(pattern.search(b) for b in blocks), f"`ytgraph {name} {option}` is not in the README"


@pytest.mark.parametrize("option", long_options(ROOT))
def test_every_global_option_is_in_the_readme(option: str) -> None:
    assert re.search(re.escape(option) + r"(?![\w-])", README), (
        f"`ytgraph {option}` is not in the README"
    )


def test_the_readme_python_example_runs(
    graph: Graph, neo4j_conn: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's Python block, as written, on a small world where it expects the demo's."""
    code = re.search(r"```python\n(.*?)```", README, re.S)
    assert code is not None
    events, videos = generate_world(GenerateConfig(users=120, videos=150, days=4, seed=3))
    write_world(events, videos, tmp_path / "demo" / "world")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YTGRAPH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("YTGRAPH_CONFIG", raising=False)
    for name in ("uri", "user", "password"):
        monkeypatch.setenv(f"NEO4J_{name.upper()}", getattr(neo4j_conn, name))
    scope: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), scope)
    assert scope["summary"].read == len(events) + len(videos)  # rows of both files
    assert len(scope["recs"].recommendations) == 12
    watched = events[events["event"] == "watch"].groupby("user_id")["video_id"].nunique()
    assert scope["user"] == watched.idxmax()  # most distinct videos watched, ties by id
