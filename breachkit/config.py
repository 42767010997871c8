"""Configuration: `breachkit.toml` + `BREACHKIT_*` environment overrides, validated by pydantic.

Lookup: an explicit path (``--config`` / ``BREACHKIT_CONFIG``), else ``breachkit.toml`` in the current
directory, else built-in defaults (the workspace is then ``./.breachkit``).

Environment overrides use a double underscore between nesting levels, e.g.
``BREACHKIT_ELASTICSEARCH__HOSTS='["https://es1:9200"]'`` or ``BREACHKIT_WORKSPACE__PATH=/srv/bk``;
values are parsed as TOML values when they parse, otherwise taken as plain strings.

Secrets never come from the file or the command line: only from the environment
(``BREACHKIT_ES_PASSWORD``, ``BREACHKIT_ES_API_KEY``, ``BREACHKIT_OS_PASSWORD``,
``BREACHKIT_SMTP_PASSWORD``) or from a file
named in the config (``password_file``) that only its owner can read (mode 0600 or stricter).
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from breachkit.errors import ConfigError, Location, Problem
from breachkit.wording import counted

CONFIG_FILENAME = "breachkit.toml"
ENV_PREFIX = "BREACHKIT_"
# Environment variables that are not overrides of config keys.
_NON_OVERRIDE_ENV = frozenset({"CONFIG", "ES_PASSWORD", "ES_API_KEY", "OS_PASSWORD", "SMTP_PASSWORD", "DB_PASSWORD"})
# Keys that look like secrets and must not be written into the file.
_SECRET_KEYS = frozenset({"password", "api_key", "apikey", "secret", "token"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'Europe/Berlin')") from exc
    return value


class WorkspaceConfig(_Model):
    path: Path = Path(".breachkit")
    timezone: str = "UTC"

    _zone = field_validator("timezone")(_check_zone)


class JsonlConfig(_Model):
    # ECS field name -> dotted path in the JSON object ("ts", "client.addr"…). Unmapped ECS names are
    # looked up under their own name, flat ("source.ip") or nested ({"source": {"ip": …}}).
    mapping: dict[str, str] = Field(default_factory=dict)
    # strptime format for the timestamp when it is not ISO 8601 / epoch seconds or milliseconds.
    timestamp_format: str | None = None


class CsvConfig(_Model):
    mapping: dict[str, str] = Field(default_factory=dict)  # ECS field name -> CSV column header
    delimiter: str = ","
    timestamp_format: str | None = None

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError("must be exactly one character")
        return value


class ActionRule(_Model):
    """Derives `event.action` for web log lines: the first rule whose method and path pattern match wins."""

    action: str
    path: str  # regular expression searched in url.path
    methods: list[str] = Field(default_factory=list)  # empty: any method

    @field_validator("path")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class TargetRule(_Model):
    """Derives `user.target.id` (whose data a request touched) for web log lines: a path pattern with a named
    group `target`, or a query parameter. The first rule that yields a value wins; the actor's own id is not
    a target."""

    path: str | None = None  # regular expression searched in url.path, with (?P<target>…)
    query: str | None = None  # a query parameter name, e.g. "customer"

    @model_validator(mode="after")
    def _one(self) -> TargetRule:
        if (self.path is None) == (self.query is None):
            raise ValueError("give either path (a regular expression with a group named target) or query")
        if self.path is not None:
            try:
                compiled = re.compile(self.path)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
            if "target" not in compiled.groupindex:
                raise ValueError("the path pattern needs a group named target: (?P<target>…)")
        return self


def _default_targets() -> list[TargetRule]:
    return [
        TargetRule(path=r"(?i)/(?:users|customers|accounts|members)/(?P<target>[^/]+)"),
        TargetRule(query="customer"),
        TargetRule(query="user_id"),
        TargetRule(query="account"),
    ]


def _default_actions() -> list[ActionRule]:
    return [
        ActionRule(action="login", path=r"(?i)/(log-?in|sign-?in|auth/login|session/new)\b", methods=["POST"]),
        ActionRule(action="logout", path=r"(?i)/(log-?out|sign-?out)\b"),
        ActionRule(action="password_reset", path=r"(?i)/password/(reset|forgot)"),
        ActionRule(action="export", path=r"(?i)/export\b"),
        ActionRule(action="api_call", path=r"^/api/"),
    ]


class IngestConfig(_Model):
    default_engine: Literal["local", "elasticsearch", "opensearch"] = "local"
    # A file whose share of unparseable lines exceeds this is rejected whole (wrong format, binary data).
    max_bad_ratio: float = Field(0.5, ge=0.0, le=1.0)
    bad_sample_size: int = Field(20, ge=0, le=10_000)
    batch_size: int = Field(20_000, ge=100, le=1_000_000)
    # Processes parsing access logs and JSON lines in parallel (1: parse in the main process). The bulk parser
    # (columnar) keeps one for the main process, which feeds the store: it starts workers from 3 on; with 2 it
    # parses two blocks at once on two threads of the main process.
    workers: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1, le=64)
    # Access logs and JSON lines are parsed in bulk (logs/columnar: same events); false: line by line.
    columnar: bool = True
    # Zone for log formats that carry no offset (syslog auth.log).
    assume_timezone: str = "UTC"
    actions: list[ActionRule] = Field(default_factory=_default_actions)
    targets: list[TargetRule] = Field(default_factory=_default_targets)
    jsonl: JsonlConfig = Field(default_factory=JsonlConfig)
    csv: CsvConfig = Field(default_factory=CsvConfig)

    _zone = field_validator("assume_timezone")(_check_zone)


def _default_datasets() -> dict[str, list[str]]:
    # Filebeat / Elastic Agent `event.dataset` values → breachkit's datasets
    return {"web": ["web", "apache.access", "nginx.access"], "access": ["access"], "auth": ["auth", "system.auth"],
            "api": ["api"]}


class SourceIndicesConfig(_Model):
    """How existing (read-only) indices, e.g. Filebeat's ECS indices, are read by detection."""

    # breachkit field -> field in the index, for names that differ (default: the same ECS name)
    field_map: dict[str, str] = Field(default_factory=dict)
    # values that stand for "not logged" (Filebeat keeps the "-" of access logs in user.name, referrer…)
    null_values: list[str] = Field(default_factory=lambda: ["-"])
    # breachkit dataset -> event.dataset values in the index
    datasets: dict[str, list[str]] = Field(default_factory=_default_datasets)


