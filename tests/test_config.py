"""load_config (file, environment overrides, validation), read_secret and init_workspace."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from breachkit.config import (
    ActionRule,
    Config,
    ConfigError,
    env_overrides,
    load_config,
    read_secret,
)
from breachkit.errors import UsageError
from breachkit.workspace import init_workspace, starter_config_text


def write_config(folder: Path, text: str, name: str = "breachkit.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problem_fields(error: ConfigError) -> list[str | None]:
    return [p.location.field for p in error.problems]


# --- defaults and lookup -------------------------------------------------------------------------------


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(None, environ={}, cwd=tmp_path)
    assert config.source is None
    assert config.workspace.path == Path(".breachkit")
    assert config.workspace.timezone == "UTC"
    assert config.ingest.default_engine == "local"
    assert config.ingest.max_bad_ratio == 0.5
    assert config.ingest.bad_sample_size == 20
    assert config.ingest.batch_size == 20_000
    assert config.ingest.assume_timezone == "UTC"
    assert [a.action for a in config.ingest.actions] == ["login", "logout", "password_reset", "export", "api_call"]
    assert config.ingest.actions[0].methods == ["POST"]
    assert config.ingest.jsonl.mapping == {}
    assert config.ingest.csv.delimiter == ","
    assert config.elasticsearch.hosts == ["https://localhost:9200"]
    assert config.elasticsearch.index == "breachkit-events"
    assert config.elasticsearch.verify_certs is True
    assert config.elasticsearch.username is None
    assert config.model_dump() == Config().model_dump()


def test_file_in_cwd_is_found(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[elasticsearch]\nindex = "from-cwd"\n')
    config = load_config(None, environ={}, cwd=tmp_path)
    assert config.source == path.resolve()
    assert config.elasticsearch.index == "from-cwd"


def test_breachkit_config_env_names_the_file(tmp_path: Path) -> None:
    write_config(tmp_path / "cwd", '[elasticsearch]\nindex = "from-cwd"\n')
    other = write_config(tmp_path / "etc", '[elasticsearch]\nindex = "from-env"\n')
    config = load_config(None, environ={"BREACHKIT_CONFIG": str(other)}, cwd=tmp_path / "cwd")
    assert config.elasticsearch.index == "from-env"
    assert config.source == other.resolve()


def test_explicit_path_wins(tmp_path: Path) -> None:
    write_config(tmp_path, '[elasticsearch]\nindex = "from-cwd"\n')
    explicit = write_config(tmp_path / "x", '[elasticsearch]\nindex = "explicit"\n', name="other.toml")
    env = {"BREACHKIT_CONFIG": str(tmp_path / "breachkit.toml")}
    assert load_config(explicit, environ=env, cwd=tmp_path).elasticsearch.index == "explicit"


def test_missing_explicit_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_config(missing, environ={}, cwd=tmp_path)
    assert info.value.location.path == str(missing)
    assert info.value.hint is not None
    assert "breachkit init" in info.value.hint
    assert info.value.exit_code == 2


# --- environment overrides -----------------------------------------------------------------------------


def test_env_overrides_lists_and_tables_as_toml_scalars_as_strings() -> None:
    environ = {
        "BREACHKIT_ELASTICSEARCH__HOSTS": '["https://es1:9200", "https://es2:9200"]',
        "BREACHKIT_INGEST__MAX_BAD_RATIO": "0.25",
        "BREACHKIT_INGEST__BATCH_SIZE": "1000",
        "BREACHKIT_ELASTICSEARCH__VERIFY_CERTS": "false",
        "BREACHKIT_WORKSPACE__PATH": "/srv/breachkit",
        "BREACHKIT_WORKSPACE__TIMEZONE": "Europe/Berlin",
        "BREACHKIT_INGEST__JSONL__MAPPING": '{ "@timestamp" = "ts", "user.id" = "account" }',
        # not overrides:
        "BREACHKIT_CONFIG": "/etc/breachkit.toml",
        "BREACHKIT_ES_PASSWORD": "secret",
        "BREACHKIT_ES_API_KEY": "key",
        "BREACHKIT_SMTP_PASSWORD": "secret",
        "BREACHKIT_TEST_ES_URL": "http://127.0.0.1:9200",
        "BREACHKIT_VERBOSE": "1",
        "HOME": "/root",
    }
    assert env_overrides(environ) == {
        "elasticsearch": {"hosts": ["https://es1:9200", "https://es2:9200"], "verify_certs": "false"},
        "ingest": {"max_bad_ratio": "0.25", "batch_size": "1000",
                   "jsonl": {"mapping": {"@timestamp": "ts", "user.id": "account"}}},
        "workspace": {"path": "/srv/breachkit", "timezone": "Europe/Berlin"},
    }
    # pydantic converts the scalar strings for typed settings
    del environ["BREACHKIT_CONFIG"]
    config = load_config(None, environ=environ, cwd=Path("/nonexistent"))
    assert (config.elasticsearch.verify_certs, config.ingest.max_bad_ratio, config.ingest.batch_size) == (
        False, 0.25, 1000)


def test_file_plus_env_overrides(tmp_path: Path) -> None:
    path = write_config(tmp_path, """
