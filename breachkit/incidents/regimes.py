"""Notification regimes as data (`regimes.toml`, plus custom ones from the user's files)."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from breachkit.errors import ConfigError, Location, Problem


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Due(_Model):
    """When a stage is due, counted from the clock start (or from another stage, `after`)."""

    hours: int | None = Field(default=None, ge=1)
    working_days: int | None = Field(default=None, ge=1)
    months: int | None = Field(default=None, ge=1)
    calendar: str | None = None  # ISO country code of the public-holiday calendar (working days)
    zone: str | None = None  # time zone in which working days are counted
    after: str | None = None  # another stage of the same regime

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _one_measure(self) -> Due:
        measures = [m for m in (self.hours, self.working_days, self.months) if m is not None]
        if len(measures) > 1:
            raise ValueError("give one of hours, working_days, months")
        if self.working_days is not None and (self.calendar is None or self.zone is None):
            raise ValueError("working_days needs a calendar (country code) and a zone")
        if self.after is not None and not measures:
            raise ValueError("`after` needs hours, working_days or months")
        return self

    @property
    def fixed(self) -> bool:
        return any(m is not None for m in (self.hours, self.working_days, self.months))


# Actions that meet a stage besides a filing for it (a filing always does).
STAGE_ACTIONS = ("notices_delivered", "public_communication")
DECISION_KINDS = ("notify_authority", "notify_subjects")


class Stage(_Model):
    id: str
    title: str
    due: Due = Field(default_factory=Due)
    # What else meets the stage: "notices_delivered" (every approved subject notice of a version delivered),
    # "public_communication" (a public communication filed, Art. 34(3)(c)).
    met_by: list[str] = Field(default_factory=list)
    # A recorded decision of this kind saying "no" (with its reasons) makes the stage not required.
    not_required_by: str | None = None

    @field_validator("met_by")
    @classmethod
    def _actions(cls, values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in STAGE_ACTIONS]
        if unknown:
            raise ValueError(f"unknown action {', '.join(map(repr, unknown))} (known: {', '.join(STAGE_ACTIONS)})")
        return values

    @field_validator("not_required_by")
    @classmethod
    def _decision(cls, value: str | None) -> str | None:
        if value is not None and value not in DECISION_KINDS:
            raise ValueError(f"unknown decision kind {value!r} (known: {', '.join(DECISION_KINDS)})")
        return value


class Regime(_Model):
    id: str
    name: str
    stages: list[Stage] = Field(alias="stage", min_length=1)
    authority: str = ""  # the body it reports to
    applies: str = ""  # when its duty applies
    countries: list[str] = Field(default_factory=list)  # ISO 3166-1 alpha-2: residents it protects

    @field_validator("countries")
    @classmethod
    def _countries(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if len(v) != 2 or not v.isalpha() or not v.isupper()]
        if bad:
            raise ValueError(f"countries are ISO 3166-1 alpha-2 codes (e.g. CH), not {', '.join(map(repr, bad))}")
        return values

    @model_validator(mode="after")
    def _references(self) -> Regime:
        ids = [s.id for s in self.stages]
        if len(ids) != len(set(ids)):
            raise ValueError("stage ids must be unique")
        for position, stage in enumerate(self.stages):
            if stage.due.after is not None and stage.due.after not in ids[:position]:
                raise ValueError(f"stage {stage.id!r}: `after` must name an earlier stage, not {stage.due.after!r}")
        return self

    def stage(self, stage_id: str) -> Stage:
        return next(s for s in self.stages if s.id == stage_id)


class _File(_Model):
    regime: list[Regime]


def _parse(text: str, where: str) -> list[Regime]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=where) from None
    try:
        return _File.model_validate(data).regime
    except ValidationError as exc:
        problems = [Problem(e["msg"], Location(where, field=".".join(str(p) for p in e["loc"])))
                    for e in exc.errors()]
        raise ConfigError(f"invalid regimes ({len(problems)} problems)", path=where, problems=problems) from None


def regimes_for_country(regimes: dict[str, Regime], country: str) -> list[Regime]:
    """The regimes protecting residents of `country` (by their `countries`)."""
    return [r for r in regimes.values() if country in r.countries]


def builtin_regimes() -> dict[str, Regime]:
    text = files("breachkit.incidents").joinpath("regimes.toml").read_text(encoding="utf-8")
    return {r.id: r for r in _parse(text, "breachkit/incidents/regimes.toml")}


def load_regimes(extra: list[Path] | None = None) -> dict[str, Regime]:
    """The built-in regimes plus custom ones; a custom regime with a built-in id replaces it."""
    regimes = builtin_regimes()
    for path in extra or []:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read regimes: {exc.strerror}", path=path) from None
        regimes.update({r.id: r for r in _parse(text, str(path))})
    return regimes
