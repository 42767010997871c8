"""Running the board: uvicorn on the configured address. Loopback by default; another address only with TLS
(`--certfile/--keyfile`) or behind a trusted reverse proxy (`web.auth = "proxy"`), because the board shows who
was affected by a breach and carries session cookies."""

from __future__ import annotations

import contextlib
import ipaddress
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from breachkit.errors import ConfigError, ServiceError, UsageError
from breachkit.session import Session
from breachkit.web.app import create_app
from breachkit.web.auth import BoardSettings

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette


@dataclass(frozen=True)
class ServePlan:
    host: str
    port: int
    certfile: Path | None
    keyfile: Path | None
    settings: BoardSettings

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.certfile else 'http'}://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def plan(session: Session, *, host: str | None = None, port: int | None = None, certfile: Path | None = None,
         keyfile: Path | None = None) -> ServePlan:
    """Where and how to serve, checked: refuses a non-loopback address without TLS or the proxy mode, a key file
    others can read, and a certificate without its key."""
    web = session.config.web
    host = host or web.host
    port = port or web.port
    certfile = certfile or (session.config.resolve(web.certfile) if web.certfile else None)
    keyfile = keyfile or (session.config.resolve(web.keyfile) if web.keyfile else None)
    if (certfile is None) != (keyfile is None):
        raise UsageError("TLS needs both --certfile and --keyfile", field="certfile")
    for path in (certfile, keyfile):
        if path is not None and not path.is_file():
            raise UsageError("TLS file not found", path=path)
    if keyfile is not None and keyfile.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError("the TLS key file is readable by others", path=keyfile, hint=f"chmod 600 {keyfile}")
    if not is_loopback(host) and certfile is None and web.auth != "proxy":
        raise UsageError(f"refusing to serve the board on {host} without TLS: it shows personal data and carries "
                         "session cookies", field="host",
                         hint="give --certfile and --keyfile, or put it behind a reverse proxy (web.auth = \"proxy\" "
                              "with web.trusted_proxies), or keep the default 127.0.0.1")
    return ServePlan(host, port, certfile, keyfile, BoardSettings.from_config(web, tls=certfile is not None))


def uvicorn_config(app: Starlette, target: ServePlan) -> uvicorn.Config:
    import uvicorn

    # Forwarded headers are read by the board itself, and only from web.trusted_proxies; no access log (it would
    # write client addresses and incident ids into the server's log).
    return uvicorn.Config(app, host=target.host, port=target.port, log_level="warning", access_log=False,
                          proxy_headers=False, server_header=False,
                          ssl_certfile=str(target.certfile) if target.certfile else None,
                          ssl_keyfile=str(target.keyfile) if target.keyfile else None)


def serve(session: Session, target: ServePlan) -> None:
    """Serve until interrupted (Ctrl-C)."""
    import uvicorn

    server = uvicorn.Server(uvicorn_config(create_app(session, target.settings), target))
    server.run()
    if not server.started:
        raise ServiceError(f"the board could not listen on {target.url}",
                           hint="is the port in use? choose another with --port")


@contextlib.contextmanager
def running(app: Starlette, target: ServePlan, timeout: float = 30.0) -> Iterator[str]:
    """The board served from a background thread (tests, benchmarks); yields its URL, stops on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn_config(app, target))
    thread = threading.Thread(target=server.run, name="breachkit-board", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ServiceError(f"the board did not start on {target.url}")
        time.sleep(0.02)
    try:
        yield target.url
    finally:
        server.should_exit = True
        thread.join(timeout)