[workspace]
path = "data"
[ingest]
batch_size = 5000
bad_sample_size = 7
[elasticsearch]
index = "from-file"
hosts = ["https://file:9200"]
""")
    environ = {
        "BREACHKIT_INGEST__BATCH_SIZE": "1000",
        "BREACHKIT_INGEST__MAX_BAD_RATIO": "0.25",
        "BREACHKIT_ELASTICSEARCH__HOSTS": '["https://es1:9200", "https://es2:9200"]',
        "BREACHKIT_ELASTICSEARCH__REQUEST_TIMEOUT": "5",
        "BREACHKIT_WORKSPACE__TIMEZONE": "Europe/Berlin",
        "BREACHKIT_INGEST__ASSUME_TIMEZONE": "America/New_York",
        "BREACHKIT_ES_PASSWORD": "not an override",
    }
    config = load_config(path, environ=environ, cwd=tmp_path)
    assert config.ingest.batch_size == 1000  # env wins over the file
    assert config.ingest.bad_sample_size == 7  # file value kept
    assert config.ingest.max_bad_ratio == 0.25
    assert config.elasticsearch.index == "from-file"
    assert config.elasticsearch.hosts == ["https://es1:9200", "https://es2:9200"]
    assert config.elasticsearch.request_timeout == 5.0
    assert config.workspace.timezone == "Europe/Berlin"
    assert config.ingest.assume_timezone == "America/New_York"
    assert config.workspace_dir == tmp_path.resolve() / "data"


def test_env_override_of_actions_list() -> None:
    environ = {"BREACHKIT_INGEST__ACTIONS": '[{ action = "admin", path = "^/admin/", methods = ["GET"] }]'}
    config = load_config(None, environ=environ, cwd=Path("/nonexistent"))
    assert config.ingest.actions == [ActionRule(action="admin", path="^/admin/", methods=["GET"])]


def test_env_plain_string_path(tmp_path: Path) -> None:
    config = load_config(None, environ={"BREACHKIT_WORKSPACE__PATH": str(tmp_path / "ws")}, cwd=tmp_path)
    assert config.workspace_dir == tmp_path / "ws"


def test_invalid_env_override_is_a_config_error() -> None:
    environ = {"BREACHKIT_INGEST__MAX_BAD_RATIO": "2", "BREACHKIT_INGEST__NOPE": "1"}
    with pytest.raises(ConfigError) as info:
        load_config(None, environ=environ, cwd=Path("/nonexistent"))
    assert sorted(problem_fields(info.value)) == [
        "BREACHKIT_INGEST__MAX_BAD_RATIO (overrides ingest.max_bad_ratio)",
        "BREACHKIT_INGEST__NOPE (overrides ingest.nope)",
    ]


# --- validation ----------------------------------------------------------------------------------------


INVALID = """
[workspace]
timezone = "Mars/Olympus_Mons"
colour = "blue"

[ingest]
max_bad_ratio = -0.1
batch_size = 5
default_engine = "sqlite"

[ingest.csv]
delimiter = ";;"

[[ingest.actions]]
path = "^/x"

[elasticsearch]
index = "Bad Index"

