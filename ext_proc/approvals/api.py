"""The operator API for approvals (an ``AdminExtension``; bearer token, see ``ext_proc.admin``).

::

    GET  /api/approvals?status=pending&limit=100   -> {"approvals": [<approval>, ...]}  newest first
    GET  /api/approvals/{id}                       -> <approval>
    POST /api/approvals/{id}/approve  {"comment": "..."}  -> <approval>
    POST /api/approvals/{id}/deny     {"comment": "..."}  -> <approval>

``<approval>`` is ``Approval.as_json()``. Errors are ``{"error": {"code", "message"}}``:
404 ``approval_not_found``, 409 ``approval_not_pending`` (decided, or expired), 403
``approval_self_decision``, 400 ``operator_request_invalid``, 503 ``state_unavailable``.
The deciding operator is the one the token names (``request[OPERATOR_KEY]``).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ext_proc.admin.app import OPERATOR_KEY, AdminExtension, error_response
from ext_proc.approvals.model import ID_PATTERN, Status
from ext_proc.approvals.store import DEFAULT_LIST_LIMIT, ApprovalStore
from ext_proc.errors import ChaperoneError, ErrorCode

MAX_LIST_LIMIT = 1000
# A decision body is a comment and nothing else: a small bound.
MAX_BODY_BYTES = 16 * 1024
STORE_KEY: web.AppKey[ApprovalStore] = web.AppKey("approvals_store", ApprovalStore)


def approvals_api(store: ApprovalStore) -> AdminExtension:
    def extend(app: web.Application) -> None:
        app[STORE_KEY] = store
        app.router.add_get("/api/approvals", _list)
        app.router.add_get("/api/approvals/{id}", _get)
        app.router.add_post("/api/approvals/{id}/approve", _approve)
        app.router.add_post("/api/approvals/{id}/deny", _deny)

    return extend


async def _list(request: web.Request) -> web.Response:
    try:
        status = _status(request.query.get("status"))
        limit = _limit(request.query.get("limit"))
        approvals = await request.app[STORE_KEY].list(status, limit)
    except ChaperoneError as exc:
        return _failure(exc)
    return _json({"approvals": [approval.as_json() for approval in approvals]})


async def _get(request: web.Request) -> web.Response:
    approval_id = request.match_info["id"]
    try:
        approval = await request.app[STORE_KEY].get(approval_id) if ID_PATTERN.match(approval_id) else None
    except ChaperoneError as exc:
        return _failure(exc)
    if approval is None:
        return _not_found()
    return _json(approval.as_json())


async def _approve(request: web.Request) -> web.Response:
    return await _decide(request, approve=True)


async def _deny(request: web.Request) -> web.Response:
    return await _decide(request, approve=False)


async def _decide(request: web.Request, *, approve: bool) -> web.Response:
    approval_id = request.match_info["id"]
    if not ID_PATTERN.match(approval_id):
        return _not_found()
    try:
        comment = _comment(await _body(request))
        approval = await request.app[STORE_KEY].decide(approval_id, approve, request[OPERATOR_KEY], comment)
    except ChaperoneError as exc:
        return _failure(exc)
    return _json(approval.as_json())


async def _body(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _invalid(f"the body is larger than {MAX_BODY_BYTES} bytes")
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise _invalid(f"the body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _invalid("the body is not valid JSON") from None


def _comment(body: Any) -> str:
    if not isinstance(body, dict):
        raise _invalid("the body must be a JSON object")
    unknown = set(body) - {"comment"}
    if unknown:
        raise _invalid(f"unknown field {sorted(unknown)[0]!r}")
    comment = body.get("comment", "")
    if comment is None:
        return ""
    if not isinstance(comment, str):
        raise _invalid('field "comment" must be a string')
    return comment


def _status(value: str | None) -> Status | None:
    if value is None or value == "":
        return None
    try:
        return Status(value)
    except ValueError:
        raise _invalid(f"status must be one of {', '.join(s.value for s in Status)}") from None


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIST_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIST_LIMIT:
        raise _invalid(f"limit must be an integer from 1 to {MAX_LIST_LIMIT}")
    return int(value)


def _invalid(message: str) -> ChaperoneError:
    return ChaperoneError(ErrorCode.OPERATOR_REQUEST_INVALID, message, http_status=400)


def _not_found() -> web.Response:
    return error_response(404, ErrorCode.APPROVAL_NOT_FOUND.value, "no approval request with this id")


def _failure(exc: ChaperoneError) -> web.Response:
    status = 503 if exc.code is ErrorCode.STATE_UNAVAILABLE else exc.http_status
    return error_response(status, exc.code.value, exc.message)


def _json(document: Any) -> web.Response:
    return web.Response(body=orjson.dumps(document), content_type="application/json")
