"""`breachkit users …` with click's CliRunner over a real SQLite store: passwords come from a prompt or stdin, never
an argument; they are stored only as Argon2id hashes; every change is audited; the board's sign-in honours them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from breachkit.cli import cli
from breachkit.config import load_config
from breachkit.incidents import users_api
from breachkit.session import Session
from tests.board_world import cheap_hashing


@pytest.fixture
def users(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BREACHKIT_ACTOR", "admin@example.org")
    cheap_hashing(monkeypatch)
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "."]).exit_code == 0

    def run(*args: str, stdin: str | None = None, code: int = 0):
        result = runner.invoke(cli, ["users", *args], input=stdin)
        assert result.exit_code == code, result.output
        return result

    return run


def session(tmp_path) -> Session:
    return Session(load_config(tmp_path / "breachkit.toml", environ={}), actor="test")


def test_add_list_disable_enable_passwd_unlock_role(users, tmp_path):
    users("add", "dpo@example.org", "--role", "dpo", stdin="a long enough secret\n")
    users("add", "ic@example.org", "--role", "commander", "--password-stdin", stdin="another long secret\n")
    listed = json.loads(users("list", "-o", "json").output)
    assert [(u["name"], u["role"], u["state"]) for u in listed] == [("dpo@example.org", "dpo", "active"),
                                                                     ("ic@example.org", "commander", "active")]
    with session(tmp_path) as s:
        stored = s.store.users.get("dpo@example.org")
        assert stored is not None and stored.password_hash.startswith("$argon2id$")
        assert "a long enough secret" not in stored.password_hash
        assert users_api.sign_in(s, "dpo@example.org", "a long enough secret").ok
    users("disable", "dpo@example.org")
    assert "disabled" in users("list").output
    with session(tmp_path) as s:
        assert not users_api.sign_in(s, "dpo@example.org", "a long enough secret").ok
    users("enable", "dpo@example.org")
    users("passwd", "dpo@example.org", stdin="a brand new secret!\n")
    users("role", "dpo@example.org", "security")
    with session(tmp_path) as s:
        assert not users_api.sign_in(s, "dpo@example.org", "a long enough secret").ok
        signed = users_api.sign_in(s, "dpo@example.org", "a brand new secret!")
        assert signed.ok and signed.user is not None and signed.user.role == "security"
        for _ in range(5):
            users_api.sign_in(s, "ic@example.org", "wrong wrong wrong")
        assert s.store.users.get("ic@example.org").locked(s.now())  # type: ignore[union-attr]
    assert "locked until" in users("list").output
    users("unlock", "ic@example.org")
    with session(tmp_path) as s:
        assert users_api.sign_in(s, "ic@example.org", "another long secret").ok
        audit = [(a["action"], a["target"], a["actor"], a["reason"]) for a in s.store.audit_log()]
    assert ("user", "dpo@example.org", "admin@example.org", "user added") in audit
    assert ("user", "dpo@example.org", "admin@example.org", "password changed") in audit
    assert ("user", "ic@example.org", "admin@example.org", "unlocked") in audit
    assert not any("secret" in json.dumps(a) for a in audit)


def test_a_password_is_never_an_argument_and_must_be_long_enough(users):
    help_text = users("add", "--help").output
    assert "--password " not in help_text and "--password-stdin" in help_text
    users("add", "x@example.org", "--role", "viewer", "hunter2hunter", stdin="\n", code=2)  # no such argument
    result = users("add", "x@example.org", "--role", "viewer", stdin="short\n", code=2)
    assert "at least 12 characters" in result.output
    users("add", "x y@example.org", "--role", "viewer", stdin="long enough secret\n", code=2)
    users("add", "x@example.org", "--role", "root", stdin="long enough secret\n", code=2)
    users("add", "x@example.org", "--role", "viewer", stdin="long enough secret\n")
    assert "exists already" in users("add", "x@example.org", "--role", "dpo", stdin="long enough secret\n",
                                     code=5).output
    users("disable", "nobody@example.org", code=2)


def test_default_argon2_parameters_hash_and_verify(tmp_path, monkeypatch):
    """The library's own (slow) parameters, once: what a real server uses."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "breachkit.toml").write_text("", encoding="utf-8")
    with session(tmp_path) as s:
        user = users_api.add_user(s, "real@example.org", "viewer", "a real long passphrase")
        assert user.password_hash.startswith("$argon2id$v=19$m=65536")
        assert users_api.sign_in(s, "real@example.org", "a real long passphrase").ok
        assert not users_api.sign_in(s, "nobody@example.org", "a real long passphrase").ok