class _SearchConfig(_Model):
    hosts: list[str] = Field(default_factory=lambda: ["https://localhost:9200"])
    index: str = "breachkit-events"
    username: str | None = None  # password from the environment (see each engine) or password_file
    password_file: Path | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    request_timeout: float = Field(60.0, gt=0)
    bulk_chunk_size: int = Field(2_000, ge=1, le=100_000)
    bulk_threads: int = Field(2, ge=1, le=32)
    # Map the fields Sigma searches with leading wildcards to the `wildcard` type where the cluster has it.
    wildcard_fields: bool = True
    # Existing indices (patterns) that detection, stats and subjects read instead of `index`; never written.
    indices: list[str] = Field(default_factory=list)
    source: SourceIndicesConfig = Field(default_factory=SourceIndicesConfig)

    @field_validator("index")
    @classmethod
    def _index_name(cls, value: str) -> str:
        if not value or value != value.lower() or any(c in value for c in ' "*\\<|,>/?#:') or value[0] in "-_+":
            raise ValueError("must be a lowercase index name without spaces or \\/*?\"<>|,#:")
        return value

    @field_validator("indices")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern or any(c in pattern for c in ' "\\<|,>/?#') or pattern.startswith("-"):
                raise ValueError(f"{pattern!r} is not an index name or pattern")
        return value