[smtp]
host = "mail"
"""


def test_invalid_file_lists_every_problem_with_its_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, INVALID)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, cwd=tmp_path)
    error = info.value
    assert sorted(problem_fields(error)) == sorted([
        "workspace.timezone",
        "workspace.colour",
        "ingest.max_bad_ratio",
        "ingest.batch_size",
        "ingest.default_engine",
        "ingest.csv.delimiter",
        "ingest.actions.0.action",
        "elasticsearch.index",
        "smtp",
    ])
    assert error.message == "invalid configuration (9 problems)"
    assert all(p.location.path == str(path) for p in error.problems)
    by_field = {p.location.field: p.message for p in error.problems}
    assert "unknown time zone 'Mars/Olympus_Mons'" in by_field["workspace.timezone"]
    assert "greater than or equal to 0" in by_field["ingest.max_bad_ratio"]
    assert "index name" in by_field["elasticsearch.index"]
    assert "exactly one character" in by_field["ingest.csv.delimiter"]
    text = str(error)
    for field in by_field:
        assert f"{path}: {field}: " in text
    assert error.hint is not None
    assert error.exit_code == 2


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('[workspace]\ntimezone = "CEST"\n', "workspace.timezone"),
        ('[ingest]\nassume_timezone = "Europe/Berlinn"\n', "ingest.assume_timezone"),
        ("[ingest]\nmax_bad_ratio = 1.5\n", "ingest.max_bad_ratio"),
        ('[elasticsearch]\nindex = "_private"\n', "elasticsearch.index"),
        ('[elasticsearch]\nindex = "a,b"\n', "elasticsearch.index"),
        ("[elasticsearch]\nrequest_timeout = 0\n", "elasticsearch.request_timeout"),
        ('[elasticsearch]\nhosts = "https://one:9200"\n', "elasticsearch.hosts"),
        ("[elasticsearch]\nbulk_threads = 100\n", "elasticsearch.bulk_threads"),
        ('[ingest]\nactions = [{ action = "x", path = "y", verbs = ["GET"] }]\n', "ingest.actions.0.verbs"),
    ],
)
def test_single_invalid_key(tmp_path: Path, toml: str, field: str) -> None:
    path = write_config(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, cwd=tmp_path)
    assert problem_fields(info.value) == [field]
    assert info.value.message == "invalid configuration (1 problem)"


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[ingest\nmax_bad_ratio = 0.1\n')
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(path, environ={}, cwd=tmp_path)
    assert info.value.location.path == str(path)
    assert str(path) in str(info.value)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "breachkit.toml"
    path.write_bytes(b'[elasticsearch]\nindex = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="cannot read config file") as info:
        load_config(path, environ={}, cwd=tmp_path)
    assert info.value.location.path == str(path)


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('[elasticsearch]\nusername = "bk"\npassword = "hunter2-secret"\n', "elasticsearch.password"),
        ('[elasticsearch]\napi_key = "hunter2-secret"\n', "elasticsearch.api_key"),
        ('token = "hunter2-secret"\n', "token"),
        ('[smtp]\nPassword = "hunter2-secret"\n', "smtp.Password"),
    ],
)
def test_secret_in_file_is_rejected_without_echoing_it(tmp_path: Path, toml: str, field: str) -> None:
    path = write_config(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, cwd=tmp_path)
    secret_problems = [p for p in info.value.problems if "secrets are not read from the config file" in p.message]
    assert [p.location.field for p in secret_problems] == [field]
    assert secret_problems[0].location.path == str(path)
    assert "hunter2-secret" not in str(info.value)
    assert "hunter2-secret" not in (info.value.hint or "")


def test_password_file_key_is_allowed(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[elasticsearch]\nusername = "bk"\npassword_file = "secrets/es"\n')
    config = load_config(path, environ={}, cwd=tmp_path)
    assert config.elasticsearch.password_file == Path("secrets/es")
    assert config.resolve(config.elasticsearch.password_file) == tmp_path.resolve() / "secrets/es"


# --- secrets -------------------------------------------------------------------------------------------


def test_read_secret_from_env(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.write_text("from-file")
    loose.chmod(0o644)
    # The environment wins, even over a file that would be rejected.
    assert read_secret("BREACHKIT_ES_PASSWORD", loose, {"BREACHKIT_ES_PASSWORD": "from-env"}) == "from-env"
    assert read_secret("BREACHKIT_ES_PASSWORD", None, {"BREACHKIT_ES_PASSWORD": "from-env"}) == "from-env"


def test_read_secret_none_when_unset() -> None:
    assert read_secret("BREACHKIT_ES_PASSWORD", None, {}) is None
    assert read_secret("BREACHKIT_ES_PASSWORD", None, {"BREACHKIT_ES_PASSWORD": ""}) is None


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_read_secret_from_private_file(tmp_path: Path, mode: int) -> None:
    secret = tmp_path / "es-password"
    secret.write_text("  s3cr3t\n")
    secret.chmod(mode)
    assert read_secret("BREACHKIT_ES_PASSWORD", secret, {}) == "s3cr3t"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o610])
def test_read_secret_rejects_file_readable_by_others(tmp_path: Path, mode: int) -> None:
    secret = tmp_path / "es-password"
    secret.write_text("s3cr3t\n")
    secret.chmod(mode)
    with pytest.raises(ConfigError, match=f"readable by others \\(mode {mode:04o}\\)") as info:
        read_secret("BREACHKIT_ES_PASSWORD", secret, {})
    assert info.value.hint == f"chmod 600 {secret}"
    assert info.value.location.path == str(secret)
    assert "s3cr3t" not in str(info.value)


def test_read_secret_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match="cannot read secret file") as info:
        read_secret("BREACHKIT_ES_PASSWORD", missing, {})
    assert info.value.location.path == str(missing)


# --- paths ---------------------------------------------------------------------------------------------


def test_relative_workspace_resolved_against_config_folder(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    conf_dir = tmp_path / "etc" / "bk"
    write_config(conf_dir, '[workspace]\npath = "state/ws"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/bk/breachkit.toml"), environ={}, cwd=tmp_path)
    monkeypatch.chdir(elsewhere)  # the process moving on must not change the answer
    assert config.source == (conf_dir / "breachkit.toml").resolve()
    assert config.workspace_dir == conf_dir.resolve() / "state" / "ws"
    assert config.workspace_dir.is_absolute()


def test_absolute_workspace_path_is_kept(tmp_path: Path) -> None:
    path = write_config(tmp_path / "conf", f'[workspace]\npath = "{tmp_path / "abs"}"\n')
    assert load_config(path, environ={}, cwd=tmp_path).workspace_dir == tmp_path / "abs"


# --- init_workspace ------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_workspace_writes_a_starter_config_that_loads_cleanly(tmp_path: Path) -> None:
    project = tmp_path / "project"
    old_umask = os.umask(0o022)
    try:
        target, workspace = init_workspace(project)
    finally:
        os.umask(old_umask)
    assert target == project / "breachkit.toml"
    assert target.read_text(encoding="utf-8") == starter_config_text()
    config = load_config(target, environ={}, cwd=tmp_path)
    # Every key of the starter file is a default.
    assert config.model_dump() == Config().model_dump()
    assert workspace.root == config.workspace_dir == project.resolve() / ".breachkit"
    for folder in (workspace.root, workspace.tmp, workspace.rejects):
        assert folder.is_dir()
        assert _mode(folder) == 0o700


def test_init_workspace_is_0700_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        _, workspace = init_workspace(tmp_path / "p")
    finally:
        os.umask(old_umask)
    assert _mode(workspace.root) == 0o700


def test_init_workspace_tightens_an_existing_workspace(tmp_path: Path) -> None:
    existing = tmp_path / "p" / ".breachkit"
    existing.mkdir(parents=True)
    existing.chmod(0o755)
    _, workspace = init_workspace(tmp_path / "p")
    assert workspace.root == existing.resolve()
    assert _mode(existing) == 0o700


def test_second_init_without_force_raises_usage_error(tmp_path: Path) -> None:
    target, workspace = init_workspace(tmp_path)
    target.write_text('[elasticsearch]\nindex = "mine"\n', encoding="utf-8")
    keep = workspace.root / "events.duckdb"
    keep.write_bytes(b"data")
    with pytest.raises(UsageError, match="already exists") as info:
        init_workspace(tmp_path)
    assert info.value.location.path == str(target)
    assert info.value.hint is not None
    assert "--force" in info.value.hint
    assert info.value.exit_code == 2
    assert target.read_text(encoding="utf-8") == '[elasticsearch]\nindex = "mine"\n'  # untouched
    # With force the config is rewritten and the workspace's contents are left alone.
    target2, workspace2 = init_workspace(tmp_path, force=True)
    assert target2.read_text(encoding="utf-8") == starter_config_text()
    assert workspace2.root == workspace.root.resolve()
    assert keep.read_bytes() == b"data"


def test_init_workspace_ignores_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BREACHKIT_INGEST__MAX_BAD_RATIO", "7")  # invalid, but init reads the file alone
    target, _ = init_workspace(tmp_path)
    assert target.is_file()


# --- known bugs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "attr"),
    [("BREACHKIT_ELASTICSEARCH__USERNAME", "12345", "username"), ("BREACHKIT_ELASTICSEARCH__INDEX", "2024", "index")],
)
def test_numeric_env_value_for_string_key_is_kept_as_string(name: str, value: str, attr: str) -> None:
    config = load_config(None, environ={name: value}, cwd=Path("/nonexistent"))
    assert getattr(config.elasticsearch, attr) == value


def test_invalid_action_regex_is_a_config_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[[ingest.actions]]\naction = "x"\npath = "(unclosed"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, cwd=tmp_path)
    assert problem_fields(info.value) == ["ingest.actions.0.path"]


def test_bad_env_override_names_the_environment_variable(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[ingest]\nbatch_size = 1000\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={"BREACHKIT_INGEST__MAX_BAD_RATIO": "-1"}, cwd=tmp_path)
    assert "BREACHKIT_INGEST__MAX_BAD_RATIO" in str(info.value)
