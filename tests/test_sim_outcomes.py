"""Each documented outcome rule, end to end and as a table."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import batcher.sim as sim_pkg
from batcher.cli import cli
from batcher.sim import Simulator, outcome_for
from batcher.sim.outcomes import DELIVERED_STATUS_NAMES, SENT_STATUS_NAMES
from tests.fixtures.sim import batch_name, platform_file, sim_sftp, wait_for

# destination -> (carrier, sentStatusCode, sentStatus, deliveredStatusCode, deliveredStatus)
EXPECTED = {
    "5511900000010": ("VIVO", 2, "SENT_SUCCESS", 4, "DELIVERED_SUCCESS"),
    "5511900000011": ("CLARO", 2, "SENT_SUCCESS", 4, "DELIVERED_SUCCESS"),
    "5511900000012": ("TIM", 2, "SENT_SUCCESS", 4, "DELIVERED_SUCCESS"),
    "5511900000002": ("TIM", 2, "SENT_SUCCESS", 4, "DELIVERED_SUCCESS"),
    "5511900000104": ("CLARO", 2, "SENT_SUCCESS", 104, "NOT_DELIVERED"),
    "5511900000998": ("OI", 2, "SENT_SUCCESS", None, None),
    "5511900000999": ("SERCOMTEL", 2, "SENT_SUCCESS", None, None),
    **{f"55119000{code:05d}": (("VIVO", "CLARO", "TIM")[code % 10 % 3], code, name, None, None)
       for code, name in SENT_STATUS_NAMES.items() if code != 2},
}


def test_every_outcome_end_to_end(sim: Simulator) -> None:
    name = batch_name("OUTCOMES")
    rows = [(number, f"text {i}", f"k{i}") for i, number in enumerate(EXPECTED)]
    with sim_sftp(sim) as sftp, sftp.open(f"/upload/{name}", "wb") as fh:
        fh.write(platform_file(rows))
    wait_for(lambda: len(sim.statuses()) == len(EXPECTED), message="all statuses")
    wait_for(lambda: all(s["deliveredStatusCode"] for s in sim.statuses()
                         if EXPECTED[s["destination"]][3] is not None), message="delivered levels")
    got = {s["destination"]: (s["carrierName"], s["sentStatusCode"], s["sentStatus"],
                              s["deliveredStatusCode"], s["deliveredStatus"]) for s in sim.statuses()}
    assert got == EXPECTED
    assert {s["carrierName"]: s["carrierId"] for s in sim.statuses()} == {
        "VIVO": 1, "CLARO": 2, "OI": 3, "TIM": 5, "SERCOMTEL": 6}


@pytest.mark.parametrize("code", sorted(c for c in SENT_STATUS_NAMES if c != 2))
def test_each_sent_rejection_can_be_asked_for(code: int) -> None:
    outcome = outcome_for(f"5521987654{code:03d}")
    assert (outcome.sent_code, outcome.delivered_code) == (code, None)


@pytest.mark.parametrize(("number", "delivered"), [("5521987654104", 104), ("5521987654321", 4),
                                                   ("5521987654998", None), ("5521987654999", None)])
def test_second_level(number: str, delivered: int | None) -> None:
    outcome = outcome_for(number)
    assert outcome.sent_code == 2 and outcome.delivered_code == delivered
    if delivered:
        assert outcome.delivered_name == DELIVERED_STATUS_NAMES[delivered]


def test_outcomes_documented_in_help_and_docstring() -> None:
    result = CliRunner().invoke(cli, ["sim", "--help"])
    assert result.exit_code == 0
    for text in (result.output, sim_pkg.__doc__ or ""):
        for token in ("LAST THREE DIGITS", "101 102 103 201 202 203 204 205 207 301", "104", "998", "999",
                      "SERCOMTEL", "DELIVERED_SUCCESS", "NOT_DELIVERED", "VIVO", "CLARO", "TIM"):
            assert token in text, token
