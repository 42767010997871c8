"""What the test-service harnesses share: the unprivileged user a server runs as when the tests run as root,
a free local port, the tail of a log, and the harness error."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class HarnessError(RuntimeError):
    """A test service could not be prepared, started or reached."""


def ensure_system_user(name: str, service: str) -> pwd.struct_passwd | None:
    """As root: the unprivileged system user that runs `service` (created if needed). Else None."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    shell = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
    cmd = ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", shell]
    result = subprocess.run([*cmd, "--user-group", name], capture_output=True, text=True, check=False)
    try:
        return pwd.getpwnam(name)
    except KeyError:  # exit 9 (already exists, made concurrently) is fine, anything else is not
        raise HarnessError(
            f"cannot create system user {name!r} to run {service} (it refuses to run as root): "
            f"useradd exited {result.returncode}: {result.stderr.strip()}"
        ) from None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (callers retry if someone takes it meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file ("" when it cannot be read)."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def wait_until_stopped(alive: Callable[[], bool]) -> None:
    """Block (a foreground `serve` command) until SIGTERM/SIGINT or until `alive()` turns false."""
    stop = False

    def _on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    while not stop and alive():
        time.sleep(0.5)
