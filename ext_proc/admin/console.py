"""The operator console: a static page at ``/console`` (HTML, JS and CSS from ``web/``).

No build step and nothing fetched from elsewhere: it works offline. The page itself is open
(it holds no data); it asks for the operator token and calls the operator API with it.

The Content-Security-Policy allows this origin's script, style and API only, no inline code,
no framing, and requires Trusted Types for every markup sink: text from agent traffic cannot
become markup even through a coding mistake in the page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web

from ext_proc.admin.app import AdminExtension

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}
FILES = {
    "/console": ("console.html", "text/html; charset=utf-8"),
    "/console/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/console/console.css": ("console.css", "text/css; charset=utf-8"),
    "/console/icon.svg": ("icon.svg", "image/svg+xml"),
}


def console_routes() -> AdminExtension:
    web_dir = resources.files("ext_proc.admin") / "web"
    pages = {path: ((web_dir / name).read_bytes(), kind) for path, (name, kind) in FILES.items()}

    def extend(app: web.Application) -> None:
        for path, (body, kind) in pages.items():
            app.router.add_get(path, _static(body, kind))
        app.router.add_get("/console/", _to_console)

    return extend


def _static(body: bytes, kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"content-type": kind, **SECURITY_HEADERS})

    return handler


async def _to_console(_request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect("/console")