class ElasticsearchConfig(_SearchConfig):
    # password from BREACHKIT_ES_PASSWORD or password_file; API key from BREACHKIT_ES_API_KEY or api_key_file
    api_key_file: Path | None = None


class OpenSearchConfig(_SearchConfig):
    # password from BREACHKIT_OS_PASSWORD or password_file
    hosts: list[str] = Field(default_factory=lambda: ["https://localhost:9200"])


class LogsourceMapping(_Model):
    """Which `event.dataset` values a Sigma logsource covers (breachkit.detect.logsources): an entry matches a
    rule whose logsource has every key given here (keys left out match anything)."""

    product: str | None = None
    category: str | None = None
    service: str | None = None
    # event.dataset values; ["*"]: every dataset; []: none (rules with this logsource are skipped)
    datasets: list[str]

    @model_validator(mode="after")
    def _some_key(self) -> LogsourceMapping:
        if self.product is None and self.category is None and self.service is None:
            raise ValueError("give at least one of product, category, service")
        if any(not d.strip() for d in self.datasets):
            raise ValueError("datasets must be non-empty names (or \"*\" for every dataset)")
        return self


class DetectConfig(_Model):
    # Rule files or folders in addition to the bundled pack (e.g. a SigmaHQ checkout's rules/web).
    rules: list[Path] = Field(default_factory=list)
    bundled: bool = True  # load the rule pack shipped with breachkit
    # pySigma processing-pipeline YAML files, applied with breachkit's taxonomy mapping (priority 20) in
    # the order of their `priority` (lowest first), as pySigma does.
    pipelines: list[Path] = Field(default_factory=list)
    # Unknown fields are errors (not just warnings that make the condition false).
    strict_fields: bool = False
    # Logsource → datasets, looked up before the built-in defaults (first match wins).
    logsources: list[LogsourceMapping] = Field(default_factory=list)


class StoreConfig(_Model):
    # SQLAlchemy URL of the incident store. Default: SQLite file `incidents.db` in the workspace.
    # PostgreSQL: "postgresql+psycopg://user@host/dbname" (password from BREACHKIT_DB_PASSWORD).
    url: str | None = None


class CategoryRule(_Model):
    """Which data category an access exposes: the first rules whose action and/or path match all apply."""

    category: str  # a key of breachkit.incidents.model.DATA_CATEGORIES
    action: str | None = None  # regular expression searched in event.action
    path: str | None = None  # regular expression searched in url.path
    # Whose data the response holds: "target" — the account named in user.target.id, else the requester's own
    # (a profile page); "others" — people other than the requester (a list of customers, another person's record):
    # the target when one is named, never the requester.
    belongs_to: Literal["target", "others"] = "target"


class DirectoryConfig(_Model):
    """The user directory: a file (CSV, Parquet, JSON lines), a SQL table (SQLAlchemy URL) or an Elasticsearch or
    OpenSearch index (read with the [elasticsearch] / [opensearch] connection settings)."""

    source: str | None = None  # path, "sqlite:///…"/"postgresql+psycopg://…", "elasticsearch" or "opensearch"
    format: Literal["auto", "csv", "parquet", "jsonl", "sql", "elasticsearch", "opensearch"] = "auto"
    table: str | None = None  # SQL table, with format = "sql"
    index: str | None = None  # the index, with source or format "elasticsearch" / "opensearch"
    key: str = "user_id"  # the directory column matching user.id / user.target.id
    # subject-table column -> directory column, for names that differ (e.g. email = "mail")
    mapping: dict[str, str] = Field(default_factory=dict)
    # optional device registry (device id / IMEI -> owner user id): a file, "URL#table", "elasticsearch:INDEX" or
    # "opensearch:INDEX"
    devices: str | None = None


class SubjectsConfig(_Model):
    directory: DirectoryConfig = Field(default_factory=DirectoryConfig)
    # None: the built-in mapping (breachkit.subjects.categories.DEFAULT_RULES)
    categories: list[CategoryRule] | None = None


