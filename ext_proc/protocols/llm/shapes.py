"""Type-checked reading of LLM API documents.

Every shape error names the field (as a path), the expected type and the actual one, never the
value, and carries the stable code of the document being read: ``llm_request_invalid`` for what
the agent sent, ``llm_response_invalid`` for what the provider returned (a request that is not
JSON at all is a ``body_parse_error``, as for any JSON body). An explicit JSON null is read as an
absent field, as the providers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from ext_proc import strict_json
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.protocols.llm.document import format_path
from ext_proc.protocols.llm.model import JsonPath

_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


@dataclass(frozen=True, slots=True)
class Shapes:
    code: ErrorCode
    http_status: int
    subject: str  # "request" or "response", for the messages
    json_code: ErrorCode  # for a document that is not JSON at all

    def fail(self, path: JsonPath, expected: str, actual: Any) -> NoReturn:
        raise ChaperoneError(
            self.code,
            f"{self.subject} field {format_path(path)}: expected {expected}, got {type_name(actual)}",
            http_status=self.http_status,
        )

    def loads(self, body: bytes | str) -> Any:
        """The document, read strictly (``ext_proc/strict_json.py``); a response that is not
        JSON keeps the response code."""
        what = f"the {self.subject}"
        try:
            if isinstance(body, str):
                return strict_json.loads_text(body, what=what, http_status=self.http_status)
            return strict_json.loads(body, what=what, http_status=self.http_status)
        except ChaperoneError as exc:
            if self.json_code is not ErrorCode.BODY_PARSE_ERROR:
                exc.code = self.json_code
            raise

    def dumps(self, value: Any, path: JsonPath) -> str:
        """The JSON text of a value read from a document (a tool's input object)."""
        return strict_json.dumps(value).decode()

    def object(self, value: Any, path: JsonPath) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, "object", value)
        return value

    def array(self, value: Any, path: JsonPath) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, "array", value)
        return value

    def string(self, value: Any, path: JsonPath) -> str:
        if not isinstance(value, str):
            self.fail(path, "string", value)
        return value

    def opt_string(self, parent: dict[str, Any], key: str, path: JsonPath) -> str | None:
        value = parent.get(key)
        if value is None or isinstance(value, str):
            return value
        self.fail((*path, key), "string", value)

    def opt_int(self, parent: dict[str, Any], key: str, path: JsonPath) -> int | None:
        value = parent.get(key)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        self.fail((*path, key), "integer", value)

    def opt_bool(self, parent: dict[str, Any], key: str, path: JsonPath) -> bool | None:
        value = parent.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.fail((*path, key), "boolean", value)

    def opt_object(self, parent: dict[str, Any], key: str, path: JsonPath) -> dict[str, Any] | None:
        value = parent.get(key)
        if value is None or isinstance(value, dict):
            return value
        self.fail((*path, key), "object", value)

    def opt_array(self, parent: dict[str, Any], key: str, path: JsonPath) -> list[Any]:
        """The array at ``key``; an absent or null field is an empty array."""
        value = parent.get(key)
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self.fail((*path, key), "array", value)

    def objects(self, parent: dict[str, Any], key: str, path: JsonPath) -> list[tuple[int, dict[str, Any]]]:
        """The objects of the array at ``key``, with their indexes."""
        items = self.opt_array(parent, key, path)
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                self.fail((*path, key, i), "object", item)
        return list(enumerate(items))


REQUEST = Shapes(ErrorCode.LLM_REQUEST_INVALID, 400, "request", ErrorCode.BODY_PARSE_ERROR)
RESPONSE = Shapes(ErrorCode.LLM_RESPONSE_INVALID, 502, "response", ErrorCode.LLM_RESPONSE_INVALID)
