"""A real, single-node Elasticsearch for the test suite (see design.md, "Elasticsearch in tests and CI").

The node is Elastic's own integ-test distribution from Maven Central (server, transport-netty4, apm,
x-pack-core and x-pack-security; nothing else). It runs on 127.0.0.1 with security and TLS on HTTP,
with a CA and node certificate made by ``elasticsearch-certutil`` for each run, and the ``elastic``
user's password set through the keystore (``bootstrap.password``).

Library use::

    with ElasticsearchServer() as node:      # starts it, stops it and deletes its files on exit
        client = Elasticsearch(node.url, **node.client_kwargs())

Command line (``python -m tests.services.elasticsearch ...``)::

    check    are a JDK 21+ under /usr/lib/jvm and Maven there? (exit 2 and say how to install them if not)
    fetch    check, download the pinned zip with Maven unless ~/.m2 has it, and unpack it into the cache
    serve    start a node and print the BREACHKIT_TEST_ES_* variables that make test runs reuse it
    version  print the pinned Elasticsearch version

The version is pinned here and only here.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import dataclasses
import fcntl
import os
import pwd
import re
import secrets
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
from typing import Any

from tests.services.system import HarnessError, ensure_system_user, tail, wait_until_stopped

#: The one place the Elasticsearch version is pinned (9.3+ integ-test zips are not on Maven Central).
ES_VERSION = "9.2.8"
MAVEN_GROUP = "org.elasticsearch.distribution.integ-test-zip"
MAVEN_ARTIFACT = "elasticsearch"
#: Elasticsearch 9 needs Java 21 or newer.
MIN_JAVA_MAJOR = 21
JVM_DIR = Path("/usr/lib/jvm")
JDK_GLOB = "temurin-*-jdk*"
#: Elasticsearch refuses to run as root; as root the harness runs it as this system user.
ES_SYSTEM_USER = "breachkit-es"
CLUSTER_NAME = "breachkit-test"
NODE_NAME = "breachkit-test-node"
USERNAME = "elastic"
DEFAULT_HEAP = "512m"
DEFAULT_START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0

INSTALL_HINT = (
    "The Elasticsearch test node needs a Temurin JDK 21+ under /usr/lib/jvm (Elasticsearch 9 runs on\n"
    "Java 21 or newer) and Maven (to fetch Elastic's integ-test distribution from Maven Central).\n"
    "On Debian/Ubuntu:\n"
    "  apt-get install maven\n"
    "  a Temurin JDK 21+, e.g. from Adoptium's apt repository: apt-get install temurin-21-jdk\n"
    "  (it installs to /usr/lib/jvm/temurin-21-jdk-<arch>)"
)



class PrerequisiteMissing(HarnessError):
    """Java or Maven is missing: the message says what to install."""


@dataclasses.dataclass(frozen=True)
class ElasticsearchNode:
    """How to reach a node: the one the harness started, or one given by BREACHKIT_TEST_ES_*."""

    url: str
    username: str
    password: str
    #: PEM file of the CA that signed the node's HTTP certificate; None: use the system's CAs.
    ca_certs: Path | None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``elasticsearch.Elasticsearch(node.url, **kwargs)``."""
        kwargs: dict[str, Any] = {}
        if self.username or self.password:
            kwargs["basic_auth"] = (self.username, self.password)
        if self.ca_certs is not None:
            kwargs["ca_certs"] = str(self.ca_certs)
        return kwargs

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying TLS context that trusts the node's CA (or the system's CAs)."""
        return ssl.create_default_context(cafile=str(self.ca_certs) if self.ca_certs else None)


# --------------------------------------------------------------------------- prerequisites


def _java_major(jdk: Path) -> int | None:
    release = jdk / "release"
    with contextlib.suppress(OSError):
        match = re.search(r'^JAVA_VERSION="(\d+)', release.read_text(), re.MULTILINE)
        if match:
            return int(match.group(1))
    match = re.match(r"temurin-(\d+)-", jdk.name)
    return int(match.group(1)) if match else None


def find_java_home() -> Path:
    """The newest Temurin JDK with major version >= 21 under /usr/lib/jvm."""
    found: list[tuple[int, Path]] = []
    for jdk in JVM_DIR.glob(JDK_GLOB):
        major = _java_major(jdk)
        if major is not None and (jdk / "bin" / "java").is_file():
            found.append((major, jdk))
    usable = sorted((m, j) for m, j in found if m >= MIN_JAVA_MAJOR)
    if not usable:
        seen = ", ".join(f"{j} (Java {m})" for m, j in sorted(found)) or "none"
        raise PrerequisiteMissing(
            f"no Temurin JDK {MIN_JAVA_MAJOR}+ found at {JVM_DIR}/{JDK_GLOB} (found: {seen}).\n{INSTALL_HINT}"
        )
    return usable[-1][1]


def find_mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteMissing(f"`mvn` (Maven) is not on PATH.\n{INSTALL_HINT}")
    return mvn


def check_prerequisites() -> tuple[Path, str]:
    """Both the JDK and Maven, or one PrerequisiteMissing naming everything that is missing."""
    problems: list[str] = []
    java_home: Path | None = None
    mvn: str | None = None
    try:
        java_home = find_java_home()
    except PrerequisiteMissing as exc:
        problems.append(str(exc).split("\n", 1)[0])
    try:
        mvn = find_mvn()
    except PrerequisiteMissing as exc:
        problems.append(str(exc).split("\n", 1)[0])
    if java_home is None or mvn is None:
        raise PrerequisiteMissing("\n".join(problems) + "\n" + INSTALL_HINT)
    return java_home, mvn


# --------------------------------------------------------------------------- distribution


def maven_repo() -> Path:
    return Path.home() / ".m2" / "repository"


def distribution_zip(version: str = ES_VERSION) -> Path:
    """Where Maven keeps the integ-test zip of ``version``."""
    return maven_repo().joinpath(*MAVEN_GROUP.split(".")) / MAVEN_ARTIFACT / version / f"{MAVEN_ARTIFACT}-{version}.zip"


def fetch_distribution(version: str = ES_VERSION) -> Path:
    """The integ-test zip, downloaded from Maven Central with ``mvn dependency:get`` unless cached."""
    target = distribution_zip(version)
    if target.is_file():
        return target
    mvn = find_mvn()
    env = dict(os.environ)
    if "JAVA_HOME" not in env and shutil.which("java") is None:
        env["JAVA_HOME"] = str(find_java_home())  # Maven itself runs on any JDK
    artifact = f"{MAVEN_GROUP}:{MAVEN_ARTIFACT}:{version}:zip"
    cmd = [
        mvn,
        "-q",
        "-B",
        "dependency:get",
        f"-Dartifact={artifact}",
        "-Dtransitive=false",
        f"-Dmaven.repo.local={maven_repo()}",  # so the zip lands where distribution_zip() looks
    ]
    print(f"fetching Elasticsearch {version} ({artifact}) with Maven ...", file=sys.stderr, flush=True)
    result = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0 or not target.is_file():
        raise HarnessError(
            f"`{' '.join(cmd)}` exited {result.returncode} and {target} is {'there' if target.is_file() else 'missing'}"
        )
    return target


def cache_root() -> Path:
    """Where distributions are unpacked, one directory per version.

    BREACHKIT_ES_CACHE_DIR wins. As root it is /var/cache/breachkit/es, because root's home is not
    traversable by the unprivileged user that runs the node; otherwise ~/.cache/breachkit/es.
    """
    configured = os.environ.get("BREACHKIT_ES_CACHE_DIR")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/cache/breachkit/es")
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "breachkit" / "es"


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


def unpack_distribution(version: str = ES_VERSION, owner: pwd.struct_passwd | None = None) -> Path:
    """ES_HOME of ``version``, unzipped once into the cache (safe against concurrent sessions)."""
    zip_path = fetch_distribution(version)
    root = cache_root()
    home = root / version / f"elasticsearch-{version}"
    _makedirs_traversable(root / version)
    with open(root / version / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / "bin" / "elasticsearch").is_file():
            print(f"unpacking {zip_path.name} into {root / version} ...", file=sys.stderr, flush=True)
            staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root / version))
            try:
                _extract(zip_path, staging)
                unpacked = staging / f"elasticsearch-{version}"
                if not (unpacked / "bin" / "elasticsearch").is_file():
                    raise HarnessError(f"{zip_path} has no elasticsearch-{version}/bin/elasticsearch")
                if home.exists():
                    shutil.rmtree(home)
                unpacked.rename(home)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        if owner is not None and home.stat().st_uid != owner.pw_uid:
            _chown_tree(home, owner.pw_uid, owner.pw_gid)
    return home


# --------------------------------------------------------------------------- the node's user


# --------------------------------------------------------------------------- the server


def _run_tool(cmd: Sequence[str | Path], env: dict[str, str], stdin: str | None = None) -> None:
    result = subprocess.run(
        [str(c) for c in cmd],
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise HarnessError(
            f"`{' '.join(str(c) for c in cmd)}` exited {result.returncode}:\n"
            f"{result.stdout.strip()}\n{result.stderr.strip()}"
        )





class ElasticsearchServer:
    """One Elasticsearch node in a fresh temporary directory (config, certificates, data, logs).

    ``start()`` returns an :class:`ElasticsearchNode`; ``stop()`` ends the node (SIGTERM to its
    process group, SIGKILL after 30 s) and deletes the directory. Also usable as a context manager.
    """

    def __init__(
        self,
        *,
        version: str = ES_VERSION,
        heap: str = DEFAULT_HEAP,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self.version = version
        self.heap = heap
        self.start_timeout = start_timeout
        self.node: ElasticsearchNode | None = None
        self.run_dir: Path | None = None
        #: seconds spent making certificates, keystore and config, and seconds from launch to healthy
        self.prepare_seconds: float | None = None
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- public ---------------------------------------------------------------------------------

    def start(self) -> ElasticsearchNode:
        if self.node is not None:
            return self.node
        began = time.monotonic()
        java_home = find_java_home()
        owner = ensure_system_user(ES_SYSTEM_USER, "Elasticsearch")
        es_home = unpack_distribution(self.version, owner)
        self.run_dir = Path(tempfile.mkdtemp(prefix="breachkit-es-"))
        atexit.register(self.stop)
        try:
            password = secrets.token_urlsafe(24)
            env = self._environment(java_home)
            config_dir = self._prepare(es_home, env, password)
            if owner is not None:
                _chown_tree(self.run_dir, owner.pw_uid, owner.pw_gid)
            self.prepare_seconds = time.monotonic() - began
            launched = time.monotonic()
            deadline = launched + self.start_timeout
            self._launch(es_home, env, owner)
            port = self._wait_for_port(deadline)
            node = ElasticsearchNode(
                url=f"https://127.0.0.1:{port}",
                username=USERNAME,
                password=password,
                ca_certs=config_dir / "certs" / "ca.crt",
            )
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
            self._terminate(process)
        run_dir, self.run_dir = self.run_dir, None
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
        self.node = None

    def log_tail(self, lines: int = 60) -> str:
        if self.run_dir is None:
            return ""
        logs = self.run_dir / "logs"
        parts = []
        for path in (logs / f"{CLUSTER_NAME}.log", self.run_dir / "console.log"):
            text = tail(path, lines)
            if text:
                parts.append(f"--- last {lines} lines of {path.name} ---\n{text}")
        return "\n".join(parts) or "(no log written)"

    def __enter__(self) -> ElasticsearchNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------------

    def _environment(self, java_home: Path) -> dict[str, str]:
        assert self.run_dir is not None
        # A small, explicit environment: no inherited ES_JAVA_OPTS, JAVA_TOOL_OPTIONS, ES_HOME ...
        return {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.run_dir),
            "ES_JAVA_HOME": str(java_home),
            "ES_PATH_CONF": str(self.run_dir / "config"),
            "ES_TMPDIR": str(self.run_dir / "tmp"),
            # the launcher JVMs (server CLI, certutil, keystore) would otherwise leave
            # final-flags* directories in /tmp at every start
            "CLI_JAVA_OPTS": f"-Djava.io.tmpdir={self.run_dir / 'tmp'} -XX:-UsePerfData",
        }

    def _prepare(self, es_home: Path, env: dict[str, str], password: str) -> Path:
        assert self.run_dir is not None
        run = self.run_dir
        config = run / "config"
        shutil.copytree(es_home / "config", config)
        for name in ("data", "logs", "tmp"):
            (run / name).mkdir()
        certs = config / "certs"  # under the config dir: the node may only read files from there
        certs.mkdir()

        # Each tool is a JVM start of 2-3 s: the keystore is made while certutil runs.
        keystore = self._start_keystore(es_home, env, password)
        try:
            self._make_certificates(es_home, env, certs)
        finally:
            self._finish_keystore(keystore)

        (config / "elasticsearch.yml").write_text(
            "# written by tests/services/elasticsearch.py for one test session\n"
            f"cluster.name: {CLUSTER_NAME}\n"
            f"node.name: {NODE_NAME}\n"
            f"path.data: {run / 'data'}\n"
            f"path.logs: {run / 'logs'}\n"
            "network.host: 127.0.0.1\n"
            # port 0: the OS picks free ports, no race; the node writes them to logs/http.ports
            "http.port: 0\n"
            "transport.port: 0\n"
            "node.portsfile: true\n"
            "discovery.type: single-node\n"
            "cluster.routing.allocation.disk.threshold_enabled: false\n"
            "xpack.security.enabled: true\n"
            "xpack.security.http.ssl.enabled: true\n"
            "xpack.security.http.ssl.certificate: certs/node.crt\n"
            "xpack.security.http.ssl.key: certs/node.key\n"
            "xpack.security.http.ssl.certificate_authorities: [certs/ca.crt]\n"
            # not needed by a single node, but without it the node warns on every start
            "xpack.security.transport.ssl.enabled: true\n"
            "xpack.security.transport.ssl.verification_mode: certificate\n"
            "xpack.security.transport.ssl.certificate: certs/node.crt\n"
            "xpack.security.transport.ssl.key: certs/node.key\n"
            "xpack.security.transport.ssl.certificate_authorities: [certs/ca.crt]\n"
        )
        (config / "jvm.options.d" / "breachkit.options").write_text(
            f"-Xms{self.heap}\n"
            f"-Xmx{self.heap}\n"
            # no gc.log in the working directory: JVM warnings to stderr only
            "-Xlog:disable\n"
            "-Xlog:all=warning:stderr:utctime,level,tags\n"
            f"-XX:ErrorFile={run / 'logs' / 'hs_err_pid%p.log'}\n"
            f"-XX:HeapDumpPath={run / 'logs'}\n"
            # The built-in roles sync writes to the .security index, which this distribution cannot
            # create (its mapping needs analysis-common's pattern_capture filter): it would only
            # retry and log a warning on every cluster state change.
            "-Des.queryable_built_in_roles_enabled=false\n"
        )
        return config

    @staticmethod
    def _start_keystore(es_home: Path, env: dict[str, str], password: str) -> subprocess.Popen[str]:
        """``elasticsearch-keystore add -x -f bootstrap.password``: -f creates the keystore, -x reads stdin."""
        keystore = subprocess.Popen(
            [str(es_home / "bin" / "elasticsearch-keystore"), "add", "-x", "-f", "bootstrap.password"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert keystore.stdin is not None
        with contextlib.suppress(BrokenPipeError), keystore.stdin:
            keystore.stdin.write(password)
        return keystore

    @staticmethod
    def _finish_keystore(keystore: subprocess.Popen[str]) -> None:
        assert keystore.stdout is not None
        try:
            output = keystore.stdout.read()
            keystore.wait(timeout=120)
        finally:
            if keystore.poll() is None:
                keystore.kill()
                keystore.wait()
            keystore.stdout.close()
        if keystore.returncode != 0:
            raise HarnessError(f"elasticsearch-keystore exited {keystore.returncode}:\n{output}")

    @staticmethod
    def _make_certificates(es_home: Path, env: dict[str, str], certs: Path) -> None:
        """A fresh CA and a node certificate for 127.0.0.1, ::1 and localhost, PEM, 30 days."""
        certutil = es_home / "bin" / "elasticsearch-certutil"
        staging = certs.parent.parent / "certs-staging"
        staging.mkdir()
        try:
            _run_tool([certutil, "ca", "--pem", "--silent", "--days", "30", "--out", staging / "ca.zip"], env)
            with zipfile.ZipFile(staging / "ca.zip") as archive:
                archive.extractall(staging)
            _run_tool(
                [
                    certutil,
                    "cert",
                    "--pem",
                    "--silent",
                    "--days",
                    "30",
                    "--ca-cert",
                    staging / "ca" / "ca.crt",
                    "--ca-key",
                    staging / "ca" / "ca.key",
                    "--name",
                    "node",
                    "--ip",
                    "127.0.0.1,::1",
                    "--dns",
                    "localhost",
                    "--out",
                    staging / "node.zip",
                ],
                env,
            )
            with zipfile.ZipFile(staging / "node.zip") as archive:
                archive.extractall(staging)
            shutil.copy(staging / "ca" / "ca.crt", certs / "ca.crt")
            shutil.copy(staging / "node" / "node.crt", certs / "node.crt")
            shutil.copy(staging / "node" / "node.key", certs / "node.key")
        finally:
            shutil.rmtree(staging)  # the CA key goes with it: nothing else will be signed with it

    def _launch(self, es_home: Path, env: dict[str, str], owner: pwd.struct_passwd | None) -> None:
        assert self.run_dir is not None
        as_user: dict[str, Any] = {}
        if owner is not None:
            as_user = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        with open(self.run_dir / "console.log", "wb") as console:
            self._process = subprocess.Popen(
                [str(es_home / "bin" / "elasticsearch")],
                cwd=self.run_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() signals the CLI and the server
                **as_user,
            )

    def _fail(self, reason: str) -> HarnessError:
        return HarnessError(f"Elasticsearch {self.version}: {reason}\n{self.log_tail()}")

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

    def _wait_for_health(self, node: ElasticsearchNode, deadline: float) -> None:
        context = node.ssl_context()
        token = base64.b64encode(f"{node.username}:{node.password}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - the https URL this harness built
            f"{node.url}/_cluster/health?wait_for_status=yellow&timeout=2s",
            headers={"Authorization": f"Basic {token}"},
        )
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

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
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


def _serve(args: argparse.Namespace) -> int:
    server = ElasticsearchServer(start_timeout=args.timeout)
    node = server.start()
    print(
        f"# Elasticsearch {server.version} up in {server.startup_seconds:.1f} s "
        f"(+{server.prepare_seconds:.1f} s preparing); Ctrl-C stops it\n"
        f"export BREACHKIT_TEST_ES_URL={node.url}\n"
        f"export BREACHKIT_TEST_ES_USERNAME={node.username}\n"
        f"export BREACHKIT_TEST_ES_PASSWORD={node.password}\n"
        f"export BREACHKIT_TEST_ES_CA_CERTS={node.ca_certs}",
        flush=True,
    )
    try:
        wait_until_stopped(lambda: server._process is not None and server._process.poll() is None)
    finally:
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.services.elasticsearch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="check that a JDK 21+ and Maven are installed")
    commands.add_parser("fetch", help="fetch (Maven) and unpack the pinned distribution")
    serve = commands.add_parser("serve", help="run a node until interrupted")
    serve.add_argument("--timeout", type=float, default=DEFAULT_START_TIMEOUT)
    commands.add_parser("version", help="print the pinned Elasticsearch version")
    args = parser.parse_args(argv)
    try:
        if args.command == "version":
            print(ES_VERSION)
        elif args.command == "check":
            java_home, mvn = check_prerequisites()
            print(f"java: {java_home} (Java {_java_major(java_home)}); mvn: {mvn}")
        elif args.command == "fetch":
            java_home, _ = check_prerequisites()
            zip_path = fetch_distribution()
            home = unpack_distribution(owner=ensure_system_user(ES_SYSTEM_USER, "Elasticsearch"))
            print(f"Elasticsearch {ES_VERSION}: {zip_path}\n  unpacked: {home}\n  java: {java_home}")
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
