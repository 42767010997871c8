"""A library session: what every use case needs — the configuration, the workspace, the incident store, who is
acting and what time it is.

The CLI, the web board and Python code all call the same use cases (`breachkit.incidents.api.open_incident`,
`breachkit.notices.api.send_notices`, …) with a session::

    from breachkit.session import Session
    from breachkit.incidents import api as incidents

    with Session.open("breachkit.toml", actor="dpo@example.org") as session:
        opened = incidents.open_incident(session, title="…", aware_at="2026-03-31T05:24",
                                         justification="…")
        print(opened.incident.id, [d.due_at for d in opened.deadlines])

A session is safe to share between threads: it holds no per-call state. The store (a SQLAlchemy engine with
its connection pool) is opened on first use; `as_actor` gives a view acting as someone else over the same
store (a web request's user). The clock is injected (`clock=`), so a test or a replay decides what "now" is.
"""

from __future__ import annotations

import getpass
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from breachkit.config import Config, load_config
from breachkit.errors import UsageError
from breachkit.workspace import Workspace

if TYPE_CHECKING:
    from breachkit.incidents.regimes import Regime
    from breachkit.incidents.store import IncidentStore
    from breachkit.incidents.store.sqlite_reader import CaseReader, SqliteReader


def utc_now() -> datetime:
    return datetime.now(UTC)


def actor_name(environ: Mapping[str, str] | None = None) -> str:
    """Who is acting when nobody says: $BREACHKIT_ACTOR (e.g. an email), else the login name."""
    env = os.environ if environ is None else environ
    return env.get("BREACHKIT_ACTOR", "").strip() or getpass.getuser()


@dataclass
class _Shared:
    """What the views of one session share: the opened store, the workspace, the regimes."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    store: IncidentStore | None = None
    reader: SqliteReader | None = None
    reader_checked: bool = False
    workspace: Workspace | None = None
    regimes: dict[str, Regime] | None = None
    closed: bool = False


class Session:
    """Configuration, workspace, incident store, actor and clock for the use cases."""

    def __init__(self, config: Config, *, actor: str | None = None,
                 clock: Callable[[], datetime] | None = None, _shared: _Shared | None = None) -> None:
        self.config = config
        self.actor = (actor or "").strip() or actor_name()
        self.clock = clock or utc_now
        self._shared = _shared or _Shared()

    @classmethod
    def open(cls, config: Config | str | Path | None = None, *, actor: str | None = None,
             clock: Callable[[], datetime] | None = None, environ: Mapping[str, str] | None = None) -> Session:
        """A session over a config file (or the default lookup: $BREACHKIT_CONFIG, ./breachkit.toml), or over a
        `Config` already loaded."""
        if not isinstance(config, Config):
            config = load_config(Path(config) if config is not None else None, environ=environ)
        return cls(config, actor=actor, clock=clock)

    def as_actor(self, actor: str) -> Session:
        """The same session (store, workspace) acting as `actor` — e.g. the user of a web request."""
        return Session(self.config, actor=actor, clock=self.clock, _shared=self._shared)

    # --- what use cases read -----------------------------------------------------------------------

    def now(self) -> datetime:
        value = self.clock()
        if value.tzinfo is None:
            raise UsageError("the session's clock returned a time without a zone (use aware UTC times)")
        return value.astimezone(UTC)

    @property
    def due_soon(self) -> timedelta:
        """Within this a task is shown as due soon (incidents.due_soon_hours)."""
        return timedelta(hours=self.config.incidents.due_soon_hours)

    @property
    def zone(self) -> ZoneInfo:
        """The zone in which times are shown to people (workspace.timezone)."""
        return self.config.display_zone

    @property
    def workspace(self) -> Workspace:
        shared = self._shared
        with shared.lock:
            if shared.workspace is None:
                shared.workspace = Workspace(self.config.workspace_dir).ensure()
            return shared.workspace

    @property
    def store(self) -> IncidentStore:
        """The incident store, opened (and migrated, once per process) on first use."""
        shared = self._shared
        if shared.store is not None:
            return shared.store
        workspace = self.workspace
        with shared.lock:
            if shared.closed:
                raise UsageError("this session is closed")
            if shared.store is None:
                from breachkit.incidents.store import IncidentStore, store_url

                shared.store = IncidentStore(store_url(self.config.incidents.store.url, workspace.root))
            return shared.store

    @property
    def reader(self) -> CaseReader:
        """What use cases that only read a case use (`clock`, `list_incidents`): the store once it is open;
        before that, a SQLite store at the newest schema is read directly, without importing SQLAlchemy (about
        half of a quick command's start). PostgreSQL, a new or an older store: the store (migrated)."""
        shared = self._shared
        if shared.store is None and not shared.reader_checked:
            from breachkit.incidents.store.head import sqlite_file, store_url
            from breachkit.incidents.store.sqlite_reader import open_sqlite_reader

            path = sqlite_file(store_url(self.config.incidents.store.url, self.config.workspace_dir))
            reader = open_sqlite_reader(path) if path is not None else None
            with shared.lock:
                shared.reader, shared.reader_checked = reader, True
        if shared.store is None and shared.reader is not None and not shared.closed:
            return shared.reader
        return self.store

    @property
    def regimes(self) -> dict[str, Regime]:
        """The notification regimes: the bundled ones plus incidents.regimes from the config."""
        shared = self._shared
        with shared.lock:
            if shared.regimes is None:
                from breachkit.incidents.regimes import load_regimes

                shared.regimes = load_regimes([self.config.resolve(p) for p in self.config.incidents.regimes])
            return shared.regimes

    # --- lifetime -------------------------------------------------------------------------------------

    def close(self) -> None:
        shared = self._shared
        with shared.lock:
            shared.closed = True
            if shared.store is not None:
                shared.store.close()
                shared.store = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
