"""The operators' dashboard: plain HTML, CSS and JavaScript files from `static/`, served
by the edge at `/` and `/dashboard/<file>` without a key (the page asks for one and sends
it with each API call; it keeps it in sessionStorage, never in a URL). Works offline:
nothing is fetched from anywhere but this edge."""

from __future__ import annotations

import functools
from importlib import resources

from aiohttp import web

CONTENT_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}
# Only this edge's own files and API; no inline script or style; never framed.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
INDEX = "index.html"
PREFIX = "/dashboard/"


@functools.cache
def assets() -> dict[str, tuple[bytes, str]]:
    """Every file of `static/` by name, with its content type (read once)."""
    folder = resources.files(__package__).joinpath("static")
    found: dict[str, tuple[bytes, str]] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in CONTENT_TYPES:
            found[entry.name] = (entry.read_bytes(), CONTENT_TYPES[suffix])
    return found


def _file(name: str) -> web.Response:
    found = assets().get(name)
    if found is None:
        raise web.HTTPNotFound()
    body, content_type = found
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=HEADERS)


async def index(request: web.Request) -> web.Response:
    """`GET /`: the dashboard's page."""
    return _file(INDEX)


async def asset(request: web.Request) -> web.Response:
    """`GET /dashboard/{name}`: one of its scripts or style sheets."""
    return _file(request.match_info["name"])


def is_public(path: str) -> bool:
    return path == "/" or path.startswith(PREFIX)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", index, allow_head=False)
    router.add_get(PREFIX + "{name}", asset, allow_head=False)
