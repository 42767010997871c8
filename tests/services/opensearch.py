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

import dataclasses
import ssl
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tests.services.distribution import Distribution, DistributionServer, command_line

#: The one place the OpenSearch version is pinned.
OS_VERSION = "2.19.6"
CLUSTER_NAME = "breachkit-test-os"

INSTALL_HINT = (
    "The OpenSearch test node needs a JDK 17-21 under /usr/lib/jvm and Maven (to fetch the integ-test\n"
    "distribution from Maven Central). On Debian/Ubuntu: apt-get install openjdk-17-jdk-headless maven"
)

OPENSEARCH = Distribution(
    name="OpenSearch",
    version=OS_VERSION,
    maven_group="org.opensearch.distribution.integ-test-zip",
    artifact="opensearch",
    # OpenSearch 2.x runs on Java 11 to 21 (it needs the security manager, which Java 24 removed).
    min_java=17,
    max_java=21,
    jdk_glob="*",
    jdk_kind="JDK",
    install_hint=INSTALL_HINT,
    # as root, it runs as the system user breachkit-os (it refuses to run as root)
    key="os",
)


@dataclasses.dataclass(frozen=True)
class OpenSearchNode:
    """How to reach a node: the one the harness started, or one given by BREACHKIT_TEST_OS_URL."""

    url: str
    username: str = ""
    password: str = ""


class OpenSearchServer(DistributionServer[OpenSearchNode]):
    """One OpenSearch node in a fresh temporary directory (config, data, logs); plain HTTP, no users.
    ``stop()`` ends it and deletes the directory. Also usable as a context manager."""

    distribution = OPENSEARCH
    cluster_name = CLUSTER_NAME
    env_prefix = "OPENSEARCH"

    def _prepare(self, home: Path, java_home: Path) -> dict[str, str]:
        assert self.run_dir is not None
        self.run_dir.chmod(0o755)
        self._write_config(self._layout(home))
        return self._environment(java_home)

    def _node(self, port: int) -> OpenSearchNode:
        return OpenSearchNode(url=f"http://127.0.0.1:{port}")

    def _health_request(self, node: OpenSearchNode) -> tuple[urllib.request.Request, ssl.SSLContext | None]:
        url = f"{node.url}/_cluster/health?wait_for_status=yellow&timeout=2s"
        return urllib.request.Request(url), None  # noqa: S310 - the http URL this harness built

    def exports(self, node: OpenSearchNode) -> dict[str, str]:
        return {"BREACHKIT_TEST_OS_URL": node.url}


def main(argv: Sequence[str] | None = None) -> int:
    return command_line(OpenSearchServer, "tests.services.opensearch", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
