"""known_hosts reading and writing, checked against OpenSSH's own ssh-keygen."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import paramiko
import pytest

from batcher.errors import HostKeyError
from batcher.transport.hostkeys import KnownHosts, fingerprint, host_pattern

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen (openssh-client) missing")


def make_key(tmp_path: Path, name: str) -> tuple[paramiko.PKey, Path]:
    path = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return paramiko.PKey.from_path(path), path.with_suffix(".pub")


def keygen_fingerprint(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)], check=True, capture_output=True, text=True)
    return out.stdout.split()[1]


def line(pattern: str, key: paramiko.PKey) -> str:
    return f"{pattern} {key.get_name()} {key.get_base64()}\n"


def test_fingerprint_is_what_ssh_keygen_prints(tmp_path: Path) -> None:
    key, pub = make_key(tmp_path, "k")
    assert fingerprint(key) == keygen_fingerprint(pub)
    assert not fingerprint(key).endswith("=")


def test_host_pattern_uses_brackets_for_other_ports() -> None:
    assert host_pattern("sftp.example.com", 22) == "sftp.example.com"
    assert host_pattern("127.0.0.1", 2222) == "[127.0.0.1]:2222"
    assert host_pattern("FTP.Example.com", 2222) == "[ftp.example.com]:2222"


def test_bracketed_entry_matches_its_port_only(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path, "k")
    kh = tmp_path / "known_hosts"
    kh.write_text("# comment\n\n" + line("[127.0.0.1]:2222", key))
    known = KnownHosts.load(kh)
    known.check("127.0.0.1", 2222, key)
    with pytest.raises(HostKeyError) as info:
        known.check("127.0.0.1", 2200, key)
    assert not info.value.changed


def test_plain_entry_is_port_22_only(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path, "k")
    kh = tmp_path / "known_hosts"
    kh.write_text(line("127.0.0.1", key))
    known = KnownHosts.load(kh)
    known.check("127.0.0.1", 22, key)
    with pytest.raises(HostKeyError) as info:
        known.check("127.0.0.1", 2222, key)
    assert "not trusted" in str(info.value) and not info.value.changed


def test_hashed_entries_from_ssh_keygen_H(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path, "k")
    kh = tmp_path / "known_hosts"
    kh.write_text(line("[127.0.0.1]:2222", key) + line("example.org", key))
    subprocess.run(["ssh-keygen", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert "127.0.0.1" not in kh.read_text() and kh.read_text().startswith("|1|")
    known = KnownHosts.load(kh)
    known.check("127.0.0.1", 2222, key)
    known.check("example.org", 22, key)
    with pytest.raises(HostKeyError):
        known.check("127.0.0.1", 22, key)


def test_wildcards_lists_and_negation(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path, "k")
    kh = tmp_path / "known_hosts"
    kh.write_text(line("*.example.org,!bad.example.org,[10.0.0.?]:2222", key))
    known = KnownHosts.load(kh)
    known.check("a.example.org", 22, key)
    known.check("10.0.0.7", 2222, key)
    for host, port in (("bad.example.org", 22), ("10.0.0.17", 2222)):
        with pytest.raises(HostKeyError):
            known.check(host, port, key)


def test_unknown_key_names_fingerprint_and_command(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path, "k")
    with pytest.raises(HostKeyError) as info:
        KnownHosts.load(tmp_path / "missing" / "known_hosts").check("h", 2222, key)
    msg = str(info.value)
    assert fingerprint(key) in msg and "batcher trust-host" in msg and "[h]:2222" in msg
    assert info.value.fingerprint == fingerprint(key) and info.value.changed is False


def test_changed_key_warns_and_names_the_line(tmp_path: Path) -> None:
    old, _ = make_key(tmp_path, "old")
    new, _ = make_key(tmp_path, "new")
    kh = tmp_path / "known_hosts"
    kh.write_text(line("other", new) + line("[h]:2222", old))
    with pytest.raises(HostKeyError) as info:
        KnownHosts.load(kh).check("h", 2222, new)
    msg = str(info.value)
    assert info.value.changed
    assert "CHANGED" in msg and "attack" in msg and "line 2" in msg
    assert fingerprint(new) in msg and fingerprint(old) in msg and "batcher trust-host" in msg


def test_revoked_key_is_refused(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path, "k")
    kh = tmp_path / "known_hosts"
    kh.write_text(line("@revoked *", key) + line("[h]:2222", key))
    with pytest.raises(HostKeyError, match="revoked"):
        KnownHosts.load(kh).check("h", 2222, key)


def test_add_writes_openssh_form_with_private_mode(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path, "k")
    kh = tmp_path / "state" / "deep" / "known_hosts"
    KnownHosts.load(kh).add("127.0.0.1", 2222, key)
    KnownHosts.load(kh).add("example.org", 22, key)
    lines = kh.read_text().splitlines()
    assert lines == [line("[127.0.0.1]:2222", key).strip(), line("example.org", key).strip()]
    assert stat.S_IMODE(kh.stat().st_mode) == 0o600
    # OpenSSH itself finds the entry written for the non-standard port
    found = subprocess.run(["ssh-keygen", "-F", "[127.0.0.1]:2222", "-f", str(kh)], capture_output=True, text=True)
    assert found.returncode == 0 and key.get_base64() in found.stdout


def test_replace_drops_old_lines_for_that_host_only(tmp_path: Path) -> None:
    old, _ = make_key(tmp_path, "old")
    new, _ = make_key(tmp_path, "new")
    kh = tmp_path / "known_hosts"
    kh.write_text(line("[h]:2222", old) + line("h", old))
    removed = KnownHosts.load(kh).replace("h", 2222, new)
    assert removed == [line("[h]:2222", old).strip()]
    known = KnownHosts.load(kh)
    known.check("h", 2222, new)
    known.check("h", 22, old)