class SmtpConfig(_Model):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    ca_certs: Path | None = None  # CA bundle for the server's certificate (default: the system's)
    verify_certs: bool = True
    username: str | None = None  # password from BREACHKIT_SMTP_PASSWORD or password_file
    password_file: Path | None = None
    # The From address of every email breachkit sends: required to send (no default, so nothing ever goes out
    # from an example address). Use an address of the controller's own domain (`notices.controller_domain`).
    sender: str | None = None
    sender_name: str = ""
    timeout: float = Field(30.0, gt=0)
    rate_per_second: float = Field(10.0, gt=0)  # messages per second at most
    max_attempts: int = Field(5, ge=1, le=50)  # for temporary (4xx) failures
    backoff_seconds: float = Field(2.0, ge=0)  # first retry delay, doubled each attempt

    def require_sender(self) -> str:
        """The configured sender address; a ConfigError naming the key when there is none."""
        sender = (self.sender or "").strip()
        if not sender or "@" not in sender:
            raise ConfigError("no sender address configured: breachkit does not send email without one",
                              field="notices.smtp.sender",
                              hint="set notices.smtp.sender in breachkit.toml (an address of your own domain, e.g. "
                                   "privacy@<your domain>), or BREACHKIT_NOTICES__SMTP__SENDER")
        return sender


class NoticesConfig(_Model):
    templates: Path | None = None  # a folder overriding notices/ (same layout); default: <workspace>/notices
    default_locale: str = "en"
    # The organisation and its DPO, as the authority report and subject emails present them.
    controller_name: str = "Example Energy GmbH"
    controller_address: str = ""
    dpo_name: str = "Data Protection Officer"
    dpo_email: str = "dpo@example.org"
    dpo_phone: str = ""
    dpo_address: str = ""  # postal address of the DPO or contact point (authority forms ask for it)
    reporter_name: str = ""
    reporter_email: str = ""
    # The authority report's language: this one for every report, else the lead authority's language (the
    # built-in table in breachkit.notices.authority_words, with `authority_languages` — authority name or its
    # first word → language — over it), else English.
    authority_locale: str | None = None
    authority_languages: dict[str, str] = Field(default_factory=dict)
    # The controller's email domain: a sender address outside it is warned about (an email from a stranger's
    # domain looks like the phishing a breach notice warns of). Default: the domain of `dpo_email`.
    controller_domain: str | None = None
    # Four eyes: `notices send` refuses when the person sending approved the notices themselves.
    require_second_person: bool = False
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)

    @property
    def domain(self) -> tuple[str | None, str]:
        """The controller's domain and where it comes from (for messages)."""
        if self.controller_domain:
            return self.controller_domain.strip().lower().lstrip("@"), "notices.controller_domain"
        _, at, domain = self.dpo_email.rpartition("@")
        return (domain.strip().lower() or None) if at else None, "the domain of notices.dpo_email"

    def sender_warnings(self) -> list[str]:
        """A sender outside the controller's domain (or its subdomains) is suspicious to the people it reaches."""
        sender = (self.smtp.sender or "").strip().lower()
        domain, source = self.domain
        if not sender or domain is None:
            return []
        sender_domain = sender.rpartition("@")[2]
        if sender_domain == domain or sender_domain.endswith("." + domain):
            return []
        return [f"the sender {sender} is not in the controller's domain {domain} ({source}): people may take the "
                "notice for phishing; send from an address of your own domain"]


class IncidentsConfig(_Model):
    store: StoreConfig = Field(default_factory=StoreConfig)
    playbooks: list[Path] = Field(default_factory=list)  # folders or files beside the bundled playbooks/
    regimes: list[Path] = Field(default_factory=list)  # TOML files with custom regimes
    default_regimes: list[str] = Field(default_factory=lambda: ["gdpr-33", "gdpr-34"])
    # Reminders (breachkit remind): hours before a due time; "overdue" is always sent once.
    remind_before_hours: list[float] = Field(default_factory=lambda: [24.0, 6.0])
    # A task or a deadline due within this many hours is shown as "due soon" (CLI, board, timeline picture); by
    # default the nearer of the reminder thresholds.
    due_soon_hours: float = Field(6.0, ge=0)
    # Times (aware_at, occurred_at, detected_at…) may lie this far in the future (clock skew between machines);
    # later ones are refused: the legal clock cannot start in the future.
    max_future_skew_minutes: float = Field(5.0, ge=0, le=24 * 60)


