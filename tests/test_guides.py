"""The guides in docs/guides/ cannot rot: every `sh` block in them runs, in order, against a demo workspace.

A block's lines are commands (a trailing backslash continues one); a comment line right after a command says
what must hold:

    # → text        the output (stdout and stderr) contains `text`
    # exit: N       the command exits with N (default 0)

Commands start with `breachkit` (run in-process through click, in the demo folder), `python -m breachkit` (a
real process), one of a few shell built-ins (`cd DIR`, `export NAME=value`) or a few plain tools (`sha256sum`,
`zcat`, `gzip`, `head`, `cat`, `printf`, `ls`, `chmod`, `mkdir`, `cp`) run as processes. A command may read
`< FILE`, write `> FILE` and be piped into the next with `|` (space-separated); the exit code of a pipeline is
its last non-zero one (as with `set -o pipefail`). Blocks marked ```sh no-run``` are shown but not run
(systemd units, package installs).

A fenced block of any language whose info string names `file=PATH` (```yaml file=rules/local/x.yml```) is
written to PATH, relative to the current folder, when the guide reaches it: the rules, pipelines and cases the
guides ask the reader to write are real files, used by the commands after them.

Each guide runs in its own copy of one `breachkit demo` workspace (the demo is built once per session), with
an SMTP server of its own (tests/services/smtp.py) configured through `BREACHKIT_NOTICES__SMTP__*` variables,
so guides that send notices or alerts deliver them for real. The demo's incident lies in the past: expectations
must hold on any later day (write "OVERDUE by", not "OVERDUE by 3 d")."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from breachkit.cli import cli
from tests.services.smtp import start_server

GUIDES = Path(__file__).resolve().parents[1] / "docs" / "guides"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
TOOLS = {"sha256sum", "zcat", "gzip", "head", "cat", "printf", "ls", "chmod", "mkdir", "cp"}
OPERATORS = {"|", "<", ">"}


@dataclass
class Step:
    guide: str
    line: int
    text: str
    expect: list[str] = field(default_factory=list)
    exit_code: int = 0

    @property
    def where(self) -> str:
        return f"{self.guide}:{self.line}: {self.text}"


@dataclass
class FileBlock:
    guide: str
    line: int
    path: str
    content: str


def items(path: Path) -> list[Step | FileBlock]:
    """The commands and files of one guide, in the order they appear."""
    text = path.read_text(encoding="utf-8")
    out: list[Step | FileBlock] = []
    for block in FENCE.finditer(text):
        info, body = block.group(1).split(), block.group(2)
        first = text[: block.start(2)].count("\n") + 1
        target = next((word.removeprefix("file=") for word in info if word.startswith("file=")), None)
        if target is not None:
            out.append(FileBlock(path.name, first, target, body))
            continue
        if not info or info[0] != "sh" or "no-run" in info:
            continue
        out.extend(_steps(path.name, first, body))
    return out


def _steps(guide: str, first: int, body: str) -> Iterator[Step]:
    pending, start, last = "", 0, None
    for offset, raw in enumerate(body.splitlines()):
        line = raw.strip()
        if pending:
            line, pending = pending + " " + line, ""
        else:
            start = first + offset
        if line.endswith("\\"):
            pending = line[:-1].strip()
            continue
        if not line:
            continue
        if line.startswith("# →"):
            assert last is not None, f"{guide}:{first + offset}: a check before any command"
            last.expect.append(line.removeprefix("# →").strip())
        elif line.startswith("# exit:"):
            assert last is not None, f"{guide}:{first + offset}: an exit code before any command"
            last.exit_code = int(line.removeprefix("# exit:").strip())
        elif not line.startswith("#"):
            if last is not None:
                yield last
            last = Step(guide, start, line)
    if last is not None:
        yield last


def steps(path: Path) -> list[Step]:
    return [item for item in items(path) if isinstance(item, Step)]


def guides() -> list[Path]:
    return sorted(GUIDES.glob("*.md"))


def split_pipeline(text: str) -> list[tuple[list[str], str | None, str | None]]:
    """`a x | b y > f` → [(argv, stdin file, stdout file), …]; operators must stand alone between spaces."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars="|<>")
    lexer.whitespace_split = True
    parts: list[tuple[list[str], str | None, str | None]] = []
    argv: list[str] = []
    stdin = stdout = None
    tokens = list(lexer)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "|":
            parts.append((argv, stdin, stdout))
            argv, stdin, stdout = [], None, None
        elif token in ("<", ">"):
            i += 1
            if token == "<":
                stdin = tokens[i]
            else:
                stdout = tokens[i]
        else:
            argv.append(token)
        i += 1
    parts.append((argv, stdin, stdout))
    return parts


