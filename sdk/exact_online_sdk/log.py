"""Logging for applications that use the SDK (the library itself only adds a NullHandler).

:func:`configure_logging` is for the application (CLI, Lambda, worker): it attaches one handler to the
``exact_online_sdk`` logger, driven by ``EXACT_LOG_LEVEL``, ``EXACT_LOG_JSON`` and ``EXACT_LOG_FILE``. Every
line that handler writes passes :class:`RedactingFilter`, which masks bearer tokens, refresh tokens, secrets and
``code=`` values in the message *and* its arguments, so even a careless log call cannot leak them.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._core.redact import redact_text

if TYPE_CHECKING:
    from .config import Settings

__all__ = ["JsonFormatter", "RedactingFilter", "configure_logging"]

_HANDLER_FLAG = "_exact_online_sdk_handler"
# Attributes every LogRecord has; anything else came from ``extra=`` and goes into the JSON line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class RedactingFilter(logging.Filter):
    """Masks secrets in the record's message, arguments, ``extra`` strings and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: still log something, redacted
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact_text(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO), level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_text:
            payload["exception"] = record.exc_text
        elif record.exc_info:
            payload["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(
    settings: Settings | None = None,
    *,
    level: str | int | None = None,
    json_lines: bool | None = None,
    file: str | Path | None = None,
) -> logging.Handler:
    """Attach (or replace) the SDK's handler on the ``exact_online_sdk`` logger and return it.

    Arguments override ``settings`` (``EXACT_LOG_LEVEL``/``EXACT_LOG_JSON``/``EXACT_LOG_FILE``). Without a file the
    handler writes to stderr. Propagation is left on, so the application's own handlers still see the records.
    """
    lvl = level if level is not None else (settings.log_level if settings else "WARNING")
    as_json = json_lines if json_lines is not None else (settings.log_json if settings else False)
    path = file if file is not None else (settings.log_file if settings else None)
    logger = logging.getLogger("exact_online_sdk")
    for old in [h for h in logger.handlers if getattr(h, _HANDLER_FLAG, False)]:
        logger.removeHandler(old)
        old.close()
    handler: logging.Handler
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter() if as_json else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    setattr(handler, _HANDLER_FLAG, True)
    logger.addHandler(handler)
    logger.setLevel(lvl if isinstance(lvl, int) else str(lvl).upper())
    return handler