class ScanConfig(_Model):
    """`breachkit scan` (cron): detect since the last run, link to open incidents, alert the on-call."""

    min_level: Literal["informational", "low", "medium", "high", "critical"] = "high"
    alert_to: list[str] = Field(default_factory=list)  # on-call addresses for new detections
    first_lookback_hours: float = Field(24.0, gt=0)  # the first run looks this far back
    # Re-scan this much before the checkpoint so a correlation burst across two runs is seen whole
    # (None: the longest correlation timespan of the rules).
    overlap_minutes: float | None = Field(default=None, ge=0)
    # An alert an address refuses (or a server that fails) is tried again by each following run, this many times
    # in all, then given up (said by that run); the checkpoint waits for every alert to be sent or given up.
    alert_max_attempts: int = Field(10, ge=1)


class WebConfig(_Model):
    """`breachkit serve`: the incident board."""

    host: str = "127.0.0.1"  # another address needs TLS (certfile/keyfile) or auth = "proxy"
    port: int = Field(8080, ge=1, le=65535)
    certfile: Path | None = None  # TLS certificate chain (PEM)
    keyfile: Path | None = None  # its private key (PEM, 0600)
    # "local": users of `breachkit users` sign in with a password. "proxy": a reverse proxy in front has
    # authenticated the user and names them in `proxy_user_header`; only requests from `trusted_proxies` count.
    auth: Literal["local", "proxy"] = "local"
    proxy_user_header: str = "X-Forwarded-User"
    trusted_proxies: list[str] = Field(default_factory=list)  # addresses or CIDR ranges of the proxy
    max_failed_logins: int = Field(5, ge=1, le=100)  # in a row: the account is then locked
    lockout_minutes: float = Field(15.0, gt=0)
    session_idle_hours: float = Field(12.0, gt=0)
    session_hours: float = Field(72.0, gt=0)  # every session ends after this
    # "due soon" on the board when it must differ from the CLI's (None: incidents.due_soon_hours, one threshold)
    due_soon_hours: float | None = Field(None, gt=0)
    poll_seconds: float = Field(3.0, ge=0.5, le=300)  # how often open pages look for changes

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        import ipaddress

        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"not an address or CIDR range: {value!r}") from None
        return values

    @model_validator(mode="after")
    def _proxy(self) -> WebConfig:
        if self.auth == "proxy" and not self.trusted_proxies:
            raise ValueError("auth = \"proxy\" needs trusted_proxies (the reverse proxy's addresses)")
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("TLS needs both certfile and keyfile")
        return self


