"""The rules of lucia's input, and their failures in the words its API has always used.

The models in lucia/schemas describe shapes; the rules that need more than a type are the
annotations below, which state the same rule to pydantic (to check it) and to the JSON
Schema (to document it). `validate` turns a pydantic ValidationError into the one domain
error a client is told about: the first failure in the order the fields are declared (the
order the API has always checked them), with the code and message its model declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import (
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictStr,
    ValidationError,
    ValidationInfo,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import ErrorDetails, PydanticCustomError, core_schema

from lucia.errors import InvalidInput, UnsupportedPart
from lucia.schemas.base import Contract, Location

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
ID_MAX_LENGTH = 128

# A session, task or context id. pydantic's regex engine has no multi-line `$`, so this is
# a full match: a trailing newline is refused, as the contract's (ECMAScript) pattern does.
Id = Annotated[StrictStr, Field(max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]

# A message must hold a character that is whitespace by neither Python's rule (str.isspace,
# which also counts the separators U+001C-U+001F and U+0085) nor ECMAScript's (the
# contract's regex dialect, which also counts U+FEFF). The contract's pattern lists the
# same characters, so the two can never disagree about an "empty" message.
BLANK = frozenset("\u001c\u001d\u001e\u001f\u0085\ufeff")
MESSAGE_PATTERN = r"[^\s\u001c-\u001f\u0085\ufeff]"

# The validation context key that carries LUCIA_MAX_MESSAGE_CHARS to MessageText.
MAX_CHARS = "max_chars"

UNKNOWN_FIELD = "unknown_field"
# Errors the rules below raise themselves, with the API's own code as the error type.
_OWN = frozenset({"empty_message", "message_too_long", "unsupported_part"})
# A value of the right type outside its constraints (as opposed to a wrong type).
_CONSTRAINTS = frozenset({"string_too_short", "string_too_long", "string_pattern_mismatch",
                          "too_short", "too_long", "greater_than_equal", "less_than_equal"})


def id_refusal_text(what: str) -> str:
    return f"{what} must match {ID_PATTERN} (at most {ID_MAX_LENGTH} characters)"


def is_blank(value: str) -> bool:
    return all(ch.isspace() or ch in BLANK for ch in value)


def check_message_text(value: str, max_chars: int) -> str:
    """Blank first, then length: a blank message is empty however long it is."""
    if is_blank(value):
        raise PydanticCustomError("empty_message", "message must not be empty")
    if len(value) > max_chars:
        raise PydanticCustomError(
            "message_too_long", "message is {length} characters; the limit is {limit}",
            {"length": len(value), "limit": max_chars})
    return value


@dataclass(frozen=True, slots=True)
class MessageText:
    """Annotation for a message's text: not blank, at most `max_chars` characters (None:
    LUCIA_MAX_MESSAGE_CHARS from the validation context). Checked here rather than with
    pydantic's min/max length so that the order of the two checks is the API's."""

    max_chars: int | None = None

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.with_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(minLength=1, pattern=MESSAGE_PATTERN)
        if self.max_chars is not None:
            json_schema["maxLength"] = self.max_chars
        return json_schema

    def _check(self, value: str, info: ValidationInfo) -> str:
        limit = self.max_chars
        if limit is None:
            context = info.context or {}
            limit = context[MAX_CHARS]
        return check_message_text(value, limit)


M = TypeVar("M", bound=Contract)


def validate(model: type[M], data: object, context: dict[str, Any] | None = None) -> M:
    """`data` as a `model`, or InvalidInput saying what is wrong."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise refusal(model, exc.errors(include_url=False)) from None


def refusal(model: type[Contract], failures: list[ErrorDetails]) -> InvalidInput:
    """The error a client is told, from pydantic's list of what failed."""
    unknown = sorted(str(f["loc"][-1]) for f in failures if f["type"] == "extra_forbidden")
    if unknown:
        return InvalidInput(UNKNOWN_FIELD, f"unknown field(s): {', '.join(unknown)}")
    first = failures[0]
    if first["type"] == "unsupported_part":
        return UnsupportedPart(first.get("ctx", {}).get("kind"))
    if first["type"] in _OWN:
        return InvalidInput(first["type"], first["msg"])
    where: Location = tuple("*" if isinstance(part, int) else part for part in first["loc"])
    said = model.refusals.get(where)
    if said is None:  # a field without declared words: still a 400, never a 500
        path = ".".join(str(part) for part in first["loc"]) or "body"
        return InvalidInput("invalid_request", f"{path}: {first['msg']}")
    if first["type"] == "missing" and said.missing is not None:
        return InvalidInput(said.code, said.missing)
    if first["type"] in _CONSTRAINTS and said.invalid is not None:
        return InvalidInput(said.code, said.invalid)
    return InvalidInput(said.code, said.message)
