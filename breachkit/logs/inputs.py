"""Which inputs an `ingest` call names, and opening one of them for reading (twice, if need be).

Arguments. A file is an input (a missing or unreadable one is a failed input, reported with the others;
it never stops them). `-` is standard input. A folder stands for the regular files directly inside it,
in name order; its subfolders are failed inputs ("not read without --recursive") unless `recursive`,
which descends into them (depth first, in name order). Never silently skipped, always listed in the
notes: hidden entries (names starting with "."), and entries that are neither files nor folders
(sockets, devices). Symbolic links to folders found inside a folder are not followed (a listed failure;
pass the folder itself), so a loop cannot happen; links to files are read, and a link named as an
argument is followed.

Reading. A regular file is read in place; its modification time is the reference for syslog years.
Standard input, and any input that is not a regular file (a pipe such as `<(zcat …)`), is first copied
to a 0600 spool file in the workspace (so it can be read twice, and in bounded memory), removed
afterwards; its reference time is "now", and the summary says so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from breachkit.errors import InputError
from breachkit.logs.reader import STDIN, source_name
from breachkit.wording import counted
from breachkit.workspace import Workspace


@dataclass(frozen=True)
class Expansion:
    paths: tuple[str, ...]
    failures: tuple[InputError, ...]
    notes: tuple[str, ...]


def expand_inputs(arguments: Iterable[str], *, recursive: bool = False) -> Expansion:
    paths: list[str] = []
    failures: list[InputError] = []
    notes: list[str] = []
    for argument in arguments:
        if argument != STDIN and Path(argument).is_dir():  # a link named as an argument is followed
            before = len(paths)
            _walk(Path(argument), recursive, paths, failures, notes)
            if len(paths) == before:
                notes.append(f"{argument}: no files to read in this folder")
        else:
            paths.append(argument)  # a missing or unreadable file fails when it is opened
    names = Counter(source_name(p) for p in paths if p != STDIN)
    for name, count in sorted(names.items()):
        if count > 1:
            notes.append(f"{count} inputs share the source name {name!r} (log.file.path): their events are one "
                         "source for `logs forget` and `--replace`")
    return Expansion(tuple(paths), tuple(failures), tuple(notes))


def _walk(folder: Path, recursive: bool, paths: list[str], failures: list[InputError], notes: list[str]) -> None:
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        failures.append(InputError(f"cannot list the folder: {exc.strerror}", path=folder))
        return
    hidden: list[str] = []
    for entry in entries:
        if entry.name.startswith("."):
            hidden.append(entry.name)
        elif entry.is_symlink() and entry.is_dir():
            failures.append(InputError("a symbolic link to a folder: not followed", path=entry,
                                       hint="pass the folder it points to as an argument"))
        elif entry.is_dir():
            if recursive:
                _walk(entry, recursive, paths, failures, notes)
            else:
                failures.append(InputError(f"a folder inside {folder}: not read without --recursive", path=entry,
                                           hint="pass --recursive (-r) to read subfolders, or name it"))
        elif entry.is_file():
            paths.append(str(entry))
        else:
            notes.append(f"{entry}: skipped, not a regular file")
    if hidden:
        shown = ", ".join(hidden[:5]) + (", …" if len(hidden) > 5 else "")
        notes.append(f"{folder}: skipped {counted(len(hidden), 'hidden entry', 'hidden entries')} ({shown})")


@dataclass(frozen=True)
class OpenedInput:
    path: str  # a regular file to read (the spool for stdin and pipes)
    modified: datetime | None  # the file's modification time; None when there is none (stdin, pipes)
    size: int


@contextlib.contextmanager
def open_input(path: str, workspace: Workspace, stdin: BinaryIO | None = None) -> Iterator[OpenedInput]:
    """The input `path` as a regular file that can be read (twice); raises InputError when it cannot."""
    if path == STDIN:
        with _spooled(stdin if stdin is not None else sys.stdin.buffer, workspace, path) as spooled:
            yield spooled
        return
    try:
        info = Path(path).stat()
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", path=path) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError("is a directory, not a log file", path=path)
    if stat.S_ISREG(info.st_mode):
        yield OpenedInput(path, datetime.fromtimestamp(info.st_mtime, UTC), info.st_size)
        return
    with _opened(path) as handle, _spooled(handle, workspace, path) as spooled:
        yield spooled


@contextlib.contextmanager
def _opened(path: str) -> Iterator[BinaryIO]:
    try:
        handle = Path(path).open("rb")  # noqa: SIM115 - closed below; open errors become InputError
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", path=path) from None
    with handle:
        yield handle


@contextlib.contextmanager
def _spooled(source: BinaryIO, workspace: Workspace, path: str) -> Iterator[OpenedInput]:
    fd, name = tempfile.mkstemp(dir=workspace.tmp, suffix=".input")  # 0600: the input may hold personal data
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                shutil.copyfileobj(source, out, 1 << 20)
            except OSError as exc:
                raise InputError(f"read failed: {exc.strerror or exc}", path=path) from None
        yield OpenedInput(name, None, Path(name).stat().st_size)
    finally:
        Path(name).unlink(missing_ok=True)
