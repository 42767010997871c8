"""A real, single-node OpenSearch for the test suite (see design.md, "Wave 2 additions").

The node is OpenSearch's own integ-test distribution from Maven Central: the server and its core modules,
no plugins (so no security plugin: plain HTTP, no users). It runs on 127.0.0.1 with a small heap on the
Java 17 under /usr/lib/jvm (OpenSearch 2.x runs on Java 11–21; newer JDKs dropped the security manager it
needs), as an unprivileged user when the tests run as root (it refuses to run as root).

Library use::

    with OpenSearchServer() as node:      # starts it, stops it and deletes its files on exit
        client = OpenSearch(node.url)

Command line (``python -m tests.services.opensearch ...``)::

    check    are a JDK 17–21 under /usr/lib/jvm and Maven there? (exit 2 and say how to install them if not)
    fetch    check, download the pinned zip with Maven unless ~/.m2 has it, and unpack it into the cache
    serve    start a node and print the BREACHKIT_TEST_OS_URL variable that makes test runs reuse it
    version  print the pinned OpenSearch version

The version is pinned here and only here.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import fcntl
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tests.services.elasticsearch import (
    _chown_tree,
    _extract,
    _makedirs_traversable,
    find_mvn,
    maven_repo,
)
from tests.services.system import HarnessError, ensure_system_user, tail, wait_until_stopped

#: The one place the OpenSearch version is pinned.
OS_VERSION = "2.19.6"
MAVEN_GROUP = "org.opensearch.distribution.integ-test-zip"
MAVEN_ARTIFACT = "opensearch"
#: OpenSearch 2.x runs on Java 11 to 21 (it needs the security manager, which Java 24 removed).
JAVA_MAJORS = range(17, 22)
JVM_DIR = Path("/usr/lib/jvm")
SYSTEM_USER = "breachkit-os"
CLUSTER_NAME = "breachkit-test-os"
NODE_NAME = "breachkit-test-os-node"
DEFAULT_HEAP = "512m"
DEFAULT_START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0

INSTALL_HINT = (
    "The OpenSearch test node needs a JDK 17-21 under /usr/lib/jvm and Maven (to fetch the integ-test\n"
    "distribution from Maven Central). On Debian/Ubuntu: apt-get install openjdk-17-jdk-headless maven"
)


class PrerequisiteMissing(HarnessError):
    """Java or Maven is missing: the message says what to install."""


@dataclasses.dataclass(frozen=True)
class OpenSearchNode:
    """How to reach a node: the one the harness started, or one given by BREACHKIT_TEST_OS_URL."""

    url: str
    username: str = ""
    password: str = ""


def _java_major(jdk: Path) -> int | None:
    with contextlib.suppress(OSError):
        match = re.search(r'^JAVA_VERSION="(\d+)', (jdk / "release").read_text(), re.MULTILINE)
        if match:
            return int(match.group(1))
    return None


def find_java_home() -> Path:
    """A JDK under /usr/lib/jvm whose major version OpenSearch 2.x runs on (the newest such)."""
    found: list[tuple[int, Path]] = []
    for jdk in JVM_DIR.iterdir() if JVM_DIR.is_dir() else ():
        major = _java_major(jdk)
        if major is not None and (jdk / "bin" / "java").is_file() and not jdk.is_symlink():
            found.append((major, jdk))
    usable = sorted((m, j) for m, j in found if m in JAVA_MAJORS)
    if not usable:
        seen = ", ".join(f"{j} (Java {m})" for m, j in sorted(found)) or "none"
        raise PrerequisiteMissing(f"no JDK {JAVA_MAJORS.start}-{JAVA_MAJORS.stop - 1} under {JVM_DIR} "
                                  f"(found: {seen}).\n{INSTALL_HINT}")
    return usable[-1][1]


def check_prerequisites() -> tuple[Path, str]:
    problems: list[str] = []
    java_home: Path | None = None
    mvn: str | None = None
    try:
        java_home = find_java_home()
    except PrerequisiteMissing as exc:
        problems.append(str(exc).split("\n", 1)[0])
    try:
        mvn = find_mvn()
    except HarnessError as exc:
        problems.append(str(exc).split("\n", 1)[0])
    if java_home is None or mvn is None:
        raise PrerequisiteMissing("\n".join(problems) + "\n" + INSTALL_HINT)
    return java_home, mvn


def distribution_zip(version: str = OS_VERSION) -> Path:
    return maven_repo().joinpath(*MAVEN_GROUP.split(".")) / MAVEN_ARTIFACT / version / f"{MAVEN_ARTIFACT}-{version}.zip"


def fetch_distribution(version: str = OS_VERSION) -> Path:
    """The integ-test zip, downloaded with ``mvn dependency:get`` unless Maven's repository has it."""
    target = distribution_zip(version)
    if target.is_file():
        return target
    mvn = find_mvn()
    env = dict(os.environ)
    if "JAVA_HOME" not in env and shutil.which("java") is None:
        env["JAVA_HOME"] = str(find_java_home())
    artifact = f"{MAVEN_GROUP}:{MAVEN_ARTIFACT}:{version}:zip"
    cmd = [mvn, "-q", "-B", "dependency:get", f"-Dartifact={artifact}", "-Dtransitive=false",
           f"-Dmaven.repo.local={maven_repo()}"]
    print(f"fetching OpenSearch {version} ({artifact}) with Maven ...", file=sys.stderr, flush=True)
    result = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0 or not target.is_file():
        raise HarnessError(f"`{' '.join(cmd)}` exited {result.returncode} and {target} is "
                           f"{'there' if target.is_file() else 'missing'}")
    return target