@dataclass
class Shell:
    """Just enough of a shell for the guides: one folder, one environment, breachkit in-process."""

    cwd: Path
    env: dict[str, str]

    def run(self, step: Step) -> tuple[int, str]:
        data: bytes = b""
        status, shown = 0, []
        for argv, stdin, stdout in split_pipeline(step.text):
            assert argv, f"{step.where}: an empty command"
            if stdin is not None:
                data = (self.cwd / stdin).read_bytes()
            code, out, err = self._one(step, argv, data)
            shown.append(err)
            if stdout is not None:
                (self.cwd / stdout).write_bytes(out)
                out = b""
            data = out
            status = code or status
        shown.append(data.decode("utf-8", "replace"))
        return status, "".join(shown)

    def _one(self, step: Step, argv: list[str], data: bytes) -> tuple[int, bytes, str]:
        if argv[0] == "cd":
            self.cwd = (self.cwd / argv[1]).resolve()
            return 0, b"", ""
        if argv[0] == "export":
            name, _, value = argv[1].partition("=")
            self.env[name] = value
            return 0, b"", ""
        if argv[0] == "breachkit":
            old = Path.cwd()
            os.chdir(self.cwd)
            try:
                result = CliRunner().invoke(cli, argv[1:], env=self.env, input=data)
            finally:
                os.chdir(old)
            err = result.stderr if result.stderr_bytes is not None else ""
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                err += f"\n(exception: {result.exception!r})"
            return result.exit_code, result.stdout_bytes, err
        if argv[:3] == ["python", "-m", "breachkit"]:
            argv = [sys.executable, *argv[1:]]
        else:
            assert argv[0] in TOOLS, (f"{step.where}: only breachkit, python -m breachkit, cd, export and "
                                      f"{', '.join(sorted(TOOLS))} are run here")
        done = subprocess.run(argv, cwd=self.cwd, input=data, capture_output=True, timeout=300,
                              env={**os.environ, **self.env})
        return done.returncode, done.stdout, done.stderr.decode("utf-8", "replace")


def test_there_is_a_guide_per_role():
    names = {p.stem for p in guides()}
    assert {"security-engineer", "dpo", "incident-commander", "operator"} <= names
    assert all(steps(p) for p in guides()), "every guide shows commands that are run here"


def test_the_pipeline_splitter_keeps_quoted_operators():
    assert split_pipeline("breachkit note X 'a | b > c' > out.txt") == [
        (["breachkit", "note", "X", "a | b > c"], None, "out.txt")]
    assert split_pipeline("zcat a.gz | head -3 | breachkit ingest - < x") == [
        (["zcat", "a.gz"], None, None), (["head", "-3"], None, None), (["breachkit", "ingest", "-"], "x", None)]


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("guides")
    old = Path.cwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(cli, ["demo", "demo"], env={"COLUMNS": "100"})
        assert result.exit_code == 0, result.output
    finally:
        os.chdir(old)
    return root / "demo"


@pytest.mark.parametrize("guide", guides(), ids=lambda p: p.stem)
def test_every_command_in_the_guide_runs(guide: Path, demo_folder: Path, tmp_path: Path) -> None:
    # each guide starts from its own copy of the demo, so guides do not depend on one another
    work = tmp_path / "demo"
    shutil.copytree(demo_folder, work, symlinks=True)
    smtp = start_server()
    try:
        shell = Shell(work, {
            "COLUMNS": "100", "BREACHKIT_ACTOR": "guide@heimwatt.example",
            "BREACHKIT_NOTICES__SMTP__HOST": smtp.host, "BREACHKIT_NOTICES__SMTP__PORT": str(smtp.port),
            "BREACHKIT_NOTICES__SMTP__SECURITY": "none",
        })
        for item in items(guide):
            if isinstance(item, FileBlock):
                target = shell.cwd / item.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(item.content, encoding="utf-8")
                continue
            code, output = shell.run(item)
            assert code == item.exit_code, f"{item.where}\nexit {code}, expected {item.exit_code}:\n{output}"
            for text in item.expect:
                assert text in output, f"{item.where}\nexpected {text!r} in:\n{output}"
    finally:
        smtp.stop()
