"""The bundled folders — the rule pack (`rules/`), the playbooks (`playbooks/`) and the notice templates
(`notices/`) — found the same way whether breachkit runs from a checkout or is installed from a wheel.

In the repository they sit at the root (the product's layout). A wheel carries them as package data under
`breachkit/_bundled/<name>` (copied there by the build, see setup.py), found with importlib.resources. A
checkout (or an editable install) has no `_bundled` folder, so the lookup falls back to the repository root.
A missing folder is an error, never an empty pack: a detection run over zero rules would look like "all quiet".
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

from breachkit.errors import ConfigError

Bundle = Literal["rules", "playbooks", "notices"]
BUNDLES: tuple[Bundle, ...] = ("rules", "playbooks", "notices")
_CHECKOUT = Path(__file__).resolve().parent.parent


def bundled(name: Bundle) -> Path:
    """The folder of a bundled resource; ConfigError when the installation lacks it."""
    if name not in BUNDLES:
        raise ValueError(f"unknown bundle {name!r}")
    installed = files("breachkit").joinpath("_bundled", name)
    if installed.is_dir():
        return Path(str(installed))
    checkout = _CHECKOUT / name
    if checkout.is_dir() and (_CHECKOUT / "pyproject.toml").is_file():
        return checkout
    raise ConfigError(f"the bundled {name} folder is missing from this installation",
                      path=str(installed), hint="reinstall breachkit (the wheel ships rules/, playbooks/ and notices/)")