def cache_root() -> Path:
    """Where distributions are unpacked: BREACHKIT_OS_CACHE_DIR, else /var/cache/breachkit/os as root
    (root's home is not traversable by the node's user), else ~/.cache/breachkit/os."""
    configured = os.environ.get("BREACHKIT_OS_CACHE_DIR")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/cache/breachkit/os")
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "breachkit" / "os"


def unpack_distribution(version: str = OS_VERSION, owner: pwd.struct_passwd | None = None) -> Path:
    """OPENSEARCH_HOME of ``version``, unzipped once into the cache (safe against concurrent sessions)."""
    zip_path = fetch_distribution(version)
    root = cache_root()
    home = root / version / f"opensearch-{version}"
    _makedirs_traversable(root / version)
    with open(root / version / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / "bin" / "opensearch").is_file():
            print(f"unpacking {zip_path.name} into {root / version} ...", file=sys.stderr, flush=True)
            staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root / version))
            try:
                _extract(zip_path, staging)
                unpacked = staging / f"opensearch-{version}"
                if not (unpacked / "bin" / "opensearch").is_file():
                    raise HarnessError(f"{zip_path} has no opensearch-{version}/bin/opensearch")
                if home.exists():
                    shutil.rmtree(home)
                unpacked.rename(home)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        if owner is not None and home.stat().st_uid != owner.pw_uid:
            _chown_tree(home, owner.pw_uid, owner.pw_gid)
    return home


