"""The simulator's SFTP server and processor, driven by paramiko and OpenSSH's sftp."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest

from batcher.sim import Simulator
from tests.fixtures.sim import batch_name, platform_file, sim_sftp, wait_for

GOOD = platform_file([("5511900000010", "hello", "c-1"), ("5511900000021", "olá", "")])


def processor_log(sim: Simulator) -> list[dict]:
    if not sim.processor_log_path.exists():
        return []
    return [json.loads(line) for line in sim.processor_log_path.read_text().splitlines()]


def put(sftp: paramiko.SFTPClient, path: str, data: bytes) -> None:
    with sftp.open(path, "wb") as fh:
        fh.write(data)


def test_paramiko_upload_reaches_success(sim: Simulator) -> None:
    name = batch_name()
    with sim_sftp(sim) as sftp:
        assert sorted(sftp.listdir("/")) == ["error", "success", "upload"]
        put(sftp, f"/upload/{name}", GOOD)
        wait_for(lambda: name in sftp.listdir("/success"), message="file in success/")
        assert sftp.listdir("/upload") == [] and sftp.listdir("/error") == []
    assert (sim.root / "success" / name).read_bytes() == GOOD
    assert processor_log(sim)[-1] == {**processor_log(sim)[-1], "file": name, "result": "success", "rows": 2}


def test_relative_paths_start_at_root(sim: Simulator) -> None:
    name = batch_name()
    with sim_sftp(sim) as sftp:
        assert sftp.normalize(".") == "/"
        sftp.chdir("upload")
        put(sftp, name, GOOD)
        wait_for(lambda: (sim.root / "success" / name).exists(), message="file in success/")


@pytest.fixture
def client_key(tmp_path: Path) -> Path:
    if not shutil.which("ssh-keygen") or not shutil.which("sftp"):
        pytest.skip("OpenSSH client not installed")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def openssh_sftp(sim: Simulator, key: Path, batch: str, known_hosts: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    batchfile = tmp_path / "batch.sftp"
    batchfile.write_text(batch)
    return subprocess.run(
        ["sftp", "-F", "/dev/null", "-i", str(key), "-P", str(sim.sftp_port), "-b", str(batchfile),
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "PasswordAuthentication=no", f"{sim.config.username}@127.0.0.1"],
        capture_output=True, text=True, timeout=30)


def test_openssh_sftp_with_key_and_strict_host_checking(make_sim: Callable[..., Simulator], client_key: Path,
                                                        tmp_path: Path) -> None:
    auth = tmp_path / "authorized_keys"
    auth.write_text(client_key.with_suffix(".pub").read_text())
    sim = make_sim(authorized_keys=auth)
    name = batch_name("OPENSSH", 7)
    local = tmp_path / name
    local.write_bytes(GOOD)
    done = openssh_sftp(sim, client_key, f"cd upload\nput {local}\nls\n", sim.known_hosts_path, tmp_path)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: (sim.root / "success" / name).exists(), message="file in success/")
    assert (sim.root / "success" / name).read_bytes() == GOOD
    # The same client refuses a server whose key is not in its known_hosts file.
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    refused = openssh_sftp(sim, client_key, "ls\n", empty, tmp_path)
    assert refused.returncode != 0
    assert "Host key verification failed" in refused.stderr


def test_known_hosts_line_matches_fingerprint(sim: Simulator) -> None:
    line = sim.known_hosts_path.read_text().strip()
    assert line.startswith(f"[127.0.0.1]:{sim.sftp_port} ssh-ed25519 ")
    assert sim.fingerprint.startswith("SHA256:")
    keys = paramiko.HostKeys(str(sim.known_hosts_path))
    key = keys.lookup(f"[127.0.0.1]:{sim.sftp_port}")["ssh-ed25519"]
    with sim_sftp(sim) as sftp:
        served = sftp.get_channel().get_transport().get_remote_server_key()
    assert served == key


def test_host_key_survives_restart(make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    first = make_sim(root=tmp_path / "r")
    fingerprint = first.fingerprint
    first.stop()
    second = make_sim(root=tmp_path / "r")
    assert second.fingerprint == fingerprint
    assert (tmp_path / "r" / ".sim" / "ssh_host_ed25519_key").exists()


def test_wrong_password_and_user_refused(sim: Simulator) -> None:
    with pytest.raises(paramiko.AuthenticationException), sim_sftp(sim, password="wrong"):
        pass
    with pytest.raises(paramiko.AuthenticationException), sim_sftp(sim, username="intruder"):
        pass


def test_key_not_authorized_refused(make_sim: Callable[..., Simulator], client_key: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    auth = tmp_path / "authorized_keys"
    auth.write_text(other.with_suffix(".pub").read_text())
    sim = make_sim(authorized_keys=auth)
    refused = openssh_sftp(sim, client_key, "ls\n", sim.known_hosts_path, tmp_path)
    assert refused.returncode != 0
    assert "Permission denied" in refused.stderr


# -- confinement ------------------------------------------------------------------------

def test_dotdot_and_absolute_paths_stay_inside(sim: Simulator, tmp_path: Path) -> None:
    outside = sim.root.parent
    with sim_sftp(sim) as sftp:
        assert sftp.normalize("..") == "/"
        assert sftp.normalize("/../../..") == "/"
        put(sftp, "../../escape.txt", b"x")
        assert not (outside / "escape.txt").exists()
        assert (sim.root / "escape.txt").exists()  # clamped to the root, like a chroot
        put(sftp, "/upload/../../../escape2.txt", b"x")
        assert not (outside / "escape2.txt").exists()
        with pytest.raises(FileNotFoundError):
            sftp.stat("/etc/passwd")
        with pytest.raises(FileNotFoundError):
            sftp.listdir("/etc")
        with pytest.raises(IOError):
            sftp.open("/etc/passwd", "r")


def test_symlinks_refused(sim: Simulator, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, sim.root / "planted")  # placed by someone on the server side
    os.symlink("/etc", sim.root / "etc-link")
    with sim_sftp(sim) as sftp:
        with pytest.raises(PermissionError):
            sftp.symlink("/etc/passwd", "/upload/link")
        with pytest.raises(PermissionError):
            sftp.symlink("/upload", "/upload/link2")
        assert not (sim.root / "upload" / "link").exists()
        with pytest.raises(PermissionError):
            sftp.open("/planted", "r")
        with pytest.raises(PermissionError):
            sftp.listdir("/etc-link")
        with pytest.raises(PermissionError):
            sftp.open("/etc-link/passwd", "r")
        with pytest.raises(PermissionError):
            sftp.rename("/planted", "/upload/x")


def test_sim_files_are_invisible(sim: Simulator) -> None:
    with sim_sftp(sim) as sftp:
        assert ".sim" not in sftp.listdir("/")
        for path in ("/.sim", "/.sim/ssh_host_ed25519_key", "/upload/../.sim/known_hosts"):
            with pytest.raises(FileNotFoundError):
                sftp.stat(path)
        with pytest.raises(IOError):
            sftp.open("/.sim/ssh_host_ed25519_key", "r")
        with pytest.raises(IOError):
            put(sftp, "/.sim/evil", b"x")


# -- processing rules ------------------------------------------------------------------

BAD_FILES: dict[str, bytes] = {
    "bad-name.txt": GOOD,
    batch_name("BADDATE").replace(batch_name("BADDATE").split(".")[1], "20240230"): GOOD,
    batch_name("BADUTF8"): b"5511900000010;caf\xe9;;\nEOF\n",
    batch_name("BOM"): b"\xef\xbb\xbf" + GOOD,
    batch_name("BADROW"): b"5511900000010;hi;;\nnot a row\nEOF\n",
    batch_name("SEMIS"): b"5511900000010;hi;c;x;\nEOF\n",
    batch_name("FEWSEMIS"): b"5511900000010;hi;\nEOF\n",
    batch_name("EMPTYROW"): b"5511900000010;hi;;\n\nEOF\n",
    batch_name("NOROWS"): b"EOF\n",
    batch_name("LONGTEXT"): ("5511900000010;" + "x" * 1281 + ";;\nEOF\n").encode(),
    batch_name("LONGCORR"): ("5511900000010;x;" + "c" * 65 + ";\nEOF\n").encode(),
    batch_name("NUMBER"): b"+55 11 90000-0010;hi;;\nEOF\n",
}


def test_each_kind_of_invalid_file_goes_to_error(sim: Simulator) -> None:
    with sim_sftp(sim) as sftp:
        for name, data in BAD_FILES.items():
            put(sftp, f"/upload/{name}", data)
        wait_for(lambda: sorted(sftp.listdir("/error")) == sorted(BAD_FILES), message="all files in error/")
        assert sftp.listdir("/success") == []
    reasons = {r["file"]: r["reason"] for r in processor_log(sim)}
    assert set(reasons) == set(BAD_FILES)
    assert all(reasons.values())
    assert sim.statuses() == []
    assert not any(name.endswith(".reason.txt") for name in os.listdir(sim.root / "error"))


def test_missing_eof_waits_for_the_grace_period(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(eof_grace=1.5)
    name = batch_name()
    with sim_sftp(sim) as sftp:
        put(sftp, f"/upload/{name}", b"5511900000010;hi;;\n")
        start = time.monotonic()
        time.sleep(0.8)
        assert sftp.listdir("/upload") == [name]  # still being written, as far as anyone knows
        wait_for(lambda: name in sftp.listdir("/error"), timeout=5, message="file in error/")
        assert time.monotonic() - start >= 1.4
    assert "EOF" in processor_log(sim)[-1]["reason"]


def test_file_still_growing_is_not_moved(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(eof_grace=0.8)
    name = batch_name()
    with sim_sftp(sim) as sftp:
        for i in range(8):  # 1.6 s of appends in separate handles, each pause shorter than the grace
            with sftp.open(f"/upload/{name}", "ab") as fh:
                fh.write(f"55119000000{i:02d};row {i};;\n".encode())
            time.sleep(0.2)
            assert sftp.listdir("/upload") == [name]
        with sftp.open(f"/upload/{name}", "ab") as fh:
            fh.write(b"EOF\n")
        wait_for(lambda: name in sftp.listdir("/success"), message="file in success/")
    wait_for(lambda: len(sim.statuses()) == 8, message="8 statuses")


def test_open_write_handle_blocks_processing(sim: Simulator) -> None:
    name = batch_name()
    with sim_sftp(sim) as sftp:
        fh = sftp.open(f"/upload/{name}", "wb")
        fh.write(GOOD)
        fh.flush()
        time.sleep(0.5)
        assert (sim.root / "upload" / name).read_bytes() == GOOD
        assert sftp.listdir("/upload") == [name]  # complete with EOF, but its writer has it open
        fh.close()
        wait_for(lambda: name in sftp.listdir("/success"), message="file in success/")


def test_rename_mode_part_files_are_ignored(sim: Simulator) -> None:
    name = batch_name()
    with sim_sftp(sim) as sftp:
        put(sftp, f"/upload/.{name}.part", GOOD)
        time.sleep(0.4)
        assert sftp.listdir("/upload") == [f".{name}.part"]
        sftp.posix_rename(f"/upload/.{name}.part", f"/upload/{name}")
        wait_for(lambda: name in sftp.listdir("/success"), message="file in success/")


def test_existing_destination_is_kept(sim: Simulator) -> None:
    name = batch_name()
    with sim_sftp(sim) as sftp:
        put(sftp, f"/upload/{name}", GOOD)
        wait_for(lambda: name in sftp.listdir("/success"), message="first copy")
        put(sftp, f"/upload/{name}", GOOD)
        wait_for(lambda: f"{name}.1" in sftp.listdir("/success"), message="second copy, suffixed")
        assert sorted(sftp.listdir("/success")) == [name, f"{name}.1"]


def test_crlf_and_legend_accepted(sim: Simulator) -> None:
    name = batch_name()
    data = b"number;text;correlationId;\r\n5511900000010;hi;k;\r\nEOF"
    with sim_sftp(sim) as sftp:
        put(sftp, f"/upload/{name}", data)
        wait_for(lambda: name in sftp.listdir("/success"), message="file in success/")
