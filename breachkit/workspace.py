"""The workspace: the folder (mode 0700) holding the embedded event store, the incident store, spools,
rejected-line samples and exports. Everything in it may contain personal data."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from breachkit.errors import UsageError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def events_db(self) -> Path:
        return self.root / "events.duckdb"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def rejects(self) -> Path:
        return self.root / "rejects"

    def ensure(self) -> Workspace:
        """Create the workspace folders (0700) if needed; tighten an existing root's permissions."""
        try:
            for folder in (self.root, self.tmp, self.rejects):
                folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
                folder.chmod(PRIVATE_DIR)
        except OSError as exc:
            raise UsageError(f"cannot create the workspace: {exc.strerror}", path=self.root) from None
        return self


def write_private_bytes(path: Path, data: bytes) -> None:
    """Write `data` atomically to `path` with mode 0600: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(name).chmod(PRIVATE_FILE)
        Path(name).replace(path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def write_private_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) atomically to `path` with mode 0600."""
    write_private_bytes(path, text.encode("utf-8"))


STARTER_CONFIG = "starter.toml"


def starter_config_text() -> str:
    from importlib.resources import files

    return files("breachkit").joinpath(STARTER_CONFIG).read_text(encoding="utf-8")


def init_workspace(directory: Path, *, force: bool = False) -> tuple[Path, Workspace]:
    """Write a commented `breachkit.toml` into `directory` and create its workspace (0700).

    An existing config is left alone unless `force`; the workspace's contents are never touched.
    """
    from breachkit.config import CONFIG_FILENAME, load_config

    directory.mkdir(parents=True, exist_ok=True)
    target = directory / CONFIG_FILENAME
    if target.exists() and not force:
        raise UsageError("a config file already exists", path=target, hint="use --force to overwrite it")
    text = starter_config_text()
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    config = load_config(target, environ={})
    return target, Workspace(config.workspace_dir).ensure()
