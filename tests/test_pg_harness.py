"""The PostgreSQL test server is real: SQLAlchemy + psycopg connect, each test gets its own database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.services import postgres
from tests.services.fixtures import PG_URL_ENV, PgServer, fresh_database, make_database_name

REUSED = bool(os.environ.get(PG_URL_ENV, "").strip())
ROOT = Path(__file__).resolve().parent.parent
_seen_databases: dict[str, str] = {}


def _scalar(url: str, query: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).scalar_one()
    finally:
        engine.dispose()


def _database_exists(server: PgServer, name: str) -> bool:
    with postgres.connect(server.url) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _exits_soon(pid: int, timeout: float = 10.0) -> bool:
    """Whether ``pid`` is gone (or a zombie) within ``timeout``: pg_ctl stop returns as the pid file goes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/status").read_text().split("\nState:")[1].split()[0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


# --------------------------------------------------------------------------- pure parts


def test_urls_use_the_psycopg_driver() -> None:
    assert (
        postgres.normalize_url("postgres://u:p%40ss@localhost:5433/db")
        == "postgresql+psycopg://u:p%40ss@localhost:5433/db"
    )
    assert postgres.normalize_url("postgresql://u@h/db?sslmode=require").startswith("postgresql+psycopg://u@h/db?")
    assert postgres.database_url("postgresql+psycopg://u:pw@h:1/a", "b") == "postgresql+psycopg://u:pw@h:1/b"
    with pytest.raises(postgres.HarnessError, match="not a PostgreSQL URL"):
        postgres.normalize_url("sqlite:///x.db")


def test_database_names_are_unique_identifiers() -> None:
    names = {make_database_name("tests/test_x.py::test_y[a]") for _ in range(3)}
    assert len(names) == 3
    for name in names:
        assert name.isidentifier() and name == name.lower() and len(name) < 63


def test_missing_programs_say_how_to_install(tmp_path: Path) -> None:
    env = {**os.environ, postgres.BINDIR_ENV: str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "tests.services.postgres", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "apt-get install --no-install-recommends postgresql" in result.stderr
    assert str(tmp_path) in result.stderr


# --------------------------------------------------------------------------- the session server


@pytest.mark.pg
def test_server_answers_through_sqlalchemy(pg_server: PgServer, pg_url: str) -> None:
    assert pg_url == pg_server.url
    assert make_url(pg_url).drivername == "postgresql+psycopg"
    version = _scalar(pg_url, "SHOW server_version_num")
    assert int(str(version)) >= postgres.MIN_MAJOR * 10000
    if not REUSED:
        assert make_url(pg_url).host == "127.0.0.1"
        assert _scalar(pg_url, "SELECT current_database()") == postgres.DATABASE
        assert _scalar(pg_url, "SHOW listen_addresses") == "127.0.0.1"
        assert _scalar(pg_url, "SHOW fsync") == "off"


@pytest.mark.pg
def test_a_wrong_password_is_refused(pg_server: PgServer) -> None:
    if pg_server.reused:
        pytest.skip("only the harness's own server is known to use passwords")
    wrong = make_url(pg_server.url).set(password="wrong").render_as_string(hide_password=False)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        postgres.connect(wrong)


@pytest.mark.pg
@pytest.mark.parametrize("case", ["first", "second"])
def test_each_test_gets_its_own_empty_database(pg_database_url: str, pg_url: str, case: str) -> None:
    assert make_url(pg_database_url).database != make_url(pg_url).database
    engine = sa.create_engine(pg_database_url)
    try:
        with engine.begin() as conn:
            tables = conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one()
            assert tables == 0
            assert conn.execute(sa.text("SHOW server_encoding")).scalar_one() == "UTF8"
            assert (
                conn.execute(
                    sa.text("SELECT datcollate FROM pg_database WHERE datname = current_database()")
                ).scalar_one()
                == "C"
            )
            # the same table in both cases: a shared database would make the second CREATE fail
            conn.execute(sa.text("CREATE TABLE claim (who text PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO claim VALUES (:who)"), {"who": case})
            assert conn.execute(sa.text("SELECT who FROM claim")).scalars().all() == [case]
            name = conn.execute(sa.text("SELECT current_database()")).scalar_one()
    finally:
        engine.dispose()
    _seen_databases[case] = name
    assert len(set(_seen_databases.values())) == len(_seen_databases)


@pytest.mark.pg
def test_a_test_database_is_dropped_even_with_open_connections(pg_server: PgServer) -> None:
    with fresh_database(pg_server, "test_dropped") as url:
        name = make_url(url).database
        assert name is not None and _database_exists(pg_server, name)
        leftover = sa.create_engine(url)
        conn = leftover.connect()  # left open on purpose: teardown must not hang on it
        conn.execute(sa.text("CREATE TABLE t (x int)"))
        conn.commit()
    assert not _database_exists(pg_server, name)
    with pytest.raises(sa.exc.OperationalError):
        conn.execute(sa.text("SELECT 1"))
    leftover.dispose()


def test_store_url_covers_both_engines(store_url: str, request: pytest.FixtureRequest) -> None:
    kind = request.node.callspec.params["store_url"]
    assert make_url(store_url).get_backend_name() == kind
    assert (request.node.get_closest_marker("pg") is not None) == (kind == "postgresql")
    engine = sa.create_engine(store_url)
    try:
        meta = sa.MetaData()
        table = sa.Table("incident", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("title", sa.Text))
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"title": "Zugriff ohne Befugnis"}])
        with engine.connect() as conn:
            assert conn.execute(sa.select(table.c.title)).scalar_one() == "Zugriff ohne Befugnis"
    finally:
        engine.dispose()
    if kind == "sqlite":
        assert Path(make_url(store_url).database or "").is_file()


