"""Logging to a rotating file in the data directory, warnings also to the terminal."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path


def setup_logging(log_dir: Path, level: str = "INFO", *, console: bool = True) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "outagedesk.log"
    root = logging.getLogger()
    root.setLevel(level.upper())
    for handler in list(root.handlers):
        if getattr(handler, "_outagedesk", False):
            root.removeHandler(handler)
            handler.close()
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=5_000_000, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [file_handler]
    if console:
        term = logging.StreamHandler()
        term.setLevel(logging.WARNING)
        term.setFormatter(logging.Formatter("outagedesk: %(levelname)s: %(message)s"))
        handlers.append(term)
    for handler in handlers:
        handler._outagedesk = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # httpx logs every request line at INFO: too loud for a storm night.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return path
