"""The controller's journal: JSON lines in .gt/controller.log, rotated by size."""

from __future__ import annotations

import json
import logging
import logging.handlers
from datetime import UTC, datetime
from pathlib import Path

from reconciler.clients.files import refuse_links
from reconciler.model.paths import TownPaths

MAX_BYTES = 1_000_000
BACKUPS = 3


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "gt", {})
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "message": record.getMessage(), **{k: v for k, v in fields.items() if v is not None}}
        return json.dumps(entry, default=str)


def controller_logger(root: Path) -> logging.Logger:
    path = Path(TownPaths(str(root)).journal)
    path.parent.mkdir(parents=True, exist_ok=True)
    for name in (path, *(path.with_name(f"{path.name}.{n}") for n in range(1, BACKUPS + 1))):
        refuse_links(name)  # the log and its rotations are opened by logging, which follows links
    logger = logging.getLogger(f"gt.controller.{root}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                       encoding="utf-8")
        handler.setFormatter(JsonLines())
        logger.addHandler(handler)
    return logger
