"""Named crash points for the crash-safety tests.

`failpoint("after_upload")` does nothing unless the environment variable
`BATCHER_FAILPOINT` names that point, in which case the process kills itself with
SIGKILL on the spot: no cleanup, no flush, exactly like a power cut or an OOM kill.
The tests use it to stop a real `batcher push` at each state of SPEC 4.1 and then
check that a second run neither loses nor duplicates anything. Never set it in
production.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV_VAR", "failpoint"]

ENV_VAR = "BATCHER_FAILPOINT"


def failpoint(name: str) -> None:
    if os.environ.get(ENV_VAR) == name:
        os.kill(os.getpid(), signal.SIGKILL)
