"""breachkit as a user installs it: the wheel and sdist are built, the wheel is installed into a fresh virtualenv
outside the checkout, and the installed tool runs the demo and the bundled rule pack's tests from its own
package data (rules/, playbooks/ and notices/ travel in the wheel)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run(argv: list[str], cwd: Path, timeout: float = 900,
        extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "80", "LANG": "C.UTF-8",
                                 **(extra or {})})
    assert result.returncode == 0, f"{argv}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", str(out), str(REPO)],
                   check=True, capture_output=True, timeout=900)
    return out


def test_the_wheel_and_sdist_carry_the_bundled_folders(dist):
    wheel = next(dist.glob("breachkit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for bundle in ("rules", "playbooks", "notices"):
        shipped = [n for n in names if n.startswith(f"breachkit/_bundled/{bundle}/")]
        in_repo = [p for p in (REPO / bundle).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert len(shipped) == len(in_repo), bundle
    sdist = next(dist.glob("breachkit-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert all(any(f"/{bundle}/" in m for m in members) for bundle in ("rules", "playbooks", "notices"))


def test_the_installed_wheel_runs_the_demo_and_its_rule_tests_outside_the_checkout(dist, tmp_path):
    """In a clean venv with nothing but the wheel and the dependencies it declares (installed by uv, which
    resolves the wheel's metadata as pip does, in a tenth of the time), outside the checkout."""
    wheel = next(dist.glob("breachkit-*.whl"))
    venv = tmp_path / "venv"
    uv = [str(Path(sys.executable).parent / "uv")]
    # the platform's certificate store, as pip's configuration here (a registry behind a TLS-inspecting proxy)
    with_cache = {"UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_SYSTEM_CERTS": "1"}
    run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], tmp_path, extra=with_cache)
    run([*uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel)], tmp_path,
        extra=with_cache)
    breachkit = str(venv / "bin" / "breachkit")
    demo = run([breachkit, "demo", "demo"], tmp_path)
    assert "3. Incident BK-2026-0001" in demo.stdout and "check passed" in demo.stdout
    assert f"{venv}/bin/breachkit incident show BK-2026-0001" in demo.stdout  # pasteable: the installed tool
    tested = run([breachkit, "rules", "test"], tmp_path)
    assert " 0 failed" in tested.stdout
    shown = run([str(venv / "bin" / "python"), "-m", "breachkit", "incident", "show", "BK-2026-0001"],
                tmp_path / "demo")
    assert "BK-2026-0001" in shown.stdout
    imported = run([str(venv / "bin" / "python"), "-c",
                    "import breachkit.resources as r; print(r.bundled('rules'))"], tmp_path)
    assert "site-packages/breachkit/_bundled/rules" in imported.stdout
