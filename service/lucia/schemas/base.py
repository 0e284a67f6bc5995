"""What every body model shares: strict JSON types, the date-time and URI strings, and
the refusals a model declares for its fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

# ISO 8601 in UTC with milliseconds, e.g. 2025-01-31T12:00:00.000Z (conversation.utc_now):
# kept a string, so the wire format is exactly what the service has always written.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Uri = Annotated[str, Field(json_schema_extra={"format": "uri"})]

# Where in a body a field is: names and list indexes, "*" standing for any index.
Location = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a client is told when a field is wrong."""

    code: str
    message: str  # the field has the wrong type (or is absent, without `missing`)
    missing: str | None = None  # the field is absent, where that has its own words
    invalid: str | None = None  # the right type but outside its constraints (a pattern)


Refusals = Mapping[Location, Refusal]


class Contract(BaseModel):
    """A body of lucia's API. Strict, as JSON is: "5" is no integer and true no string."""

    model_config = ConfigDict(strict=True)

    refusals: ClassVar[Refusals] = {}