# --------------------------------------------------------------------------- lifecycle


@pytest.mark.pg
def test_a_server_runs_unprivileged_and_leaves_nothing_behind() -> None:
    server = postgres.PostgresServer()
    url = server.start()
    try:
        assert server.run_dir is not None and server.startup_seconds is not None
        run_dir = server.run_dir
        pid = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        uid = int(Path(f"/proc/{pid}/status").read_text().split("\nUid:")[1].split()[0])
        assert uid != 0
        # as root: the harness's system user; else None
        owner = postgres.ensure_system_user(postgres.PG_SYSTEM_USER, "PostgreSQL")
        if owner is not None:
            assert Path(f"/proc/{pid}").stat().st_uid == owner.pw_uid
        assert _scalar(url, "SELECT 1") == 1
    finally:
        server.stop()
    assert not run_dir.exists()
    assert _exits_soon(pid)
    with pytest.raises(psycopg.OperationalError):
        postgres.connect(url)


@pytest.mark.pg
@pytest.mark.slow  # two interpreters and a second server: a few seconds
def test_serve_and_url_commands(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop(PG_URL_ENV, None)
    serve = subprocess.Popen(
        [sys.executable, "-m", "tests.services.postgres", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        lines = [serve.stdout.readline(), serve.stdout.readline()]
        exported = lines[1].strip()
        assert exported.startswith(f"export {PG_URL_ENV}='postgresql+psycopg://"), (lines, serve.stderr)
        url = exported.split("=", 1)[1].strip("'")
        state = tmp_path / "breachkit" / "pg-serve.json"
        assert state.stat().st_mode & 0o777 == 0o600
        assert json.loads(state.read_text())["url"] == url
        printed = subprocess.run(
            [sys.executable, "-m", "tests.services.postgres", "url"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert printed.returncode == 0 and printed.stdout.strip() == url
        assert _scalar(url, "SELECT current_database()") == postgres.DATABASE
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
        if serve.stdout is not None:
            serve.stdout.close()
        if serve.stderr is not None:
            serve.stderr.close()
    assert not state.exists()
    gone = subprocess.run(
        [sys.executable, "-m", "tests.services.postgres", "url"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert gone.returncode == 1 and "no `python -m tests.services.postgres serve`" in gone.stderr
