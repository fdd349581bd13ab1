"""An analyst's session in the real Neo4j Browser (Chromium through playwright), on the test server.

Logs in with the managed credentials, checks that the post-connect command opened our guide and
loaded our style, runs "why was V recommended to U" from the guide's own buttons, and compares what
the page reports with the provenance computed in Python from the fixture world. Screenshots go to
``artifacts/browser/``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from tests.browser_world import VIDEOS, all_relationships, load_world, why_expected
from ytgraph.db import browser, connect
from ytgraph.db.connect import Connection
from ytgraph.db.graph import Graph

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost"}
expect.set_options(timeout=30_000)


def chromium_path() -> str:
    """$YTGRAPH_CHROMIUM, else Debian's chromium (playwright cannot download a browser here)."""
    for candidate in (
        os.environ.get("YTGRAPH_CHROMIUM"),
        shutil.which("chromium"),
        "/usr/bin/chromium",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail(
        "no Chromium: `make browser-deps` installs Debian's chromium (or set "
        "YTGRAPH_CHROMIUM); `-m 'not browser'` leaves these tests out"
    )


def run_in_editor(page: Page, command: str) -> None:
    """Type a command into the Browser's editor and run it (Ctrl+Enter)."""
    page.get_by_test_id("activeEditor").click()
    page.keyboard.insert_text(command)
    page.keyboard.press("Control+Enter")


def legend_count(frame: Locator, kind: str) -> Locator:
    """The "* (n)" entry of a graph frame's overview: every drawn node or relationship."""
    return frame.get_by_test_id(f"property-details-overview-{kind}-*")


def test_guide_style_and_why_recommended(graph: Graph, neo4j_conn: Connection) -> None:
    if neo4j_conn.server is None:
        pytest.skip("the guide and style are installed on the managed server only")
    load_world(graph)
    info = connect.browse_info(neo4j_conn, show_password=True)
    q = {q.name: q for q in browser.guide_queries()}["why_recommended"]
    user, video = q.params["user_id"], q.params["video_id"]
    nodes, rels = why_expected(user, video, q.params["k"], q.params["rating_threshold"])
    # What "Connect result nodes" (on by default) adds: every relationship between drawn nodes.
    connected = {r for r in all_relationships() if r[1] in nodes and r[2] in nodes}
    assert rels < connected, "the fixture should show the difference"
    titles = {VIDEOS[v]["title"] for v in nodes if v in VIDEOS}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(30_000)
            answered: list[str] = []
            page.on("response", lambda r: answered.append(urlsplit(r.url).hostname or ""))
            refused: list[str] = []
            page.on(
                "console",
                lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
            )

            # Log in: the URL fills in the connect form but for the password.
            page.goto(str(info["url"]))
            expect(page.get_by_test_id("username")).to_have_value(str(info["user"]))
            page.get_by_test_id("password").fill(str(info["password"]))
            page.get_by_test_id("connect").click()

            # browser.post_connect_cmd ran: the guide is open, the style was loaded.
            drawer = page.get_by_test_id("guidesDrawer")
            expect(drawer.get_by_role("heading", name="ytgraph in Neo4j Browser")).to_be_visible()
            grass = browser.static_url(str(info["guide"]).split("/browser/")[0], "ytgraph.grass")
            expect(page.get_by_test_id("frameCommand").filter(has_text=grass)).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "guide.png"))

            # The queries page: ids typed into the guide's boxes reach its :param lines.
            page.get_by_test_id("pagination-5").click()
            for box, value in (("user_id", user), ("recommended_video_id", video)):
                field = drawer.locator(f'input[value-for="{box}"]')
                field.fill("")
                field.press_sequentially(value)
            blocks = drawer.locator("#q-why_recommended pre.runnable")
            expect(blocks.nth(0)).to_have_text(re.compile(re.escape(q.param_command()) + "$"))

            # One click sets the parameters, one click runs the query.
            blocks.nth(0).locator("i.fa-play-circle-o").click()
            expect(page.get_by_test_id("rawParamData").first).to_contain_text(f'"{video}"')
            blocks.nth(1).locator("i.fa-play-circle-o").click()
            frame = page.get_by_test_id("frame").first
            # The footer counts the query's own result; the overview counts what is drawn.
            expect(frame).to_contain_text(
                f"Displaying {len(nodes)} nodes, {len(rels)} relationships."
            )
            expect(legend_count(frame, "node-label")).to_have_text(f"* ({len(nodes)})")
            expect(legend_count(frame, "relationship-type")).to_have_text(f"* ({len(connected)})")

            # The style took effect: videos are captioned by title, in the Video colour and size.
            node_groups = frame.locator("svg g.node")
            expect(node_groups).to_have_count(len(nodes))
            captions = {t.strip() for t in frame.locator("svg g.node text").all_text_contents()}
            assert titles <= captions, captions
            assert not captions & set(VIDEOS), "video ids instead of titles"
            video_circles = frame.locator('svg g.node circle.b-outline[fill="#4C8EDA"]')
            expect(video_circles).to_have_count(len(titles))
            assert video_circles.first.get_attribute("r") == "32.5"  # diameter 65px
            expect(frame.locator('svg g.node circle.b-outline[fill="#F79767"]')).to_have_count(1)

            # The provenance alone, without the relationships "Connect result nodes" adds.
            run_in_editor(page, ":config autoComplete: false")
            expect(page.get_by_test_id("frame").first).to_contain_text("autoComplete")
            blocks.nth(1).locator("i.fa-play-circle-o").click()
            frame = page.get_by_test_id("frame").first
            expect(legend_count(frame, "relationship-type")).to_have_text(f"* ({len(rels)})")
            expect(legend_count(frame, "node-label")).to_have_text(f"* ({len(nodes)})")
            page.wait_for_timeout(2000)  # let the force layout settle before the picture
            frame.get_by_role("button", name="Collapse the node properties display").click()
            frame.get_by_role("button", name="zoom-to-fit").click()
            page.wait_for_timeout(800)
            frame.screenshot(path=str(ARTIFACTS / "why_recommended.png"))

            # Nothing left the machine: only loopback answered, and the CSP refused the scripts
            # Browser 5.24 loads on Community (Segment, Canny).
            assert set(answered) <= LOOPBACK, set(answered) - LOOPBACK
            assert any("segment" in m or "canny" in m for m in refused), refused
        finally:
            chromium.close()
