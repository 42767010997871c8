"""Result documents: what the library returns to its callers as data (`--output json`, the web board, files
other tools read back), each a pydantic model with a schema name and version, e.g. ``breachkit.detections/1``.

A document is read back with `Document.read` (the major version must match; a document written by an older
breachkit without a schema field is read as version 1). `breachkit.schemas` exports the JSON Schema of each.
Adding an optional field keeps the version; removing or changing a field's meaning makes a new major version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from breachkit.errors import InputError, Location, Problem


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    SCHEMA: ClassVar[str]  # "breachkit.<name>/<major version>"
    schema_: str = Field(alias="schema")

    @model_validator(mode="after")
    def _named(self) -> Self:
        if self.schema_ != self.SCHEMA:
            raise ValueError(f"schema must be {self.SCHEMA!r}, not {self.schema_!r}")
        return self

    @classmethod
    def create(cls, **fields: Any) -> Self:
        return cls(schema_=cls.SCHEMA, **fields)

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_data(), indent=indent, ensure_ascii=False)

    @classmethod
    def read(cls, data: Mapping[str, Any], *, path: str | None = None) -> Self:
        """A document from parsed JSON, checked against this schema's name and major version."""
        name = data.get("schema", cls.SCHEMA)
        if not isinstance(name, str) or name.split("/")[0] != cls.SCHEMA.split("/")[0]:
            raise InputError(f"not a {cls.SCHEMA.split('/')[0]} document (schema {name!r})", path=path)
        if name != cls.SCHEMA:
            raise InputError(f"{name} documents cannot be read by this breachkit (it reads {cls.SCHEMA})",
                             path=path, hint="use the breachkit version that wrote it, or write it again")
        try:
            return cls.model_validate({**data, "schema": cls.SCHEMA})
        except ValidationError as exc:
            problems = [Problem(e["msg"], Location(path, field=".".join(str(p) for p in e["loc"]) or None))
                        for e in exc.errors()]
            raise InputError(f"invalid {cls.SCHEMA} document ({len(problems)} problems)", path=path,
                             problems=problems) from None

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        schema = cls.model_json_schema(by_alias=True)
        schema["$id"] = cls.SCHEMA
        schema.setdefault("properties", {}).setdefault("schema", {})["const"] = cls.SCHEMA
        return schema