class Config(_Model):
    workspace: WorkspaceConfig = Field(default_factory=WorkspaceConfig)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    subjects: SubjectsConfig = Field(default_factory=SubjectsConfig)
    notices: NoticesConfig = Field(default_factory=NoticesConfig)
    detect: DetectConfig = Field(default_factory=DetectConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    elasticsearch: ElasticsearchConfig = Field(default_factory=ElasticsearchConfig)
    opensearch: OpenSearchConfig = Field(default_factory=OpenSearchConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    # Where the file was read from (None: defaults); relative paths in it resolve against its folder.
    source: Path | None = Field(default=None, exclude=True)
    # Without a file, relative paths resolve against the folder the config was looked for in (load_config's cwd).
    origin: Path | None = Field(default=None, exclude=True)

    @property
    def base_dir(self) -> Path:
        if self.source is not None:
            return self.source.parent
        return self.origin if self.origin is not None else Path.cwd()

    def resolve(self, path: Path) -> Path:
        """A path from the config, relative to the config file's folder."""
        return path if path.is_absolute() else self.base_dir / path

    @property
    def workspace_dir(self) -> Path:
        return self.resolve(self.workspace.path)

    @property
    def display_zone(self) -> ZoneInfo:
        return ZoneInfo(self.workspace.timezone)


def _set_nested(target: dict[str, Any], keys: list[str], value: Any) -> None:
    node = target
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value


def _parse_env_value(raw: str) -> Any:
    """Lists and tables are read as TOML values; everything else stays a string, which pydantic converts
    for number and boolean settings (so `BREACHKIT_ELASTICSEARCH__USERNAME=12345` stays a name)."""
    if raw.lstrip().startswith(("[", "{")):
        try:
            return tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            return raw
    return raw


def env_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """Dotted config key → name of the `BREACHKIT_SECTION__KEY` variable that overrides it."""
    found: dict[str, str] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :]
        if rest in _NON_OVERRIDE_ENV or rest.startswith("TEST_") or "__" not in rest:
            continue
        found[".".join(k.lower() for k in rest.split("__"))] = name
    return found


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Nested dict of the `BREACHKIT_SECTION__KEY` overrides found in `environ`."""
    out: dict[str, Any] = {}
    for dotted, name in env_variables(environ).items():
        _set_nested(out, dotted.split("."), _parse_env_value(environ[name]))
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _secret_problems(data: Mapping[str, Any], path: str, prefix: str = "") -> list[Problem]:
    problems = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            problems += _secret_problems(value, path, dotted + ".")
        elif key.lower() in _SECRET_KEYS:
            problems.append(
                Problem(
                    "secrets are not read from the config file; set the environment variable or use a "
                    "0600 file (e.g. password_file)",
                    Location(path, field=dotted),
                )
            )
    return problems


def find_config_file(explicit: Path | None, environ: Mapping[str, str], cwd: Path) -> Path | None:
    if explicit is not None:
        return explicit
    if environ.get("BREACHKIT_CONFIG"):
        return Path(environ["BREACHKIT_CONFIG"])
    candidate = cwd / CONFIG_FILENAME
    return candidate if candidate.is_file() else None


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Load and validate the configuration; raise ConfigError listing every problem with its key."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    source = find_config_file(path, environ, cwd)
    data: dict[str, Any] = {}
    shown = "(defaults)"
    if source is not None:
        shown = str(source)
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("config file not found", path=source, hint="run `breachkit init` to create one") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file: {exc}", path=source) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", path=source) from None
        source = source.resolve()
    problems = _secret_problems(data, shown)
    flagged = {p.location.field for p in problems}
    from_env = env_variables(environ)
    data = _merge(data, env_overrides(environ))
    try:
        config = Config.model_validate({**data, "source": source, "origin": cwd.resolve()})
    except ValidationError as exc:
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if key in flagged:
                continue  # already reported as a secret in the file
            variable = next((v for k, v in from_env.items() if key == k or key.startswith(k + ".")), None)
            where = Location(field=f"{variable} (overrides {key})") if variable else Location(shown, field=key)
            problems.append(Problem(err["msg"], where))
        config = None
    if problems:
        raise ConfigError(
            f"invalid configuration ({counted(len(problems), 'problem')})",
            problems=problems,
            hint="fix the keys listed above; `breachkit init` writes a commented example",
        )
    assert config is not None
    return config


def read_secret(env_name: str, file: Path | None, environ: Mapping[str, str] | None = None) -> str | None:
    """A secret from the environment, else from a file only its owner can read; None if neither is set."""
    environ = os.environ if environ is None else environ
    if environ.get(env_name):
        return environ[env_name]
    if file is None:
        return None
    try:
        mode = file.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read secret file: {exc.strerror}", path=file) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"secret file is readable by others (mode {stat.S_IMODE(mode):04o})",
            path=file,
            hint=f"chmod 600 {file}",
        )
    return file.read_text(encoding="utf-8").strip()
