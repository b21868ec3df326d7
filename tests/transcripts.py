"""Claude Code session transcripts as Claude Code 2.1 writes them, for tests: one JSON object a line,
in ``~/.claude/projects/<cwd with every non-alphanumeric character as '-'>/<session-id>.jsonl``."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any


def project_dir(home: Path, cwd: str) -> Path:
    return home / ".claude" / "projects" / re.sub(r"[^A-Za-z0-9]", "-", cwd)


def user_line(cwd: str, branch: str, session: str, text: str) -> dict[str, Any]:
    return {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": cwd, "sessionId": session,
            "version": "2.1.7", "gitBranch": branch, "type": "user",
            "message": {"role": "user", "content": text}, "uuid": str(uuid.uuid4()),
            "timestamp": "2026-09-30T10:00:00.000Z"}


def assistant_line(cwd: str, branch: str, session: str, msg_id: str, *, input_tokens: int = 0,
                   output_tokens: int = 0, cache_write: int = 0, cache_read: int = 0,
                   model: str = "claude-sonnet-4-5-20250929") -> dict[str, Any]:
    """An assistant message with its usage, as the API reported it."""
    return {"parentUuid": str(uuid.uuid4()), "isSidechain": False, "userType": "external", "cwd": cwd,
            "sessionId": session, "version": "2.1.7", "gitBranch": branch,
            "message": {"id": msg_id, "type": "message", "role": "assistant", "model": model,
                        "content": [{"type": "text", "text": "Working on it."}],
                        "stop_reason": "end_turn", "stop_sequence": None,
                        "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": cache_write,
                                  "cache_read_input_tokens": cache_read,
                                  "cache_creation": {"ephemeral_5m_input_tokens": cache_write,
                                                     "ephemeral_1h_input_tokens": 0},
                                  "output_tokens": output_tokens, "service_tier": "standard"}},
            "requestId": f"req_{msg_id}", "type": "assistant", "uuid": str(uuid.uuid4()),
            "timestamp": "2026-09-30T10:00:05.000Z"}


def write_transcript(home: Path, cwd: str, lines: list[dict[str, Any]], session: str | None = None) -> Path:
    """A session's transcript, in the project directory of ``cwd``."""
    path = project_dir(home, cwd) / f"{session or uuid.uuid4()}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path
