"""Structured logging: JSON lines in production, readable lines locally. Every record
carries the request id of the call it belongs to (a ContextVar set by the interceptors),
and every line is passed through the provider-key redactor as it is formatted."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
from typing import Any

from services.shared.redact import redact

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if not entry.get("request_id"):
            entry.pop("request_id", None)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and v != ""}
        rid = extras.pop("request_id", "")
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        tail = " ".join(f"{k}={v}" for k, v in extras.items())
        line = f"{stamp} {record.levelname[0]} {self.service:<9} {record.getMessage()}"
        line += f" [{rid}]" if rid else ""
        line += f" {tail}" if tail else ""
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


def configure(service: str, level: str | None = None, fmt: str | None = None) -> None:
    """Install the one handler for this process. FREEWAY_LOG_FORMAT=json|text, FREEWAY_LOG_LEVEL."""
    fmt = fmt or os.environ.get("FREEWAY_LOG_FORMAT", "text")
    level = level or os.environ.get("FREEWAY_LOG_LEVEL", "INFO")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter(service))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "asyncio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
