"""What the Elasticsearch and OpenSearch test nodes share (tests/services/elasticsearch.py, opensearch.py).

Each runs its product's integ-test zip from Maven Central: a :class:`Distribution` says which one (Maven
coordinates, the Java versions it runs on, its cache and system user) and finds the JDK under /usr/lib/jvm,
fetches the zip with ``mvn dependency:get`` into ~/.m2 and unpacks it once into the cache.
:class:`DistributionServer` runs one single-node server of it in a fresh temporary directory (as an
unprivileged user when root), waits until it is healthy and stops it; a subclass says what differs: its
configuration, environment, node and readiness request. :func:`command_line` is the ``check``, ``fetch``,
``serve`` and ``version`` commands of both modules.
"""

from __future__ import annotations

import abc
import argparse
import atexit
import contextlib
import dataclasses
import fcntl
import os
import pwd
import re
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar

from tests.services.system import HarnessError, ensure_system_user, tail, wait_until_stopped

JVM_DIR = Path("/usr/lib/jvm")
DEFAULT_HEAP = "512m"
DEFAULT_START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


class PrerequisiteMissing(HarnessError):
    """Java or Maven is missing: the message says what to install."""


@dataclasses.dataclass(frozen=True)
class Distribution:
    """One product's integ-test distribution and what fetching, unpacking and running it needs."""

    #: the product's name in messages ("Elasticsearch") and the service the system user runs
    name: str
    #: the pinned version
    version: str
    maven_group: str
    #: the Maven artifact; also the top directory in the zip (``<artifact>-<version>``) and its bin/ launcher
    artifact: str
    #: the Java major versions it runs on: ``min_java``+, up to ``max_java`` when not None
    min_java: int
    max_java: int | None
    #: which entries of /usr/lib/jvm may be its JDK ("*": any), and what messages call one ("Temurin JDK")
    jdk_glob: str
    jdk_kind: str
    #: what to install, appended to every "missing" message
    install_hint: str
    #: a short name ("es") for what the harness makes: the system user that runs the server as root
    #: (breachkit-es; the product refuses to run as root), the cache (~/.cache/breachkit/es, overridden by
    #: BREACHKIT_ES_CACHE_DIR) and the run directories (/tmp/breachkit-es-*)
    key: str

    # -- prerequisites ----------------------------------------------------------------------------

    @property
    def java_versions(self) -> str:
        """Like "21+" or "17-21"."""
        return f"{self.min_java}+" if self.max_java is None else f"{self.min_java}-{self.max_java}"

    @property
    def system_user(self) -> str:
        return f"breachkit-{self.key}"

    def runs_on(self, major: int) -> bool:
        return major >= self.min_java and (self.max_java is None or major <= self.max_java)

    def find_java_home(self) -> Path:
        """The newest JDK under /usr/lib/jvm (not an alias link) whose major version the product runs on."""
        found: list[tuple[int, Path]] = []
        for jdk in JVM_DIR.glob(self.jdk_glob):
            major = _java_major(jdk)
            if major is not None and (jdk / "bin" / "java").is_file() and not jdk.is_symlink():
                found.append((major, jdk))
        usable = sorted((m, j) for m, j in found if self.runs_on(m))
        if not usable:
            seen = ", ".join(f"{j} (Java {m})" for m, j in sorted(found)) or "none"
            where = f"under {JVM_DIR}" if self.jdk_glob == "*" else f"found at {JVM_DIR}/{self.jdk_glob}"
            raise PrerequisiteMissing(
                f"no {self.jdk_kind} {self.java_versions} {where} (found: {seen}).\n{self.install_hint}"
            )
        return usable[-1][1]

    def find_mvn(self) -> str:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise PrerequisiteMissing(f"`mvn` (Maven) is not on PATH.\n{self.install_hint}")
        return mvn

    def check_prerequisites(self) -> tuple[Path, str]:
        """Both the JDK and Maven, or one PrerequisiteMissing naming everything that is missing."""
        problems: list[str] = []
        java_home: Path | None = None
        mvn: str | None = None
        try:
            java_home = self.find_java_home()
        except PrerequisiteMissing as exc:
            problems.append(str(exc).split("\n", 1)[0])
        try:
            mvn = self.find_mvn()
        except PrerequisiteMissing as exc:
            problems.append(str(exc).split("\n", 1)[0])
        if java_home is None or mvn is None:
            raise PrerequisiteMissing("\n".join(problems) + "\n" + self.install_hint)
        return java_home, mvn

    # -- the zip and its unpacked copy ------------------------------------------------------------

    def zip_path(self, version: str) -> Path:
        """Where Maven keeps the integ-test zip of ``version``."""
        directory = maven_repo().joinpath(*self.maven_group.split(".")) / self.artifact / version
        return directory / f"{self.artifact}-{version}.zip"

    def fetch(self, version: str) -> Path:
        """The integ-test zip, downloaded from Maven Central with ``mvn dependency:get`` unless cached."""
        target = self.zip_path(version)
        if target.is_file():
            return target
        mvn = self.find_mvn()
        env = dict(os.environ)
        if "JAVA_HOME" not in env and shutil.which("java") is None:
            env["JAVA_HOME"] = str(self.find_java_home())  # Maven itself runs on any JDK
        artifact = f"{self.maven_group}:{self.artifact}:{version}:zip"
        cmd = [
            mvn,
            "-q",
            "-B",
            "dependency:get",
            f"-Dartifact={artifact}",
            "-Dtransitive=false",
            f"-Dmaven.repo.local={maven_repo()}",  # so the zip lands where zip_path() looks
        ]
        print(f"fetching {self.name} {version} ({artifact}) with Maven ...", file=sys.stderr, flush=True)
        result = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, check=False)
        if result.returncode != 0 or not target.is_file():
            there = "there" if target.is_file() else "missing"
            raise HarnessError(f"`{' '.join(cmd)}` exited {result.returncode} and {target} is {there}")
        return target

    def cache_root(self) -> Path:
        """Where distributions are unpacked, one directory per version.

        BREACHKIT_<KEY>_CACHE_DIR wins. As root it is /var/cache/breachkit/<key>, because root's home is not
        traversable by the unprivileged user that runs the node; otherwise ~/.cache/breachkit/<key>.
        """
        configured = os.environ.get(f"BREACHKIT_{self.key.upper()}_CACHE_DIR")
        if configured:
            return Path(configured)
        if os.geteuid() == 0:
            return Path("/var/cache/breachkit") / self.key
        xdg = os.environ.get("XDG_CACHE_HOME")
        return (Path(xdg) if xdg else Path.home() / ".cache") / "breachkit" / self.key

    def unpack(self, version: str, owner: pwd.struct_passwd | None = None) -> Path:
        """The home of ``version``, unzipped once into the cache (safe against concurrent sessions)."""
        zip_path = self.fetch(version)
        root = self.cache_root() / version
        top = f"{self.artifact}-{version}"
        home = root / top
        _makedirs_traversable(root)
        with open(root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (home / "bin" / self.artifact).is_file():
                print(f"unpacking {zip_path.name} into {root} ...", file=sys.stderr, flush=True)
                staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
                try:
                    _extract(zip_path, staging)
                    unpacked = staging / top
                    if not (unpacked / "bin" / self.artifact).is_file():
                        raise HarnessError(f"{zip_path} has no {top}/bin/{self.artifact}")
                    if home.exists():
                        shutil.rmtree(home)
                    unpacked.rename(home)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
            if owner is not None and home.stat().st_uid != owner.pw_uid:
                _chown_tree(home, owner.pw_uid, owner.pw_gid)
        return home


def _java_major(jdk: Path) -> int | None:
    with contextlib.suppress(OSError):
        match = re.search(r'^JAVA_VERSION="(\d+)', (jdk / "release").read_text(), re.MULTILINE)
        if match:
            return int(match.group(1))
    match = re.match(r"temurin-(\d+)-", jdk.name)
    return int(match.group(1)) if match else None


def maven_repo() -> Path:
    return Path.home() / ".m2" / "repository"


def _makedirs_traversable(path: Path) -> None:
    """mkdir -p, with the new directories world-traversable (the node's user must reach them)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
            directory.chmod(0o755)


def _extract(zip_path: Path, dest: Path) -> None:
    """Unzip keeping the Unix permission bits (zipfile drops them; bin/ must stay executable)."""
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            mode = (info.external_attr >> 16) & 0o7777
            if stat.S_ISLNK(info.external_attr >> 16):
                raise HarnessError(f"unexpected symlink {info.filename} in {zip_path}")
            extracted = Path(archive.extract(info, dest))
            if mode:
                extracted.chmod(mode)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


# --------------------------------------------------------------------------- the server

NodeT = TypeVar("NodeT")


class DistributionServer(abc.ABC, Generic[NodeT]):
    """One single-node server of ``distribution`` in a fresh temporary directory (config, data, logs).

    ``start()`` returns the node (how to reach it); ``stop()`` ends the server (SIGTERM to its process
    group, SIGKILL after 30 s) and deletes the directory. Also usable as a context manager.
    """

    distribution: ClassVar[Distribution]
    #: the cluster's name; the node is <cluster_name>-node
    cluster_name: ClassVar[str]
    #: the prefix of the launcher's variables: <prefix>_JAVA_HOME, <prefix>_PATH_CONF, <prefix>_TMPDIR
    env_prefix: ClassVar[str]

    def __init__(
        self,
        *,
        version: str | None = None,
        heap: str = DEFAULT_HEAP,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self.version = version or self.distribution.version
        self.heap = heap
        self.start_timeout = start_timeout
        self.node: NodeT | None = None
        self.run_dir: Path | None = None
        #: seconds spent preparing the run directory, and seconds from launch to healthy
        self.prepare_seconds: float | None = None
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- what differs -----------------------------------------------------------------------------

    @abc.abstractmethod
    def _prepare(self, home: Path, java_home: Path) -> dict[str, str]:
        """Fill ``run_dir`` (see :meth:`_layout` and :meth:`_write_config`); the launcher's environment."""

    @abc.abstractmethod
    def _node(self, port: int) -> NodeT:
        """How to reach the server on its HTTP ``port``."""

    @abc.abstractmethod
    def _health_request(self, node: NodeT) -> tuple[urllib.request.Request, ssl.SSLContext | None]:
        """The request of the cluster health that answers 200 once the node is up (yellow)."""

    @abc.abstractmethod
    def exports(self, node: NodeT) -> dict[str, str]:
        """The BREACHKIT_TEST_* variables that make test runs reuse ``node`` (printed by ``serve``)."""

    # -- public -----------------------------------------------------------------------------------

    def start(self) -> NodeT:
        if self.node is not None:
            return self.node
        began = time.monotonic()
        dist = self.distribution
        java_home = dist.find_java_home()
        owner = ensure_system_user(dist.system_user, dist.name)
        home = dist.unpack(self.version, owner)
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"breachkit-{dist.key}-"))
        atexit.register(self.stop)
        try:
            env = self._prepare(home, java_home)
            if owner is not None:
                _chown_tree(self.run_dir, owner.pw_uid, owner.pw_gid)
            self.prepare_seconds = time.monotonic() - began
            launched = time.monotonic()
            deadline = launched + self.start_timeout
            self._launch(home, env, owner)
            node = self._node(self._wait_for_port(deadline))
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
        for path in (self.run_dir / "logs" / f"{self.cluster_name}.log", self.run_dir / "console.log"):
            text = tail(path, lines)
            if text:
                parts.append(f"--- last {lines} lines of {path.name} ---\n{text}")
        return "\n".join(parts) or "(no log written)"

    def __enter__(self) -> NodeT:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- for subclasses ---------------------------------------------------------------------------

    def _environment(self, java_home: Path) -> dict[str, str]:
        """A small, explicit environment: nothing inherited (no *_JAVA_OPTS, JAVA_TOOL_OPTIONS, *_HOME ...)."""
        assert self.run_dir is not None
        return {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.run_dir),
            f"{self.env_prefix}_JAVA_HOME": str(java_home),
            f"{self.env_prefix}_PATH_CONF": str(self.run_dir / "config"),
            f"{self.env_prefix}_TMPDIR": str(self.run_dir / "tmp"),
        }

    def _layout(self, home: Path) -> Path:
        """The distribution's config copied into ``run_dir``, with empty data, logs and tmp: the config dir."""
        assert self.run_dir is not None
        config = self.run_dir / "config"
        shutil.copytree(home / "config", config)
        for name in ("data", "logs", "tmp"):
            (self.run_dir / name).mkdir()
        return config

    def _write_config(self, config: Path, settings: str = "", jvm_options: str = "") -> None:
        """``<artifact>.yml`` for one local single node on free ports, then ``settings``; the heap, JVM
        logging to stderr and crash files in logs/, then ``jvm_options``."""
        assert self.run_dir is not None
        run = self.run_dir
        (config / f"{self.distribution.artifact}.yml").write_text(
            "# written by tests/services/distribution.py for one test session\n"
            f"cluster.name: {self.cluster_name}\n"
            f"node.name: {self.cluster_name}-node\n"
            f"path.data: {run / 'data'}\n"
            f"path.logs: {run / 'logs'}\n"
            "network.host: 127.0.0.1\n"
            # port 0: the OS picks free ports, no race; the node writes them to logs/http.ports
            "http.port: 0\n"
            "transport.port: 0\n"
            "node.portsfile: true\n"
            "discovery.type: single-node\n"
            "cluster.routing.allocation.disk.threshold_enabled: false\n" + settings
        )
        options = config / "jvm.options.d"
        options.mkdir(exist_ok=True)
        (options / "breachkit.options").write_text(
            f"-Xms{self.heap}\n"
            f"-Xmx{self.heap}\n"
            # no gc.log in the working directory: JVM warnings to stderr only
            "-Xlog:disable\n"
            "-Xlog:all=warning:stderr:utctime,level,tags\n"
            f"-XX:ErrorFile={run / 'logs' / 'hs_err_pid%p.log'}\n"
            f"-XX:HeapDumpPath={run / 'logs'}\n" + jvm_options
        )

    # -- internals --------------------------------------------------------------------------------

    def _launch(self, home: Path, env: dict[str, str], owner: pwd.struct_passwd | None) -> None:
        assert self.run_dir is not None
        as_user: dict[str, Any] = {}
        if owner is not None:
            as_user = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        with open(self.run_dir / "console.log", "wb") as console:
            self._process = subprocess.Popen(
                [str(home / "bin" / self.distribution.artifact)],
                cwd=self.run_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() signals the launcher and the server
                **as_user,
            )

    def _fail(self, reason: str) -> HarnessError:
        return HarnessError(f"{self.distribution.name} {self.version}: {reason}\n{self.log_tail()}")

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

    def _wait_for_health(self, node: NodeT, deadline: float) -> None:
        request, context = self._health_request(node)
        last = "no answer"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(request, context=context, timeout=10) as response:  # noqa: S310
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:  # 503 until the cluster state is recovered, ...
                last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
            except (urllib.error.URLError, OSError) as exc:
                last = repr(exc)
            time.sleep(0.5)
        raise self._fail(f"not healthy after {self.start_timeout:.0f} s (last: {last})")


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL after STOP_TIMEOUT."""
    pgid = process.pid  # start_new_session: the group id is the launcher's pid
    for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            process.poll()
            try:
                os.killpg(pgid, 0)  # anyone left in the group (the server outlives its launcher)?
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            continue
        break
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


# --------------------------------------------------------------------------- command line


def _serve(server: DistributionServer[Any]) -> int:
    node = server.start()
    exports = "".join(f"\nexport {name}={value}" for name, value in server.exports(node).items())
    print(
        f"# {server.distribution.name} {server.version} up in {server.startup_seconds:.1f} s "
        f"(+{server.prepare_seconds:.1f} s preparing); Ctrl-C stops it{exports}",
        flush=True,
    )
    try:
        wait_until_stopped(server.alive)
    finally:
        server.stop()
    return 0


def command_line(
    server_class: type[DistributionServer[Any]], module: str, doc: str | None, argv: Sequence[str] | None
) -> int:
    """``python -m <module> check|fetch|serve|version``: exit 2 when a prerequisite is missing, 1 on any
    other harness error."""
    dist = server_class.distribution
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help=f"check that a JDK {dist.java_versions} and Maven are installed")
    commands.add_parser("fetch", help="fetch (Maven) and unpack the pinned distribution")
    serve = commands.add_parser("serve", help="run a node until interrupted")
    serve.add_argument("--timeout", type=float, default=DEFAULT_START_TIMEOUT)
    commands.add_parser("version", help=f"print the pinned {dist.name} version")
    args = parser.parse_args(argv)
    try:
        if args.command == "version":
            print(dist.version)
        elif args.command == "check":
            java_home, mvn = dist.check_prerequisites()
            print(f"java: {java_home} (Java {_java_major(java_home)}); mvn: {mvn}")
        elif args.command == "fetch":
            java_home, _ = dist.check_prerequisites()
            zip_path = dist.fetch(dist.version)
            home = dist.unpack(dist.version, owner=ensure_system_user(dist.system_user, dist.name))
            print(f"{dist.name} {dist.version}: {zip_path}\n  unpacked: {home}\n  java: {java_home}")
        elif args.command == "serve":
            return _serve(server_class(start_timeout=args.timeout))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, PrerequisiteMissing) else 1
    return 0
