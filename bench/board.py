"""The incident board under the load of 50 open browsers, against a static file of the same server in the same run.

    python bench/board.py [--incidents 200] [--browsers 50] [--seconds 40] [--poll 3] [--store URL]

A store with `--incidents` open incidents (GDPR playbook, 16 tasks each) is served by `breachkit serve` in its own
process on a free loopback port. Each simulated browser behaves like the page's script: it polls `/live` every
`--poll` seconds and, when the store changed, fetches the page fragment again (40 browsers on the board, the rest
on an incident page). Meanwhile a writer adds a timeline note every 2 s from another process-like session (as the
CLI would), so pages really are re-fetched. A prober fetches `/static/board.css` every 100 ms throughout: the
baseline, served by the same server under the same load.

Prints p50/p95/max latency per kind of request and the ratio of the page p95 to the static p95. Bounded in time
and to 127.0.0.1; stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

PASSWORD = "bench password 1234"  # noqa: S105 — the bench users' own, in a temporary store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_store(work: Path, incidents: int, store: str | None) -> Path:
    from breachkit.config import load_config
    from breachkit.incidents import api, users_api
    from breachkit.session import Session

    config = work / "breachkit.toml"
    store_line = f'\n[incidents.store]\nurl = "{store}"\n' if store else ""
    config.write_text(f'[workspace]\npath = "ws"\ntimezone = "Europe/Berlin"\n{store_line}', encoding="utf-8")
    now = datetime.now(UTC)
    with Session(load_config(config, environ={}), actor="bench") as session:
        for n in range(5):
            users_api.add_user(session, f"user{n}@example.org", ["commander", "dpo", "security", "viewer",
                                                                  "commander"][n], PASSWORD)
        for n in range(incidents):
            api.open_incident(session, title=f"Incident {n}", aware_at=now - timedelta(minutes=37 * n),
                              justification="bench", playbook="gdpr-personal-data-breach",
                              commander=f"ic{n % 7}@example.org", regimes=["gdpr-33", "gdpr-34"] + (
                                  ["nis2"] if n % 5 == 0 else []))
    return config


class Client:
    """One browser: a keep-alive connection and its session cookie."""

    def __init__(self, port: int, cookie: str = "") -> None:
        self.port, self.cookie = port, cookie
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str], float]:
        started = time.perf_counter()
        try:
            self.conn.request("GET", path, headers={"Cookie": self.cookie, **(headers or {})})
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request("GET", path, headers={"Cookie": self.cookie, **(headers or {})})
            response = self.conn.getresponse()
        body = response.read()
        return response.status, body, {k.lower(): v for k, v in response.getheaders()}, time.perf_counter() - started


def sign_in(port: int, name: str) -> str:
    client = Client(port)
    status, body, headers, _ = client.get("/login")
    token = re.search(rb'name="csrf" value="([^"]+)"', body)
    assert status == 200 and token, "no sign-in form"
    login_cookie = headers["set-cookie"].split(";")[0]
    form = f"csrf={token.group(1).decode()}&name={name}&password={PASSWORD.replace(' ', '+')}&next=/"
    client.conn.request("POST", "/login", body=form, headers={
        "Cookie": login_cookie, "Content-Type": "application/x-www-form-urlencoded"})
    response = client.conn.getresponse()
    response.read()
    assert response.status == 303, f"sign-in failed: {response.status}"
    return str(response.getheader("set-cookie")).split(";")[0]


def browser(port: int, cookie: str, scope: str, page: str, poll: float, until: float,
            out: dict[str, list[float]], lock: threading.Lock) -> None:
    client = Client(port, cookie)
    marker = ""
    time.sleep(random.uniform(0, poll))  # pages were opened at different moments
    while time.monotonic() < until:
        started = time.monotonic()
        status, body, _, took = client.get(f"/live?scope={scope}", {"Accept": "application/json"})
        with lock:
            out["live"].append(took)
        if status != 200:
            with lock:
                out["errors"].append(status)
        elif json.loads(body)["marker"] != marker:
            marker = json.loads(body)["marker"]
            status, _, _, took = client.get(page, {"X-Board-Fragment": "1"})
            with lock:
                out["board page" if page == "/" else "incident page"].append(took)
                if status != 200:
                    out["errors"].append(status)
        time.sleep(max(0.0, poll - (time.monotonic() - started)))


def prober(port: int, until: float, out: dict[str, list[float]], lock: threading.Lock) -> None:
    client = Client(port)
    while time.monotonic() < until:
        _, _, _, took = client.get("/static/board.css")
        with lock:
            out["static file"].append(took)
        time.sleep(0.1)


def writer(config: Path, incidents: list[str], until: float) -> None:
    from breachkit.config import load_config
    from breachkit.incidents import api
    from breachkit.session import Session

    with Session(load_config(config, environ={}), actor="cli@example.org") as session:
        while time.monotonic() < until:
            api.add_note(session, random.choice(incidents), "bench note")
            time.sleep(2.0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--browsers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--poll", type=float, default=3.0)
    parser.add_argument("--store", help="an incident-store URL (default: SQLite in a temporary workspace)")
    args = parser.parse_args()
    random.seed(7)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        config = build_store(work, args.incidents, args.store)
        print(f"store: {args.incidents} open incidents ({'SQLite' if not args.store else 'given URL'}), built in "
              f"{time.perf_counter() - started:.1f} s")
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "breachkit", "-c", str(config), "serve", "--port", str(port)],
                                  cwd=work, env={**os.environ, "BREACHKIT_ACTOR": "bench"},
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        stderr = server.stderr.read().decode() if server.stderr else ""
                        raise SystemExit(f"the board did not start: {stderr[-2000:]}") from None
                    time.sleep(0.1)
            cookies = [sign_in(port, f"user{n}@example.org") for n in range(5)]
            ids = [f"BK-{datetime.now(UTC).year:04d}-{n:04d}" for n in range(1, min(args.incidents, 10) + 1)]
            # incidents opened "37 min × n" ago may fall into last year around New Year: ask the board instead
            ids = [i for i in ids if Client(port, cookies[0]).get(f"/incidents/{i}")[0] == 200] or ids[:1]
            out: dict[str, list[float]] = {"live": [], "board page": [], "incident page": [], "static file": [],
                                           "errors": []}
            lock = threading.Lock()
            until = time.monotonic() + args.seconds
            threads = [threading.Thread(target=prober, args=(port, until, out, lock)),
                       threading.Thread(target=writer, args=(config, ids, until))]
            for n in range(args.browsers):
                on_board = n < args.browsers * 4 // 5
                scope, page = ("board", "/") if on_board else (ids[n % len(ids)], f"/incidents/{ids[n % len(ids)]}")
                threads.append(threading.Thread(target=browser, args=(port, cookies[n % 5], scope, page, args.poll,
                                                                      until, out, lock)))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            server.terminate()
            server.wait(10)
    print(f"{args.browsers} browsers polling every {args.poll:g} s for {args.seconds:g} s "
          f"({args.browsers * 4 // 5} on the board, the rest on incident pages); a change every 2 s")
    print(f"  {'request':<14} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind in ("static file", "live", "board page", "incident page"):
        values = out[kind]
        if values:
            print(f"  {kind:<14} {len(values):>6} {statistics.median(values) * 1000:>8.1f} "
                  f"{percentile(values, 0.95) * 1000:>8.1f} {max(values) * 1000:>8.1f}")
    if out["errors"]:
        print(f"  errors: {len(out['errors'])} ({sorted(set(out['errors']))})")
    static = percentile(out["static file"], 0.95)
    for kind in ("board page", "incident page", "live"):
        if out[kind]:
            print(f"p95 {kind} / p95 static file: {percentile(out[kind], 0.95) / static:.1f}×")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
