"""The board end to end in a real headless Chromium (Debian's `chromium`, driven by Playwright's Python package — no
browser download) against the real server (uvicorn on a free port) over SQLite and PostgreSQL: sign in, see the
board, watch a countdown move, complete a task, see it appear in a second browser and a change made from the CLI
too, hit a conflict, be refused a page the role may not see, sign out. Screenshots of the board and an incident page
at 1280 and 390 px go to the test's tmp folder (and to $BREACHKIT_TEST_SCREENSHOTS when set, for review).

A missing browser is a failure, never a skip (scripts/test installs Debian's chromium in CI)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from breachkit.web.app import create_app
from breachkit.web.auth import BoardSettings
from breachkit.web.server import ServePlan, running
from tests.board_world import PASSWORD, World, cheap_hashing, make_world
from tests.services.system import free_port

CHROMIUM_ENV = "BREACHKIT_TEST_CHROMIUM"
# As root Chromium needs --no-sandbox; the network flags keep it from calling home on a machine without a network.
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """One headless Chromium for the whole test session."""
    path = Path(os.environ.get(CHROMIUM_ENV) or "/usr/bin/chromium")
    if not path.exists():
        pytest.fail(f"no Chromium at {path}: install Debian's chromium package (apt-get install chromium), or set "
                    f"{CHROMIUM_ENV} to a Chromium binary", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def board(tmp_path, store_url, monkeypatch) -> Iterator[tuple[World, str]]:
    cheap_hashing(monkeypatch)
    world = make_world(tmp_path, store_url)
    target = ServePlan("127.0.0.1", free_port(), None, None, BoardSettings(poll_seconds=0.5))
    app = create_app(world.session, target.settings)
    app.state.board.markers.ttl = 0.2
    try:
        with running(app, target) as url:
            yield world, url
    finally:
        world.session.close()


def sign_in(browser, url: str, name: str, width: int = 1280):
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="America/New_York")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{url}/")
    assert "/login" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{url}/")
    return context, page


def shoot(page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    review = os.environ.get("BREACHKIT_TEST_SCREENSHOTS")
    if review:
        Path(review).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(review) / path.name)
    return path


def test_the_board_in_a_real_browser(board, chromium, tmp_path, request):
    world, url = board
    kind = request.node.callspec.params["store_url"]
    shots = tmp_path / "screenshots"
    shots.mkdir()

    # --- sign in and see the board; the countdown runs on the server's clock ------------------------------
    commander, page = sign_in(chromium, url, world.users["commander"])
    cards = page.locator("ol.board > li")
    assert cards.count() == 3
    first = cards.nth(0)
    assert world.overdue in first.inner_text()  # past its NIS2 early warning: the most urgent
    assert "OVERDUE" in first.locator(".state-word").inner_text()
    assert "Reasons for the delay required" in first.inner_text()
    assert "<script>" in first.locator("h2").inner_text()  # the title's markup shown as text
    assert page.evaluate("window.__pwned") is None
    countdown = cards.nth(1).locator(".countdown")
    before = countdown.inner_text()
    page.wait_for_function("(old) => document.querySelectorAll('ol.board .countdown')[1].textContent !== old",
                           arg=before)
    assert re.search(r"\d+\sh\s\d\d\smin\s\d\d\ss left", countdown.inner_text())
    assert re.search(r"(CET|CEST)$", page.locator("#server-clock").inner_text())  # the board's zone, not the browser's
    if kind == "sqlite":
        shoot(page, shots, "board-1280")

    # --- a second browser (security) watches the same incident -------------------------------------------------
    security, watcher = sign_in(chromium, url, world.users["security"])
    watcher.goto(f"{url}/incidents/{world.overdue}")
    assert watcher.locator("#task-contain .state-word").inner_text().startswith("OVERDUE")

    # --- the commander completes a task ------------------------------------------------------------------
    page.goto(f"{url}/incidents/{world.overdue}")
    if kind == "sqlite":
        shoot(page, shots, "incident-1280")
    page.locator("#task-contain summary").click()
    page.locator("#task-contain button[data-action=complete]").click()
    page.wait_for_url(re.compile(r"saved=complete"))
    assert "marked done" in page.locator(".notice.ok").inner_text()
    # … and the other browser shows it without a reload
    watcher.wait_for_function(
        "() => document.querySelector('#task-contain .state-word').textContent.startsWith('done')")

    # --- a change made from the CLI appears too ----------------------------------------------------------------
    result = CliRunner().invoke(
        __import__("breachkit.cli", fromlist=["cli"]).cli,
        ["-c", str(Path(world.session.config.source or "")), "incident", "note", world.overdue, "Called the CSIRT"],
        env={"BREACHKIT_ACTOR": "cli@example.org"})
    assert result.exit_code == 0, result.output
    watcher.wait_for_selector("#history li:has-text('Called the CSIRT')")
    assert watcher.locator("#history li").first.inner_text().count("cli@example.org") == 1

    # --- a conflict: the watcher types into a form while the commander changes the same task ----------------------
    watcher.locator("#task-scope summary").click()
    watcher.fill("#task-scope input[name=assignee]", "late@example.org")  # an edited form is not swapped away
    page.goto(f"{url}/incidents/{world.overdue}")
    page.locator("#task-scope summary").click()
    page.fill("#task-scope input[name=assignee]", "first@example.org")
    page.locator("#task-scope button:has-text('Assign')").click()
    page.wait_for_url(re.compile(r"saved=assign"))
    watcher.wait_for_selector("#live-status:has-text('changed while you were typing')")
    watcher.locator("#task-scope button:has-text('Assign')").click()
    conflict = watcher.locator(".conflict")
    conflict.wait_for()
    assert "Not saved" in conflict.inner_text() and "first@example.org" in conflict.inner_text()
    assert "assign to late@example.org" in conflict.inner_text()
    from breachkit.incidents import tasks_api

    assert tasks_api.get_task(world.session, world.overdue, "scope").assignee == "first@example.org"

    # --- pages a role may not see -----------------------------------------------------------------------------
    response = watcher.goto(f"{url}/incidents/{world.people}/subjects")
    assert response is not None and response.status == 403
    assert "may not" in watcher.locator("main").inner_text()
    viewer, view = sign_in(chromium, url, world.users["viewer"])
    view.goto(f"{url}/incidents/{world.overdue}")
    assert "ic@example.org" not in view.locator("main").inner_text()
    assert view.locator("main form").count() == 0
    dpo, people = sign_in(chromium, url, world.users["dpo"])
    people.goto(f"{url}/incidents/{world.people}/subjects")
    assert "person0@example.org" in people.locator("main").inner_text()

    # --- phone-sized screenshots ---------------------------------------------------------------------------
    if kind == "sqlite":
        phone, small = sign_in(chromium, url, world.users["commander"], width=390)
        shoot(small, shots, "board-390")
        small.goto(f"{url}/incidents/{world.overdue}")
        shoot(small, shots, "incident-390")
        assert small.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
        phone.close()

    # --- sign out ---------------------------------------------------------------------------------------------
    page.click("button:has-text('Sign out')")
    page.wait_for_url(re.compile(r"/login\?bye=1"))
    assert "You are signed out" in page.inner_text("main")
    page.goto(f"{url}/")
    assert "/login" in page.url
    for context in (commander, security, viewer, dpo):
        context.close()
    if kind == "sqlite":
        assert sorted(p.name for p in shots.iterdir()) == ["board-1280.png", "board-390.png", "incident-1280.png",
                                                           "incident-390.png"]
