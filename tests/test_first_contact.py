"""A new operator's first hour (issue 10), through the real CLI in subprocesses: no
config is an error, not production defaults; diagnostics report at once; --config goes
where people type it; columns people name; output that stays readable in pipes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.platform import make_workspace


def batcher(*args: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("BATCHER_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "batcher", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=timeout)


LIST = "Nome;Celular do cliente;Mensagem\nAna;11987654321;Olá Ana\nBia;11987654322;Olá Bia\n"


@pytest.mark.parametrize("command", [["push", "l.csv"], ["check"], ["status"], ["reconcile"], ["report", "1"],
                                     ["trust-host", "--yes"], ["purge"]])
def test_no_config_is_an_error_at_once_not_production_defaults(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "l.csv").write_text(LIST, encoding="utf-8")
    res = batcher(*command, cwd=tmp_path, timeout=20)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "no configuration found" in res.stderr
    for place in ("--config", "$BATCHER_CONFIG", str(tmp_path / "batcher.toml"), "batcher init"):
        assert place in res.stderr
    assert not (tmp_path / "state").exists()  # nothing written on defaults
    assert "Traceback" not in res.stderr


def test_commands_that_need_no_platform_work_without_a_config(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text(LIST, encoding="utf-8")
    assert batcher("convert", "l.csv", "-o", "out", "--project", "P", cwd=tmp_path).returncode == 0
    dry = batcher("push", "--dry-run", "l.csv", "--project", "P", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert batcher("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "batcher.toml").stat().st_mode & 0o777 == 0o600  # it will hold the password


def test_config_before_the_command_and_after(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('[defaults]\nproject = "ANTES"\n')
    (tmp_path / "l.csv").write_text(LIST, encoding="utf-8")
    before = batcher("--config", str(cfg), "push", "--dry-run", "l.csv", cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert "project ANTES" in before.stdout
    after = batcher("push", "--dry-run", "l.csv", "--config", str(cfg), cwd=tmp_path)
    assert after.returncode == 0 and "project ANTES" in after.stdout


def test_check_reports_a_refused_connection_at_once(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    ws = make_workspace(tmp_path / "w", host="127.0.0.1", port=port, username="u", password="p",
                        known_hosts=None, remote_root=tmp_path)
    res = batcher("check", cwd=ws.dir, env={"BATCHER_CONFIG": str(ws.config)})
    assert res.returncode == 4, res.stdout + res.stderr
    assert "FAIL  host key and login" in res.stdout and "after 1 attempt" in res.stdout
    assert "retrying" not in res.stderr  # a diagnostic does not wait out a backoff
    # a push keeps its retries and says how long it will keep trying
    (ws.dir / "l.csv").write_text(LIST, encoding="utf-8")
    pushed = batcher("push", "l.csv", cwd=ws.dir, env={"BATCHER_CONFIG": str(ws.config)})
    assert pushed.returncode == 4
    assert re.search(r"will keep trying 2 more time\(s\) for about 3 s", pushed.stderr), pushed.stderr


def test_a_header_with_a_known_name_as_a_word_and_the_summary_says_which(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text(LIST, encoding="utf-8")
    res = batcher("push", "--dry-run", "l.csv", "--project", "P", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "number 'Celular do cliente' (column 2, by a word of its name)" in res.stdout
    assert "accepted  2" in res.stdout or re.search(r"accepted\s+2", res.stdout)


def test_columns_named_on_the_command_line_and_in_the_config(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("Contato;Obs;Pedido\n11987654321;Olá;p-1\n", encoding="utf-8")
    refused = batcher("convert", "x.csv", "-o", "out", "--project", "P", cwd=tmp_path)
    assert refused.returncode == 3
    assert "--number-column" in refused.stderr and "[columns]" in refused.stderr
    named = batcher("convert", "x.csv", "-o", "out", "--project", "P", "--number-column", "Contato",
                    "--text-column", "2", "--id-column", "Pedido", cwd=tmp_path)
    assert named.returncode == 0, named.stderr
    [out] = (tmp_path / "out").glob("P.*.txt")
    assert out.read_text().splitlines()[0] == "5511987654321;Olá;p-1;"
    cfg = tmp_path / "batcher.toml"
    cfg.write_text('[columns]\nnumber = "Contato"\ntext = "Obs"\n')
    by_config = batcher("convert", "x.csv", "-o", "out2", "--project", "P", cwd=tmp_path)
    assert by_config.returncode == 0, by_config.stderr


def test_pipes_get_no_padded_lines_and_warnings_in_the_same_form(tmp_path: Path) -> None:
    cfg = tmp_path / "batcher.toml"
    cfg.write_text('[defaults]\nproject = "P"\n[sftp]\npassword = "not-printed-123"\n')
    os.chmod(cfg, 0o644)
    (tmp_path / "l.csv").write_text(LIST, encoding="utf-8")
    res = batcher("push", "l.csv", "--dry-run", cwd=tmp_path)
    assert res.returncode == 0
    for line in (res.stdout + res.stderr).splitlines():
        assert line == line.rstrip(), repr(line)
    status = batcher("status", cwd=tmp_path)
    warning = [line for line in status.stderr.splitlines() if "warning:" in line]
    assert warning and re.match(r"^\d\d:\d\d:\d\d warning: .*batcher.toml .*can be read by .*chmod 600", warning[0])
    assert "not-printed-123" not in status.stdout + status.stderr


def test_a_bad_duration_reads_plainly(tmp_path: Path) -> None:
    (tmp_path / "batcher.toml").write_text('[poll]\ntimeout = "two hours"\n')
    res = batcher("status", cwd=tmp_path)
    assert res.returncode == 2
    assert "[poll] timeout: expected a duration" in res.stderr and "Value error" not in res.stderr