class OpenSearchServer:
    """One OpenSearch node in a fresh temporary directory (config, data, logs); ``stop()`` ends it and
    deletes the directory. Also usable as a context manager."""

    def __init__(self, *, version: str = OS_VERSION, heap: str = DEFAULT_HEAP,
                 start_timeout: float = DEFAULT_START_TIMEOUT) -> None:
        self.version = version
        self.heap = heap
        self.start_timeout = start_timeout
        self.node: OpenSearchNode | None = None
        self.run_dir: Path | None = None
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> OpenSearchNode:
        if self.node is not None:
            return self.node
        java_home = find_java_home()
        owner = ensure_system_user(SYSTEM_USER, "OpenSearch")
        home = unpack_distribution(self.version, owner)
        self.run_dir = Path(tempfile.mkdtemp(prefix="breachkit-os-"))
        self.run_dir.chmod(0o755)
        atexit.register(self.stop)
        try:
            env = self._prepare(home, java_home)
            if owner is not None:
                _chown_tree(self.run_dir, owner.pw_uid, owner.pw_gid)
            launched = time.monotonic()
            deadline = launched + self.start_timeout
            self._launch(home, env, owner)
            node = OpenSearchNode(url=f"http://127.0.0.1:{self._wait_for_port(deadline)}")
            self._wait_for_health(node, deadline)
            self.startup_seconds = time.monotonic() - launched
        except BaseException:
            self.stop()
            raise
        self.node = node
        return node

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            _terminate(process)
        run_dir, self.run_dir = self.run_dir, None
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
        self.node = None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        if self.run_dir is None:
            return ""
        parts = []
        for path in (self.run_dir / "logs" / f"{CLUSTER_NAME}.log", self.run_dir / "console.log"):
            text = tail(path, lines)
            if text:
                parts.append(f"--- last {lines} lines of {path.name} ---\n{text}")
        return "\n".join(parts) or "(no log written)"

    def __enter__(self) -> OpenSearchNode:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _prepare(self, home: Path, java_home: Path) -> dict[str, str]:
        assert self.run_dir is not None
        run = self.run_dir
        config = run / "config"
        shutil.copytree(home / "config", config)
        for name in ("data", "logs", "tmp"):
            (run / name).mkdir()
        (config / "opensearch.yml").write_text(
            "# written by tests/services/opensearch.py for one test session\n"
            f"cluster.name: {CLUSTER_NAME}\n"
            f"node.name: {NODE_NAME}\n"
            f"path.data: {run / 'data'}\n"
            f"path.logs: {run / 'logs'}\n"
            "network.host: 127.0.0.1\n"
            "http.port: 0\n"  # the OS picks free ports; the node writes them to logs/http.ports
            "transport.port: 0\n"
            "node.portsfile: true\n"
            "discovery.type: single-node\n"
            "cluster.routing.allocation.disk.threshold_enabled: false\n"
        )
        options = config / "jvm.options.d"
        options.mkdir(exist_ok=True)
        (options / "breachkit.options").write_text(
            f"-Xms{self.heap}\n-Xmx{self.heap}\n-Xlog:disable\n-Xlog:all=warning:stderr:utctime,level,tags\n"
            f"-XX:ErrorFile={run / 'logs' / 'hs_err_pid%p.log'}\n-XX:HeapDumpPath={run / 'logs'}\n"
        )
        return {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(run),
            "OPENSEARCH_JAVA_HOME": str(java_home),
            "OPENSEARCH_PATH_CONF": str(config),
            "OPENSEARCH_TMPDIR": str(run / "tmp"),
        }

    def _launch(self, home: Path, env: dict[str, str], owner: pwd.struct_passwd | None) -> None:
        assert self.run_dir is not None
        as_user: dict[str, object] = {}
        if owner is not None:
            as_user = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        with open(self.run_dir / "console.log", "wb") as console:
            self._process = subprocess.Popen(  # type: ignore[call-overload]
                [str(home / "bin" / "opensearch")], cwd=self.run_dir, env=env, stdin=subprocess.DEVNULL,
                stdout=console, stderr=subprocess.STDOUT, start_new_session=True, **as_user,
            )

    def _fail(self, reason: str) -> HarnessError:
        return HarnessError(f"OpenSearch {self.version}: {reason}\n{self.log_tail()}")

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise self._fail(f"the node exited with code {self._process.returncode} while starting")

    def _wait_for_port(self, deadline: float) -> int:
        assert self.run_dir is not None
        ports_file = self.run_dir / "logs" / "http.ports"
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError):
                for line in ports_file.read_text().split():
                    host, _, port = line.rpartition(":")
                    if host.strip("[]") == "127.0.0.1" and port.isdigit():
                        return int(port)
            time.sleep(0.2)
        raise self._fail(f"no HTTP port in {ports_file} after {self.start_timeout:.0f} s")

    def _wait_for_health(self, node: OpenSearchNode, deadline: float) -> None:
        url = f"{node.url}/_cluster/health?wait_for_status=yellow&timeout=2s"
        last = "no answer"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the URL built here
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
            except (urllib.error.URLError, OSError) as exc:
                last = repr(exc)
            time.sleep(0.5)
        raise self._fail(f"not healthy after {self.start_timeout:.0f} s (last: {last})")


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the node's process group, SIGKILL after STOP_TIMEOUT."""
    import signal

    for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            process.poll()
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            continue
        break
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _serve(args: argparse.Namespace) -> int:
    server = OpenSearchServer(start_timeout=args.timeout)
    node = server.start()
    print(f"# OpenSearch {server.version} up in {server.startup_seconds:.1f} s; Ctrl-C stops it\n"
          f"export BREACHKIT_TEST_OS_URL={node.url}", flush=True)
    try:
        wait_until_stopped(server.alive)
    finally:
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.services.opensearch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="check that a JDK 17-21 and Maven are installed")
    commands.add_parser("fetch", help="fetch (Maven) and unpack the pinned distribution")
    serve = commands.add_parser("serve", help="run a node until interrupted")
    serve.add_argument("--timeout", type=float, default=DEFAULT_START_TIMEOUT)
    commands.add_parser("version", help="print the pinned OpenSearch version")
    args = parser.parse_args(argv)
    try:
        if args.command == "version":
            print(OS_VERSION)
        elif args.command == "check":
            java_home, mvn = check_prerequisites()
            print(f"java: {java_home} (Java {_java_major(java_home)}); mvn: {mvn}")
        elif args.command == "fetch":
            java_home, _ = check_prerequisites()
            zip_path = fetch_distribution()
            home = unpack_distribution(owner=ensure_system_user(SYSTEM_USER, "OpenSearch"))
            print(f"OpenSearch {OS_VERSION}: {zip_path}\n  unpacked: {home}\n  java: {java_home}")
        elif args.command == "serve":
            return _serve(args)
    except PrerequisiteMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
