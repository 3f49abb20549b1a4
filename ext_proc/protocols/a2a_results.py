"""A2A responses: the texts an agent gets back from another, each with its JSON location.

A response is a JSON body, or, for ``message/stream`` / ``SendStreamingMessage`` and
``tasks/resubscribe`` / ``SubscribeToTask``, an SSE stream whose events each carry one
JSON-RPC response in ``data`` (an error may come in an event named "error"); ``sse.py`` frames
the events and ``parse_event_data`` reads one. A result is, by version:

- 0.3: the object itself, tagged by ``kind``: "task" (Task), "message" (Message),
  "status-update" (TaskStatusUpdateEvent) or "artifact-update" (TaskArtifactUpdateEvent);
- 1.0: wrapped by what it is (``{"task": ...}``, ``{"message": ...}``, ``{"statusUpdate": ...}``,
  ``{"artifactUpdate": ...}``) for SendMessage and the streams; a bare Task for GetTask and
  CancelTask; ``{"tasks": [...]}`` for ListTasks.

The texts are those of text parts and the strings inside data parts, in a message, in a task's
status message, artifacts and history, and in update events; an error's message and data. File
parts are not text. ``locations.rewrite_text(message, text.path, new)`` replaces one in a copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ext_proc.errors import ChaperoneError
from ext_proc.protocols import jsonrpc
from ext_proc.protocols.a2a import A2aPart, parse_parts
from ext_proc.protocols.locations import Path, TextAt, string_leaves

TASK = "task"
MESSAGE = "message"
STATUS_UPDATE = "status-update"
ARTIFACT_UPDATE = "artifact-update"
_KINDS = frozenset({TASK, MESSAGE, STATUS_UPDATE, ARTIFACT_UPDATE})
# A2A 1.0 wrapper keys (SendMessageResponse, StreamResponse) -> the 0.3 kind.
_WRAPPERS = (
    ("task", TASK),
    ("message", MESSAGE),
    ("statusUpdate", STATUS_UPDATE),
    ("artifactUpdate", ARTIFACT_UPDATE),
)
_TERMINAL = frozenset({"completed", "canceled", "failed", "rejected"})


@dataclass(frozen=True, slots=True)
class A2aResult:
    """What one response message says, for policy and audit, and the texts to scan."""

    kinds: tuple[str, ...]  # of the objects found: "task", "message", "status-update"...
    task_id: str | None
    context_id: str | None
    state: str | None  # the 0.3 spelling ("input-required") for both versions
    final: bool  # the task reached a terminal state, or a 0.3 update says it is the last
    is_error: bool
    texts: tuple[TextAt, ...]


def parse_event_data(data: str) -> jsonrpc.Body | None:
    """The message an SSE event carries; None for an event without data."""
    return jsonrpc.loads(data) if data else None


def read_response(message: Mapping[str, Any]) -> A2aResult:
    if "error" in message:
        error_texts = tuple(_error_texts(message["error"]))
        return A2aResult((), None, None, None, final=True, is_error=True, texts=error_texts)
    objects = list(_objects(message.get("result"), ("result",)))
    try:
        found = tuple(text for kind, obj, at in objects for text in _texts(kind, obj, at))
    except ChaperoneError as exc:  # the peer sent it: a bad gateway, not a bad request
        raise ChaperoneError(exc.code, exc.message, http_status=502) from None
    # Task, context and state describe a result about one task (not a ListTasks page).
    only: Mapping[str, Any] = objects[0][1] if len(objects) == 1 else {}
    state = _state(only)
    context_id = only.get("contextId")
    return A2aResult(
        kinds=tuple(kind for kind, _, _ in objects),
        task_id=_task_id(only),
        context_id=context_id if isinstance(context_id, str) else None,
        state=state,
        final=state in _TERMINAL or only.get("final") is True,
        is_error=False,
        texts=found,
    )


def texts(message: Mapping[str, Any]) -> tuple[TextAt, ...]:
    return read_response(message).texts


def _objects(result: Any, at: Path) -> Iterator[tuple[str, dict[str, Any], Path]]:
    """The tasks, messages and update events in a result, with their kind and location."""
    if not isinstance(result, dict):
        return
    if result.get("kind") in _KINDS:
        yield result["kind"], result, at
        return
    wrapped = [(kind, key) for key, kind in _WRAPPERS if isinstance(result.get(key), dict)]
    for kind, key in wrapped:
        yield kind, result[key], (*at, key)
    if wrapped:
        return
    if isinstance(result.get("tasks"), list):
        for i, task in enumerate(result["tasks"]):
            if isinstance(task, dict):
                yield TASK, task, (*at, "tasks", i)
    elif "id" in result and isinstance(result.get("status"), dict):
        yield TASK, result, at


def _texts(kind: str, obj: dict[str, Any], at: Path) -> Iterator[TextAt]:
    if kind == MESSAGE:
        yield from _parts(obj, at)
    elif kind == ARTIFACT_UPDATE:
        yield from _artifact(obj.get("artifact"), (*at, "artifact"))
    else:  # a task or a status update
        yield from _status(obj.get("status"), (*at, "status"))
    if kind == TASK:
        for key, read in (("artifacts", _artifact), ("history", _parts)):
            items = obj.get(key)
            for i, item in enumerate(items if isinstance(items, list) else ()):
                yield from read(item, (*at, key, i))


def _status(status: Any, at: Path) -> Iterator[TextAt]:
    if isinstance(status, dict) and isinstance(status.get("message"), dict):
        yield from _parts(status["message"], (*at, "message"))


def _artifact(artifact: Any, at: Path) -> Iterator[TextAt]:
    if isinstance(artifact, dict):
        yield from _parts(artifact, at)


def _parts(holder: Any, at: Path) -> Iterator[TextAt]:
    if not isinstance(holder, dict) or "parts" not in holder:
        return
    for part in parse_parts(holder["parts"], (*at, "parts")):
        yield from _part_texts(part)


def _part_texts(part: A2aPart) -> Iterator[TextAt]:
    if part.text is not None:
        yield TextAt((*part.path, "text"), part.text, "part")
    elif part.kind == "data":
        yield from string_leaves(part.data, (*part.path, "data"), "data")


def _error_texts(error: Any) -> Iterator[TextAt]:
    if isinstance(error, dict):
        if isinstance(error.get("message"), str):
            yield TextAt(("error", "message"), error["message"], "error")
        if "data" in error:
            yield from string_leaves(error["data"], ("error", "data"), "error")


def _state(obj: Mapping[str, Any]) -> str | None:
    status = obj.get("status")
    state = status.get("state") if isinstance(status, dict) else None
    if not isinstance(state, str):
        return None
    if state.startswith("TASK_STATE_"):  # 1.0's enum names
        state = state.removeprefix("TASK_STATE_").lower().replace("_", "-")
        return "unknown" if state == "unspecified" else state
    return state


def _task_id(obj: Mapping[str, Any]) -> str | None:
    # A Task's own id is "id"; messages and update events point at theirs with "taskId".
    value = obj.get("taskId") if "taskId" in obj else obj.get("id") if "status" in obj else None
    return value if isinstance(value, str) else None
