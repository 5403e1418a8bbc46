"""The embedded platform simulator (SPEC section 5): a local stand-in for the Wavy SFTP
server, its file processor and its status API, so that demos and tests run end to end
with no account. It implements the platform's contract only and never imports batcher's
validation or rendering, so it catches batcher's mistakes.

    from batcher.sim import SimConfig, Simulator, Faults
    with Simulator(SimConfig(root=tmp, port=0, api_port=0)) as sim:
        ...  # sim.sftp_port, sim.known_hosts_path, sim.api_url, sim.statuses()

Modules: `server` (SFTP, confinement), `filecheck` (the platform's file rules),
`processor` (upload/ -> success/ | error/), `statuses` and `outcomes` (what each message
does), `api` (HTTP status API), `faults` (fault switches), `runner` (lifecycle).

Outcomes, by the LAST THREE DIGITS of the destination number:

    101 102 103 201 202 203 204 205 207 301  that sent status, no delivered status
    104            sent 2 SENT_SUCCESS, then delivered 104 NOT_DELIVERED
    998            carrier OI (id 3): sent 2, never a delivered status
    999            carrier SERCOMTEL (id 6): sent 2, never a delivered status
    anything else  sent 2 SENT_SUCCESS, then delivered 4 DELIVERED_SUCCESS

    Carrier (except 998/999) by the last digit: 0 3 6 9 VIVO (id 1), 1 4 7 CLARO (id 2),
    2 5 8 TIM (id 5).

The sent status appears `sent_delay` seconds after the file is processed and the
delivered status `delivered_delay` seconds after it; until `sent_delay` the message is
unknown to the API; statuses disappear `retention` (3 days) after their sent status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import SimConfig
from .faults import Faults
from .outcomes import OUTCOMES_HELP, outcome_for

if TYPE_CHECKING:
    from .runner import Simulator, describe, run_foreground


def __getattr__(name: str) -> Any:
    # The runner pulls in asyncssh; import it only when used, so `batcher --help` stays fast.
    if name in ("Simulator", "describe", "run_foreground"):
        from . import runner

        return getattr(runner, name)
    raise AttributeError(name)

__all__ = ["OUTCOMES_HELP", "Faults", "SimConfig", "Simulator", "describe", "outcome_for", "run_foreground"]
