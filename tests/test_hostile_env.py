"""Broken environments (issue 9, case 7): every one ends with exit 2 and a message naming
the path and what to do, never a traceback, and nothing is sent.

Each test runs the real console command in a subprocess against the simulator.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.platform import Workspace, make_workspace

DROP = "telefone;mensagem\n5511987654321;Olá Ana\n5511987654322;Oi Bruno\n"


def workspace(tmp_path: Path, sim, extra: str = "", known_hosts: Path | None = None) -> Workspace:  # type: ignore[no-untyped-def]
    return make_workspace(
        tmp_path / "work",
        host=sim.host,
        port=sim.sftp_port,
        username=sim.config.username,
        password=sim.config.password,
        known_hosts=known_hosts or sim.known_hosts_path,
        remote_root=sim.config.root,
        api_url=sim.api_url,
        extra=extra,
    )


def assert_clean_failure(res: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    for fragment in fragments:
        assert fragment in res.stderr + res.stdout, (fragment, res.stderr, res.stdout)


def nothing_sent(ws: Workspace) -> bool:
    return all(ws.remote(sub) == [] for sub in ("upload", "success", "error"))


# --- sftp.known_hosts a directory or unreadable -----------------------------------------


@pytest.mark.parametrize("command", ["push", "check"])
def test_known_hosts_that_is_a_directory(tmp_path: Path, sim, command: str) -> None:  # type: ignore[no-untyped-def]
    kh = tmp_path / "kh-dir"
    kh.mkdir()
    ws = workspace(tmp_path, sim, known_hosts=kh)
    args = ["push", str(ws.drop("l.csv", DROP))] if command == "push" else ["check"]
    res = ws.batcher(*args)
    assert_clean_failure(res, 2, str(kh), "known_hosts", "Is a directory")
    assert nothing_sent(ws)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a 0000 file anyway")
def test_known_hosts_unreadable(tmp_path: Path, sim) -> None:  # type: ignore[no-untyped-def]
    kh = tmp_path / "known_hosts"
    kh.write_text(sim.known_hosts_path.read_text())
    kh.chmod(0)
    ws = workspace(tmp_path, sim, known_hosts=kh)
    res = ws.batcher("push", str(ws.drop("l.csv", DROP)))
    assert_clean_failure(res, 2, str(kh), "Permission denied")
    assert nothing_sent(ws)


# --- paths.state_dir an existing regular file -----------------------------------------------


@pytest.mark.parametrize("command", ["push", "status"])
def test_state_dir_that_is_a_file(tmp_path: Path, sim, command: str) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "state-file"
    blocker.write_text("not a directory\n")
    ws = workspace(tmp_path, sim, extra=f'[paths]\nstate_dir = "{blocker}"\n',
                   known_hosts=sim.known_hosts_path)
    args = ["push", str(ws.drop("l.csv", DROP))] if command == "push" else ["status"]
    res = ws.batcher(*args)
    assert_clean_failure(res, 2, "state_dir", str(blocker), "not a directory")
    assert blocker.read_text() == "not a directory\n"  # left as it was
    assert nothing_sent(ws)


# --- a config file that is not UTF-8 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (os.urandom(64) + b"\xff\xfe\x00", "not UTF-8 text"),
        ('[defaults]\nproject = "PROMO"\n'.encode("utf-16"), "saved as UTF-16"),
        (b'[defaults]\nproject = "PROMO"\n# coment\xe1rio\n', "line 3: the config file is not UTF-8 text (byte 0xE1)"),
    ],
    ids=["random-bytes", "utf-16", "windows-1252"],
)
def test_config_file_that_is_not_utf8(tmp_path: Path, content: bytes, fragment: str) -> None:
    config = tmp_path / "batcher.toml"
    config.write_bytes(content)
    src = tmp_path / "l.csv"
    src.write_text(DROP, encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "batcher", "convert", "--config", str(config), str(src),
                          "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert_clean_failure(res, 2, str(config), fragment, "save it as UTF-8")
    assert not (tmp_path / "out").exists()


def test_config_with_a_utf8_bom_is_read(tmp_path: Path) -> None:
    config = tmp_path / "batcher.toml"
    config.write_bytes(b"\xef\xbb\xbf" + b'[defaults]\nproject = "BOMPROJ"\n')
    src = tmp_path / "l.csv"
    src.write_text(DROP, encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "batcher", "convert", "--config", str(config), str(src),
                          "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert [p.name.split(".")[0] for p in (tmp_path / "out").glob("*.txt")] == ["BOMPROJ"]


# --- an input name so long that derived names would not fit ----------------------------------


def test_240_character_input_name_push(tmp_path: Path, sim) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, sim)
    name = "lista-de-clientes-" + "x" * (240 - len("lista-de-clientes-") - 4) + ".csv"
    assert len(name) == 240
    src = ws.drop(name, DROP + "12345;número ruim\n")
    res = ws.batcher("push", str(src))
    assert res.returncode == 0, res.stderr + res.stdout
    assert "Traceback" not in res.stderr
    [sent] = ws.remote("success")
    assert len(sent.read_text().splitlines()) == 3  # two rows and EOF
    [rejected] = list((ws.state / "rejected").rglob("*.rejected.csv"))
    assert rejected.name.startswith("lista-de-clientes-xxx") and len(rejected.name.encode()) <= 200
    assert "número ruim" in rejected.read_text(encoding="utf-8-sig")


def test_240_character_input_name_convert(tmp_path: Path) -> None:
    (tmp_path / "batcher.toml").write_text('[defaults]\nproject = "PROMO"\n')
    name = "á" * 118 + ".csv"  # 240 bytes in UTF-8
    src = tmp_path / name
    src.write_text(DROP + "12345;número ruim\n", encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "batcher", "convert", str(src), "-o", "out"], cwd=tmp_path,
                         env={**os.environ, "BATCHER_CONFIG": str(tmp_path / "batcher.toml")},
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    [rejected] = list((tmp_path / "out").glob("*.rejected.csv"))
    assert rejected.name.startswith("á" * 10) and len(rejected.name.encode()) <= 200


# --- the last-resort boundary in cli.main -----------------------------------------------------


def test_output_folder_that_is_a_file_is_exit_2_with_the_path(tmp_path: Path) -> None:
    (tmp_path / "batcher.toml").write_text('[defaults]\nproject = "PROMO"\n')
    (tmp_path / "l.csv").write_text(DROP, encoding="utf-8")
    (tmp_path / "out").write_text("a file\n")
    res = subprocess.run([sys.executable, "-m", "batcher", "convert", "l.csv", "-o", "out/sub"], cwd=tmp_path,
                         env={**os.environ, "BATCHER_CONFIG": str(tmp_path / "batcher.toml")},
                         capture_output=True, text=True, timeout=60)
    assert_clean_failure(res, 2, "out/sub")
    assert (tmp_path / "out").read_text() == "a file\n"


def test_a_stray_oserror_is_exit_2_naming_the_path_and_a_bug_is_exit_1_without_traceback(tmp_path: Path) -> None:
    """Faults no real setup produces on demand: injected into the real entry point."""
    script = (
        "import sys, click\n"
        "from batcher import cli\n"
        "@cli.cli.command('boom')\n"
        "@click.argument('kind')\n"
        "def boom(kind):\n"
        "    if kind == 'os': raise PermissionError(13, 'Permission denied', '/srv/x/y.csv')\n"
        "    if kind == 'net': raise ConnectionResetError(104, 'Connection reset by peer')\n"
        "    raise KeyError('oops')\n"
        "cli.main(sys.argv[1:])\n"
    )
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60)

    assert_clean_failure(run("boom", "os"), 2, "error: /srv/x/y.csv: Permission denied")
    assert_clean_failure(run("boom", "net"), 4, "Connection reset by peer")
    bug = run("boom", "bug")
    assert_clean_failure(bug, 1, "unexpected error (KeyError", "-v")
    verbose = run("-v", "boom", "bug")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
