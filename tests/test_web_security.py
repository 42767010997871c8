"""The board's gate, in-process against a real store (Starlette's TestClient drives the real ASGI app): every route
refuses an anonymous request, forms need their CSRF token, text is escaped, repeated failed sign-ins lock the
account, cookies carry their flags, roles decide what is shown and done, bad input is a clear 4xx with nothing
written, and views of personal data are audited."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from breachkit.errors import ConfigError, UsageError
from breachkit.incidents import api as incidents
from breachkit.incidents import tasks_api, users_api
from breachkit.web.app import PUBLIC_ROUTES, create_app
from breachkit.web.auth import BoardSettings
from tests.board_world import PASSWORD, XSS, World, cheap_hashing, csrf_of, make_world, version_of


@pytest.fixture
def world(tmp_path, monkeypatch):
    cheap_hashing(monkeypatch)
    w = make_world(tmp_path, f"sqlite:///{tmp_path}/incidents.db")
    yield w
    w.session.close()


def client(world: World, settings: BoardSettings | None = None, **kwargs) -> TestClient:
    return TestClient(create_app(world.session, settings), follow_redirects=False, **kwargs)


def sign_in(c: TestClient, name: str, password: str = PASSWORD):
    page = c.get("/login")
    return c.post("/login", data={"csrf": csrf_of(page.text), "name": name, "password": password, "next": "/"})


def signed_in(world: World, role: str, settings: BoardSettings | None = None) -> TestClient:
    c = client(world, settings)
    assert sign_in(c, world.users[role]).status_code == 303
    return c


def marker(world: World) -> str:
    return world.session.store.change_marker()


# --- who gets in ------------------------------------------------------------------------------------------


def test_every_route_refuses_an_anonymous_request(world):
    app = create_app(world.session)
    c = TestClient(app, follow_redirects=False)
    before = marker(world)
    names = set()
    checked = 0
    for route in app.routes:
        names.add(route.name)
        if route.name in PUBLIC_ROUTES:
            continue
        assert isinstance(route, Route) and not isinstance(route, Mount), f"{route.name}: unexpected route type"
        path = route.path.replace("{incident_id}", world.overdue).replace("{key}", "contain")
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            response = c.request(method, path, data={"version": "1", "text": "x", "assignee": "a@b.c",
                                                     "reference": "r", "reason": "r", "delay_reasons": "r"})
            assert response.status_code in (303, 401, 403), f"{method} {path}: {response.status_code}"
            if response.status_code == 303:
                assert response.headers["location"].startswith("/login?next="), f"{method} {path}"
            assert "Credential stuffing" not in response.text and "ic@example.org" not in response.text
            checked += 1
    assert checked >= 15
    assert names >= PUBLIC_ROUTES, "a public route name that the app does not register"
    assert {"login_form", "login", "static", "signed_out"} == PUBLIC_ROUTES
    assert marker(world) == before, "an anonymous request wrote something"


def test_the_static_files_and_sign_in_page_are_public_and_nothing_else(world):
    c = client(world)
    assert c.get("/static/board.css").status_code == 200
    assert c.get("/login").status_code == 200
    assert c.get("/").status_code == 303


def test_session_cookie_flags_plain_and_behind_tls(world):
    c = client(world)
    response = sign_in(c, world.users["commander"])
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("bk_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie
    tls = TestClient(create_app(world.session, BoardSettings(tls=True)), base_url="https://board.example",
                     follow_redirects=False)
    response = sign_in(tls, world.users["commander"])
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-bk_session=") and "Secure" in cookie and "HttpOnly" in cookie
    assert "Domain" not in cookie
    page = tls.get("/")
    assert page.status_code == 200 and "strict-transport-security" in page.headers


def test_security_headers_on_every_page(world):
    c = signed_in(world, "commander")
    for path in ("/", f"/incidents/{world.overdue}", "/login"):
        headers = c.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"


def test_repeated_failed_sign_ins_lock_the_account_until_unlocked(world):
    c = client(world)
    name = world.users["security"]
    statuses = [sign_in(c, name, "wrong password!!").status_code for _ in range(5)]
    assert statuses[:4] == [401] * 4 and statuses[4] == 423
    locked = sign_in(c, name)  # the right password no longer helps
    assert locked.status_code == 423 and "locked" in locked.text
    assert "bk_session" not in locked.headers.get("set-cookie", "")
    assert users_api.list_users(world.session)[-1].name == "viewer@example.org"
    assert next(u for u in users_api.list_users(world.session) if u.name == name).locked(world.session.now())
    users_api.unlock_user(world.session, name)
    assert sign_in(c, name).status_code == 303


def test_failed_sign_ins_from_one_address_are_throttled(world):
    c = client(world, BoardSettings(throttle_failures=3))
    for name in ("nobody@example.org", "ghost@example.org", "ic@example.org"):
        assert sign_in(c, name, "wrong password!!").status_code == 401
    response = sign_in(c, world.users["dpo"])  # even a right password waits
    assert response.status_code == 429 and "retry-after" in response.headers


def test_signing_out_and_disabling_end_the_session(world):
    c = signed_in(world, "commander")
    page = c.get("/")
    assert c.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    assert c.get("/").status_code == 303
    d = signed_in(world, "dpo")
    users_api.set_disabled(world.session, world.users["dpo"], True)
    assert d.get("/").status_code == 303
    assert sign_in(client(world), world.users["dpo"]).status_code == 401


def test_sign_in_form_needs_its_token_and_redirects_only_within_the_site(world):
    c = client(world)
    assert c.post("/login", data={"name": world.users["dpo"], "password": PASSWORD}).status_code == 403
    page = c.get("/login")
    response = c.post("/login", data={"csrf": csrf_of(page.text), "name": world.users["dpo"], "password": PASSWORD,
                                      "next": "//evil.example/phish"})
    assert response.status_code == 303 and response.headers["location"] == "/"


# --- forms ------------------------------------------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(world):
    c = signed_in(world, "commander")
    page = c.get(f"/incidents/{world.overdue}")
    version = version_of(page.text, f"/incidents/{world.overdue}/tasks/contain/complete")
    before = marker(world)
    path = f"/incidents/{world.overdue}/tasks/contain/complete"
    assert c.post(path, data={"version": version}).status_code == 403
    assert c.post(path, data={"version": version, "csrf": "forged"}).status_code == 403
    other = signed_in(world, "security")  # another session's token is not this one's
    assert c.post(path, data={"version": version, "csrf": csrf_of(other.get("/").text)}).status_code == 403
    assert c.post(path, data={"version": version, "csrf": csrf_of(page.text)},
                  headers={"origin": "https://evil.example"}).status_code == 403
    assert marker(world) == before
    assert tasks_api.get_task(world.session, world.overdue, "contain").state.value == "open"
    assert c.post(path, data={"version": version, "csrf": csrf_of(page.text)}).status_code == 303
    assert tasks_api.get_task(world.session, world.overdue, "contain").state.value == "done"


def test_script_in_a_title_note_or_task_name_is_shown_as_text(world, tmp_path):
    playbooks = tmp_path / "books"
    playbooks.mkdir()
    (playbooks / "x.yaml").write_text(
        "id: xss-book\nname: X\nroles:\n  commander: c\ntasks:\n"
        f"  - id: t1\n    title: 'Check {XSS}'\n    role: commander\n    due: 1h\n    checklist: ['{XSS}']\n",
        encoding="utf-8")
    from breachkit.session import Session

    config = world.session.config.model_copy(update={"incidents": world.session.config.incidents.model_copy(
        update={"playbooks": [playbooks]})})
    session = Session(config, actor="setup@example.org")
    iid = incidents.open_incident(session, title=f"T {XSS}", aware_at=session.now() - timedelta(hours=1),
                                  justification="j", playbook="xss-book").incident.id
    tasks_api.assign_task(session, iid, "t1", f"x{XSS}@example.org")
    session.close()
    c = signed_in(world, "commander")
    for path in ("/", f"/incidents/{world.overdue}", f"/incidents/{iid}", "/register"):
        text = c.get(path).text
        assert "<script>window" not in text, path
        assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in text, path


def test_bad_input_gets_a_clear_4xx_page_and_writes_nothing(world):
    c = signed_in(world, "commander")
    page = c.get(f"/incidents/{world.overdue}")
    token = csrf_of(page.text)
    version = version_of(page.text, f"/incidents/{world.overdue}/tasks/contain/assign")
    before = marker(world)
    base = f"/incidents/{world.overdue}/tasks"
    cases = [
        ("GET", "/incidents/BK-2020-9999", {}, 404, "No incident BK-2020-9999"),
        ("GET", "/incidents/not-an-id", {}, 404, "incident ids look like"),
        ("POST", f"{base}/no-such-task/complete", {"version": "1"}, 404, "has no task"),
        ("POST", f"{base}/bad%20key!/complete", {"version": "1"}, 404, "No task"),
        ("POST", "/incidents/BK-2020-9999/notes", {"text": "x"}, 404, "No incident"),
        ("POST", f"{base}/contain/assign", {"version": "abc", "assignee": "a@b.c"}, 400, "which version"),
        ("POST", f"{base}/contain/assign", {"version": version}, 400, "required"),
        ("POST", f"{base}/contain/assign", {"version": version, "assignee": "a\x07@b.c"}, 400, "control"),
        ("POST", f"{base}/contain/checklist", {"version": version, "item": "x"}, 400, "numbers"),
        ("POST", f"{base}/contain/checklist", {"version": version, "item": "99"}, 400, "checklist items 1"),
        ("POST", f"{base}/contain/reopen", {"version": version}, 400, "required"),
        ("POST", f"/incidents/{world.overdue}/notes", {"text": "   "}, 400, "required"),
        ("POST", f"/incidents/{world.overdue}/reference", {"version": "1", "reference": "x" * 300}, 400, "too long"),
    ]
    for method, path, data, status, words in cases:
        response = c.request(method, path, data={**data, "csrf": token} if method == "POST" else None)
        assert response.status_code == status, (path, data, response.status_code)
        assert words.lower() in response.text.lower(), (path, words)
        assert "<html" in response.text.lower(), "a page, not a bare error"
    assert marker(world) == before


# --- roles ------------------------------------------------------------------------------------------------


def test_a_viewer_sees_clocks_and_tasks_but_no_identity_and_changes_nothing(world):
    c = signed_in(world, "viewer")
    board = c.get("/").text
    assert "Credential stuffing" in board and "hidden for your role" in board
    page = c.get(f"/incidents/{world.overdue}").text
    assert "Legal clocks" in page and "Contain the breach" in page
    for identity in ("ic@example.org", "sec@example.org", "setup@example.org", "Blocked 203.0.113.0/24"):
        assert identity not in board and identity not in page, identity
    assert "<form method=\"post\" action=\"/incidents/" not in page  # no action is offered
    assert c.post(f"/incidents/{world.overdue}/tasks/contain/complete",
                  data={"version": "1", "csrf": csrf_of(board)}).status_code == 403
    for path in (f"/incidents/{world.people}/subjects", f"/incidents/{world.people}/subjects.csv", "/register",
                 "/register.csv", "/disclosures"):
        response = c.get(path)
        assert response.status_code == 403 and "may not" in response.text, path


def test_only_the_dpo_sees_the_people_and_exports_and_each_is_audited(world):
    commander = signed_in(world, "commander")
    assert commander.get("/register").status_code == 200
    for path in (f"/incidents/{world.people}/subjects", f"/incidents/{world.people}/subjects.csv", "/register.csv",
                 "/disclosures"):
        assert commander.get(path).status_code == 403, path
    assert "person0@example.org" not in commander.get(f"/incidents/{world.people}").text
    dpo = signed_in(world, "dpo")
    before = len(world.session.store.audit_log())
    people = dpo.get(f"/incidents/{world.people}/subjects")
    assert people.status_code == 200 and "person0@example.org" in people.text
    csv = dpo.get(f"/incidents/{world.people}/subjects.csv")
    assert csv.status_code == 200 and b"person11@example.org" in csv.content
    assert csv.headers["content-type"].startswith("text/csv")
    register = dpo.get("/register.csv")
    assert register.status_code == 200 and world.overdue.encode() in register.content
    record = dpo.get("/disclosures")
    assert record.status_code == 200 and "authority filing" in record.text and "ref LDA-2026-117" in record.text
    rows = world.session.store.audit_log()[before:]
    assert [(r["action"], r["actor"]) for r in rows] == [("view", "dpo@example.org"), ("export", "dpo@example.org"),
                                                         ("export", "dpo@example.org"), ("view", "dpo@example.org")]
    assert rows[1]["target"] == "board download" and rows[1]["incident_id"] == world.people


def test_actions_are_recorded_as_the_signed_in_user(world):
    c = signed_in(world, "security")
    page = c.get(f"/incidents/{world.overdue}")
    token = csrf_of(page.text)
    version = version_of(page.text, f"/incidents/{world.overdue}/tasks/scope/assign")
    assert c.post(f"/incidents/{world.overdue}/tasks/scope/assign",
                  data={"csrf": token, "version": version, "assignee": "sec@example.org"}).status_code == 303
    assert c.post(f"/incidents/{world.overdue}/notes", data={"csrf": token, "text": "scope widened"}).status_code == 303
    last = world.session.store.timeline(world.overdue)[-2:]
    assert [(e.action, e.actor) for e in last] == [("task", "sec@example.org"), ("note", "sec@example.org")]
    # security may work tasks but not record the authority's reference
    assert c.post(f"/incidents/{world.overdue}/reference",
                  data={"csrf": token, "version": "1", "reference": "X"}).status_code == 403


def test_a_stale_form_shows_the_conflict_and_the_current_value_and_never_overwrites(world):
    first, second = signed_in(world, "commander"), signed_in(world, "security")
    stale = first.get(f"/incidents/{world.overdue}").text
    fresh = second.get(f"/incidents/{world.overdue}").text
    path = f"/incidents/{world.overdue}/tasks/preserve-evidence"
    assert second.post(f"{path}/assign", data={"csrf": csrf_of(fresh), "assignee": "ops@example.org",
                                               "version": version_of(fresh, f"{path}/assign")}).status_code == 303
    response = first.post(f"{path}/assign", data={"csrf": csrf_of(stale), "assignee": "me@example.org",
                                                  "version": version_of(stale, f"{path}/assign")})
    assert response.status_code == 409
    assert "Not saved" in response.text and "ops@example.org" in response.text
    assert "assign to me@example.org" in response.text
    assert tasks_api.get_task(world.session, world.overdue, "preserve-evidence").assignee == "ops@example.org"
    # the authority's reference: the same
    version = version_of(stale, f"/incidents/{world.overdue}/reference")
    incidents.update_incident(world.session, world.overdue, {"authority_reference": "CNIL-1"}, reason="phone call")
    response = first.post(f"/incidents/{world.overdue}/reference",
                          data={"csrf": csrf_of(stale), "version": version, "reference": "CNIL-2"})
    assert response.status_code == 409 and "CNIL-1" in response.text
    assert incidents.get_incident(world.session, world.overdue).authority_reference == "CNIL-1"


def test_live_marker_moves_with_changes_made_elsewhere(world):
    c = signed_in(world, "viewer")
    board = c.get("/live?scope=board").json()
    one = c.get(f"/live?scope={world.running}").json()
    incidents.add_note(world.session, world.running, "from the CLI")
    app = c.app.state.board  # the marker is cached for a second: read past it
    app.markers.ttl = 0
    assert c.get("/live?scope=board").json()["marker"] != board["marker"]
    assert c.get(f"/live?scope={world.running}").json()["marker"] != one["marker"]
    assert c.get(f"/live?scope={world.overdue}").json()["marker"] == c.get(f"/live?scope={world.overdue}").json()[
        "marker"]
    fragment = c.get(f"/incidents/{world.running}", headers={"x-board-fragment": "1"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and "Legal clocks" in fragment.text
    assert re.match(r"^\d+\.\d+$", fragment.headers["x-board-marker"])


# --- proxy mode and where the board listens ------------------------------------------------------------------


def test_proxy_mode_trusts_the_header_only_from_the_proxy(world):
    settings = BoardSettings(auth="proxy", trusted_proxies=(__import__("ipaddress").ip_network("10.0.0.5/32"),))
    outsider = TestClient(create_app(world.session, settings), client=("192.0.2.9", 1000), follow_redirects=False)
    assert outsider.get("/", headers={"x-forwarded-user": world.users["dpo"]}).status_code == 403
    proxy = TestClient(create_app(world.session, settings), client=("10.0.0.5", 1000))
    assert proxy.get("/").status_code == 403  # no header: nobody
    assert proxy.get("/", headers={"x-forwarded-user": "stranger@example.org"}).status_code == 403
    page = proxy.get("/", headers={"x-forwarded-user": world.users["dpo"]})
    assert page.status_code == 200 and "dpo@example.org" in page.text
    other = proxy.get("/", headers={"x-forwarded-user": world.users["viewer"]})  # the proxy now names someone else
    assert other.status_code == 200 and "viewer@example.org" in other.text and "dpo@example.org" not in other.text


ANY = "0.0.0.0"  # noqa: S104 — the address serve must refuse without TLS or a proxy


def test_serve_binds_to_loopback_and_refuses_another_address_without_tls_or_proxy(world, tmp_path):
    from breachkit.web.server import plan

    assert plan(world.session).host == "127.0.0.1"
    with pytest.raises(UsageError, match="without TLS"):
        plan(world.session, host=ANY)
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("board.example")
    certfile, keyfile = tmp_path / "board.crt", tmp_path / "board.key"
    cert.cert_chain_pems[0].write_to_path(certfile)
    cert.private_key_pem.write_to_path(keyfile)
    keyfile.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        plan(world.session, host=ANY, certfile=certfile, keyfile=keyfile)
    keyfile.chmod(0o600)
    target = plan(world.session, host=ANY, certfile=certfile, keyfile=keyfile)
    assert target.settings.tls and target.url.startswith("https://")
    proxied = world.session.config.model_copy(update={"web": world.session.config.web.model_copy(
        update={"auth": "proxy", "trusted_proxies": ["127.0.0.1"]})})
    from breachkit.session import Session

    assert plan(Session(proxied), host=ANY).settings.auth == "proxy"
