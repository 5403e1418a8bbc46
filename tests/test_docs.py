"""Every command has help and is documented in the README (as sqlite-utils does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from batcher.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_command_has_help_and_is_in_the_readme(name: str) -> None:
    res = CliRunner().invoke(cli, [name, "--help"])
    assert res.exit_code == 0
    assert cli.commands[name].help, f"{name} has no help text"
    assert f"batcher {name}" in README, f"`batcher {name}` is not documented in README.md"


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_that_reads_config_takes_config(name: str) -> None:
    params = {p.name for p in cli.commands[name].params}
    if name in ("init", "sim", "demo"):
        return  # these make their own configuration
    assert "config_path" in params, f"{name} lacks --config"


def test_readme_quick_start_has_the_two_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make demo" in quick and "make test" in quick
