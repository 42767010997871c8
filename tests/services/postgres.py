"""A real PostgreSQL server for the test suite (the incident store's second engine, see design.md).

Each session gets a throw-away cluster: ``initdb`` into a fresh temporary directory, then ``pg_ctl start``.
It listens on 127.0.0.1 only, on a free TCP port (its unix socket lies in the temporary directory, not in
/var/run/postgresql). The superuser ``breachkit`` has a random password (scram-sha-256 over TCP; the
socket, reachable only by the server's user, trusts it). Durability is off (``fsync``,
``synchronous_commit``, ``full_page_writes``): the data dies with the run anyway, and it keeps a start
near one second. ``stop()`` shuts the server down and deletes the directory.

PostgreSQL refuses to run as root, and CI runs as root: there the harness runs initdb and the server as
the system user ``breachkit-pg``, which it creates when missing.

The server programs (initdb, pg_ctl, postgres; PostgreSQL 13+) are looked for in BREACHKIT_PG_BINDIR,
then next to an ``initdb`` on PATH, then in /usr/lib/postgresql/<version>/bin (Debian's packages, newest
first), then /usr/local/pgsql/bin and /usr/local/bin. CI installs Debian's ``postgresql`` package when
they are missing (scripts/test).

Library use::

    with PostgresServer() as server:        # started; stopped and deleted on exit
        engine = sqlalchemy.create_engine(server.url)          # postgresql+psycopg://...

Command line (``python -m tests.services.postgres ...``)::

    check    are the server programs there? (exit 2 and say how to install them if not)
    serve    start a server and print the BREACHKIT_TEST_PG_URL that makes test runs reuse it
    url      print the URL of the server a running ``serve`` started (exit 1 if none runs)
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from tests.services.system import HarnessError, ensure_system_user, free_port, tail, wait_until_stopped

MIN_MAJOR = 13  # DROP DATABASE ... WITH (FORCE)
BINDIR_ENV = "BREACHKIT_PG_BINDIR"
PROGRAMS = ("initdb", "pg_ctl", "postgres")
#: PostgreSQL refuses to run as root; as root the harness runs it as this system user.
PG_SYSTEM_USER = "breachkit-pg"
SUPERUSER = "breachkit"
#: The database the server's URL names (per-test databases are made beside it).
DATABASE = "breachkit"
DRIVER = "postgresql+psycopg"
DEFAULT_START_TIMEOUT = 60.0
STOP_TIMEOUT = 30

INSTALL_HINT = (
    f"The PostgreSQL test server needs PostgreSQL {MIN_MAJOR}+'s server programs ({', '.join(PROGRAMS)});\n"
    "no cluster has to exist or run: the tests make their own in a temporary directory.\n"
    "On Debian/Ubuntu (as root):\n"
    "  apt-get install --no-install-recommends postgresql\n"
    "  (the programs land in /usr/lib/postgresql/<version>/bin, where the harness finds them)\n"
    f"Elsewhere: put their directory on PATH, or set {BINDIR_ENV} to it."
)

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
    "log_timezone": "'UTC'",
    "timezone": "'UTC'",
}





class PrerequisiteMissing(HarnessError):
    """The server programs are missing: the message says how to install them."""


@dataclasses.dataclass(frozen=True)
class PostgresBinaries:
    bindir: Path
    version: str  # e.g. "15.18"

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


# --------------------------------------------------------------------------- prerequisites


def _candidate_dirs() -> list[Path]:
    dirs: list[Path] = []
    configured = os.environ.get(BINDIR_ENV, "").strip()
    if configured:
        return [Path(configured)]
    on_path = shutil.which("initdb")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)  # /usr/local/bin/initdb may link into a versioned dir
    debian = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if d.parent.name.isdigit()]
    dirs += sorted(debian, key=lambda d: int(d.parent.name), reverse=True)
    dirs += [Path("/usr/local/pgsql/bin"), Path("/usr/local/bin")]
    return list(dict.fromkeys(dirs))


def _version(bindir: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\)\s*(\d+(?:\.\d+)?)", out)
    return match.group(1) if match else None


def find_binaries() -> PostgresBinaries:
    """The first directory holding initdb, pg_ctl and postgres of PostgreSQL 13+ (see the module doc)."""
    seen: list[str] = []
    for bindir in _candidate_dirs():
        if not all(os.access(bindir / p, os.X_OK) for p in PROGRAMS):
            continue
        version = _version(bindir)
        if version is not None and int(version.split(".")[0]) >= MIN_MAJOR:
            return PostgresBinaries(bindir, version)
        seen.append(f"{bindir} (version {version or 'unknown'})")
    where = "; ".join(seen) or "none in " + ", ".join(str(d) for d in _candidate_dirs())
    raise PrerequisiteMissing(f"no PostgreSQL {MIN_MAJOR}+ server programs found ({where}).\n{INSTALL_HINT}")


# --------------------------------------------------------------------------- URLs and databases


def normalize_url(url: str) -> str:
    """A SQLAlchemy URL on the psycopg 3 driver (``postgresql://`` and ``postgres://`` are accepted)."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.get_backend_name() != "postgresql":
        raise HarnessError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    return parsed.set(drivername=DRIVER).render_as_string(hide_password=False)


def database_url(url: str, database: str) -> str:
    """``url`` naming ``database`` instead."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def connect(url: str) -> psycopg.Connection[Any]:
    """A psycopg autocommit connection to the database ``url`` names (for CREATE/DROP DATABASE)."""
    parsed = make_url(url)
    params: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
        "connect_timeout": 10,
    }
    params.update({k: v for k, v in parsed.query.items() if isinstance(v, str)})
    return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None})


def create_database(admin: psycopg.Connection[Any], name: str) -> None:
    """An empty UTF-8 database with C collation (the same on every server), from template0."""
    ident = sql.Identifier(name)
    admin.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'").format(ident)
    )


def drop_database(admin: psycopg.Connection[Any], name: str) -> None:
    """Drop ``name``, ending any session still connected to it."""
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --------------------------------------------------------------------------- the server





class PostgresServer:
    """One PostgreSQL cluster in a fresh temporary directory; also usable as a context manager."""

    def __init__(self, *, start_timeout: float = DEFAULT_START_TIMEOUT) -> None:
        self.start_timeout = start_timeout
        self.binaries: PostgresBinaries | None = None
        self.run_dir: Path | None = None
        self.url: str | None = None  # postgresql+psycopg://breachkit:…@127.0.0.1:<port>/breachkit
        self.startup_seconds: float | None = None
        self._owner: pwd.struct_passwd | None = None
        self._running = False

    @property
    def data_dir(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "data"

    @property
    def log_file(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "postgres.log"

    def start(self) -> str:
        """Start the server and return its URL (naming the ``breachkit`` database)."""
        if self.url is not None:
            return self.url
        began = time.monotonic()
        self.binaries = find_binaries()
        self._owner = ensure_system_user(PG_SYSTEM_USER, "PostgreSQL")
        self.run_dir = Path(tempfile.mkdtemp(prefix="breachkit-pg-"))
        atexit.register(self.stop)
        try:
            if self._owner is not None:
                os.chown(self.run_dir, self._owner.pw_uid, self._owner.pw_gid)
            password = secrets.token_urlsafe(24)
            self._initdb(password)
            port = self._launch()
            server_url = URL.create(
                DRIVER, username=SUPERUSER, password=password, host="127.0.0.1", port=port, database="postgres"
            ).render_as_string(hide_password=False)
            with connect(server_url) as admin:
                create_database(admin, DATABASE)
            self.url = database_url(server_url, DATABASE)
            self.startup_seconds = time.monotonic() - began
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        if self._running:
            self._running = False
            stopped = False
            for mode in ("fast", "immediate"):
                with contextlib.suppress(HarnessError):
                    self._pg_ctl("stop", "-m", mode, "-w", "-t", str(STOP_TIMEOUT))
                    stopped = True
                    break
            if not stopped:
                self._kill_postmaster()
        run_dir, self.run_dir = self.run_dir, None
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
        self.url = None

    def log_tail(self, lines: int = 40) -> str:
        if self.run_dir is None:
            return ""
        text = tail(self.log_file, lines)
        return f"--- last {lines} lines of {self.log_file.name} ---\n{text}" if text else "(no log written)"

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------------

    def _run(self, cmd: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        assert self.run_dir is not None
        as_user: dict[str, Any] = {}
        if self._owner is not None:
            as_user = {"user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(self.run_dir)}
        try:
            result = subprocess.run(
                list(cmd),
                cwd=self.run_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                start_new_session=True,  # the postmaster pg_ctl leaves behind ignores the terminal's Ctrl-C
                **as_user,
            )
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"`{' '.join(cmd)}` did not finish in {timeout:.0f} s\n{self.log_tail()}") from exc
        if result.returncode != 0:
            raise HarnessError(
                f"`{' '.join(cmd)}` exited {result.returncode}:\n{result.stdout.strip()}\n{result.stderr.strip()}"
            )
        return result

    def _initdb(self, password: str) -> None:
        assert self.run_dir is not None and self.binaries is not None
        pwfile = self.run_dir / "pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        if self._owner is not None:
            os.chown(pwfile, self._owner.pw_uid, self._owner.pw_gid)
        try:
            self._run(
                [
                    self.binaries.tool("initdb"),
                    f"--pgdata={self.data_dir}",
                    f"--username={SUPERUSER}",
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",  # the socket directory is the server user's alone
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                timeout=self.start_timeout,
            )
        finally:
            pwfile.unlink()
        settings = {**SERVER_SETTINGS, "unix_socket_directories": f"'{self.run_dir}'"}
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# tests/services/postgres.py: a throw-away server for one test session\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _pg_ctl(self, *args: str) -> None:
        assert self.binaries is not None
        self._run([self.binaries.tool("pg_ctl"), f"--pgdata={self.data_dir}", *args], timeout=STOP_TIMEOUT + 30)

    def _launch(self) -> int:
        """``pg_ctl start -w`` on a free port; a port taken in between is retried on another."""
        assert self.binaries is not None
        last = ""
        for _ in range(3):
            port = free_port()
            try:
                self._run(
                    [
                        self.binaries.tool("pg_ctl"),
                        f"--pgdata={self.data_dir}",
                        f"--log={self.log_file}",
                        f"--options=-p {port}",
                        "--wait",
                        f"--timeout={int(self.start_timeout)}",
                        "start",
                    ],
                    timeout=self.start_timeout + 10,
                )
            except HarnessError as exc:
                last = f"{exc}\n{self.log_tail()}"
                if "Address already in use" not in last:
                    break
                continue
            self._running = True
            return port
        self._running = True  # pg_ctl may have left a postmaster behind: stop() checks
        raise HarnessError(f"PostgreSQL did not start:\n{last}")

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- command line


def _state_file() -> Path:
    """Where ``serve`` leaves its URL for ``url`` (0600: the URL holds the password)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "breachkit" / "pg-serve.json"


def _serve(args: argparse.Namespace) -> int:
    server = PostgresServer(start_timeout=args.timeout)
    url = server.start()
    assert server.binaries is not None
    state = _state_file()
    state.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        state.unlink()
    fd = os.open(state, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # the URL holds the password
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), "url": url}, f)
    print(
        f"# PostgreSQL {server.binaries.version} up in {server.startup_seconds:.1f} s ({server.run_dir}); "
        f"Ctrl-C stops it\nexport BREACHKIT_TEST_PG_URL='{url}'",
        flush=True,
    )
    try:
        wait_until_stopped(lambda: (server.data_dir / "postmaster.pid").exists())
    finally:
        server.stop()
        with contextlib.suppress(FileNotFoundError):
            state.unlink()
    return 0


def _served_url() -> str:
    try:
        state = json.loads(_state_file().read_text())
        os.kill(int(state["pid"]), 0)
        return str(state["url"])
    except (OSError, ValueError, KeyError, TypeError):
        raise HarnessError("no `python -m tests.services.postgres serve` is running") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.services.postgres",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="check that PostgreSQL's server programs are installed")
    serve = commands.add_parser("serve", help="run a server until interrupted")
    serve.add_argument("--timeout", type=float, default=DEFAULT_START_TIMEOUT)
    commands.add_parser("url", help="print the URL of the server a running `serve` started")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            binaries = find_binaries()
            print(f"postgresql {binaries.version}: {binaries.bindir}")
        elif args.command == "serve":
            return _serve(args)
        elif args.command == "url":
            print(_served_url())
    except PrerequisiteMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
