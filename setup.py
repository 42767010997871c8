"""Build hook: the bundled folders at the repository root (rules/, playbooks/, notices/ — the product's layout)
go into the wheel as package data under breachkit/_bundled/, where `breachkit.resources` finds them.
Everything else is declared in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLES = ("rules", "playbooks", "notices")
ROOT = Path(__file__).resolve().parent


class BuildWithBundles(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads them from the checkout
            return
        target = Path(self.build_lib) / "breachkit" / "_bundled"
        for name in BUNDLES:
            source = ROOT / name
            if not source.is_dir():
                raise SystemExit(f"breachkit build: the bundled folder {source} is missing")
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithBundles})
