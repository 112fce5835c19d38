"""Logs: plain text (the default) or one JSON object per line (``LOG_FORMAT=json``), each naming
the request it was written for (``request_id``, from :data:`REQUEST_ID`)."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

#: The id of the request the current thread answers ("" outside a request); set by the web layer.
REQUEST_ID: ContextVar[str] = ContextVar("wsi_request_id", default="")

#: Attributes every LogRecord has; others were passed in ``extra=`` and are written as fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, request_id, the
    record's ``extra`` fields, and the exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def notice(message: str, log_format: str, level: str = "info") -> None:
    """A line of the server's start on standard error, before gunicorn's loggers exist or beside
    them: *message* as it is, or with *log_format* "json" one JSON object like every other line."""
    line = message
    if log_format == "json":
        record = logging.LogRecord("wsi-viewer", logging.getLevelName(level.upper()), "", 0, message,
                                   None, None)
        line = JsonFormatter().format(record)
    print(line, file=sys.stderr, flush=True)


def configure(log_format: str) -> None:
    """With *log_format* "json", send the ``viewer`` and ``gunicorn.error`` logs to standard error
    as JSON lines, INFO and above (idempotent: one handler, replaced). "text" changes nothing."""
    if log_format != "json":
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("viewer", "gunicorn.error"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
