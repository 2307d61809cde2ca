"""Logging set-up for ``govgraph serve``, given to uvicorn as its ``log_config`` so that its own lines and
govgraph's come out in one format on standard error.

uvicorn's access log is off: it writes the full request target, and a GET GraphQL request carries its
document and variables (a citizen's ID number, say) in the query string. govgraph's own access line
(``govgraph.http.access_log``) carries the path only.
"""

from __future__ import annotations

from typing import Any, Literal

LogFormat = Literal["json", "text"]

_FORMATTERS = {
    "json": "govgraph.logs.formats.JsonFormatter",
    "text": "govgraph.logs.formats.TextFormatter",
}


def log_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for govgraph's and uvicorn's loggers."""
    handler = {"class": "logging.StreamHandler", "formatter": "govgraph", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"govgraph": {"()": _FORMATTERS[log_format]}},
        "handlers": {"stderr": handler},
        "loggers": {
            "govgraph": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


def configure(level: str, log_format: LogFormat) -> None:
    import logging.config

    logging.config.dictConfig(log_config(level, log_format))
