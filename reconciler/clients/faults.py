"""Crash points: where the fault-injection tests kill gt, to prove every step can be resumed.

``GT_CRASH_AT=merge:advanced`` makes the process SIGKILL itself right after that step, the
way a power cut or an OOM kill would end it. Unset (always, outside those tests) it costs
one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

VARIABLE = "GT_CRASH_AT"
MERGE_STEPS = ("merge:recorded", "merge:advanced", "merge:closed", "merge:stopped", "merge:removed")


def crash_point(name: str) -> None:
    if os.environ.get(VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
