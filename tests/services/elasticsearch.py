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

import base64
import contextlib
import dataclasses
import secrets
import shutil
import ssl
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.services.distribution import Distribution, DistributionServer, command_line
from tests.services.system import HarnessError

#: The one place the Elasticsearch version is pinned (9.3+ integ-test zips are not on Maven Central).
ES_VERSION = "9.2.8"
CLUSTER_NAME = "breachkit-test"
USERNAME = "elastic"

INSTALL_HINT = (
    "The Elasticsearch test node needs a Temurin JDK 21+ under /usr/lib/jvm (Elasticsearch 9 runs on\n"
    "Java 21 or newer) and Maven (to fetch Elastic's integ-test distribution from Maven Central).\n"
    "On Debian/Ubuntu:\n"
    "  apt-get install maven\n"
    "  a Temurin JDK 21+, e.g. from Adoptium's apt repository: apt-get install temurin-21-jdk\n"
    "  (it installs to /usr/lib/jvm/temurin-21-jdk-<arch>)"
)

ELASTICSEARCH = Distribution(
    name="Elasticsearch",
    version=ES_VERSION,
    maven_group="org.elasticsearch.distribution.integ-test-zip",
    artifact="elasticsearch",
    # Elasticsearch 9 needs Java 21 or newer.
    min_java=21,
    max_java=None,
    jdk_glob="temurin-*-jdk*",
    jdk_kind="Temurin JDK",
    install_hint=INSTALL_HINT,
    # as root, it runs as the system user breachkit-es (it refuses to run as root)
    key="es",
)


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


class ElasticsearchServer(DistributionServer[ElasticsearchNode]):
    """One Elasticsearch node in a fresh temporary directory (config, certificates, data, logs).

    ``start()`` returns an :class:`ElasticsearchNode`; ``stop()`` ends the node (SIGTERM to its
    process group, SIGKILL after 30 s) and deletes the directory. Also usable as a context manager.
    ``prepare_seconds`` is the time spent making certificates, keystore and config.
    """

    distribution = ELASTICSEARCH
    cluster_name = CLUSTER_NAME
    env_prefix = "ES"

    _password = ""

    def _prepare(self, home: Path, java_home: Path) -> dict[str, str]:
        assert self.run_dir is not None
        self._password = secrets.token_urlsafe(24)
        env = self._environment(java_home)
        # the launcher JVMs (server CLI, certutil, keystore) would otherwise leave
        # final-flags* directories in /tmp at every start
        env["CLI_JAVA_OPTS"] = f"-Djava.io.tmpdir={self.run_dir / 'tmp'} -XX:-UsePerfData"
        config = self._layout(home)
        certs = config / "certs"  # under the config dir: the node may only read files from there
        certs.mkdir()

        # Each tool is a JVM start of 2-3 s: the keystore is made while certutil runs.
        keystore = self._start_keystore(home, env, self._password)
        try:
            self._make_certificates(home, env, certs)
        finally:
            self._finish_keystore(keystore)

        self._write_config(
            config,
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
            "xpack.security.transport.ssl.certificate_authorities: [certs/ca.crt]\n",
            # The built-in roles sync writes to the .security index, which this distribution cannot
            # create (its mapping needs analysis-common's pattern_capture filter): it would only
            # retry and log a warning on every cluster state change.
            "-Des.queryable_built_in_roles_enabled=false\n",
        )
        return env

    def _node(self, port: int) -> ElasticsearchNode:
        assert self.run_dir is not None
        return ElasticsearchNode(
            url=f"https://127.0.0.1:{port}",
            username=USERNAME,
            password=self._password,
            ca_certs=self.run_dir / "config" / "certs" / "ca.crt",
        )

    def _health_request(self, node: ElasticsearchNode) -> tuple[urllib.request.Request, ssl.SSLContext]:
        token = base64.b64encode(f"{node.username}:{node.password}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - the https URL this harness built
            f"{node.url}/_cluster/health?wait_for_status=yellow&timeout=2s",
            headers={"Authorization": f"Basic {token}"},
        )
        return request, node.ssl_context()

    def exports(self, node: ElasticsearchNode) -> dict[str, str]:
        return {
            "BREACHKIT_TEST_ES_URL": node.url,
            "BREACHKIT_TEST_ES_USERNAME": node.username,
            "BREACHKIT_TEST_ES_PASSWORD": node.password,
            "BREACHKIT_TEST_ES_CA_CERTS": str(node.ca_certs),
        }

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


def main(argv: Sequence[str] | None = None) -> int:
    return command_line(ElasticsearchServer, "tests.services.elasticsearch", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
