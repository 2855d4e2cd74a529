"""What each role may do, decided once for every route (the auth middleware asks here).

- `admin`: everything, the admin API (`/v1/admin/…`) included;
- `member`: chat (`POST /v1/chat/completions`, `POST /v1/route`, feedback on its own
  answers: `POST /v1/feedback`) and every read (usage: its own key's);
- `viewer`: reads only (GET: models, catalogue, providers, usage, the dashboard).

A route that writes and is not listed as chat needs the admin role: a new route is closed
until it says otherwise.
"""

from __future__ import annotations

from services.shared.errors import PermissionDenied

CHAT, READ, ADMINISTER = "chat", "read", "admin"
GRANTS: dict[str, frozenset[str]] = {
    "admin": frozenset({CHAT, READ, ADMINISTER}),
    "member": frozenset({CHAT, READ}),
    "viewer": frozenset({READ}),
}
CHAT_ROUTES = frozenset(
    {("POST", "/v1/chat/completions"), ("POST", "/v1/route"), ("POST", "/v1/feedback")}
)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ADMIN_PREFIX = "/v1/admin"


def permission(method: str, path: str) -> str:
    """What a request needs: chat, read, or admin."""
    if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
        return ADMINISTER
    if (method, path) in CHAT_ROUTES:
        return CHAT
    return READ if method in READ_METHODS else ADMINISTER


def require(role: str, method: str, path: str) -> None:
    """Raise PermissionDenied (403) unless `role` may make this request."""
    needed = permission(method, path)
    if needed not in GRANTS.get(role, frozenset()):
        raise PermissionDenied(
            f"this key's role ({role}) may not {method} {path}: it needs the {needed} permission",
            code="insufficient_permissions",
        )
