"""SFTP upload throughput: batcher's transport against OpenSSH's `sftp` client.

Creates a 100 MB batch-like file (`number;text;id;` lines and `EOF`), starts a private
OpenSSH sshd on loopback (the same way as the test fixture, tests/fixtures/sshd.py),
then uploads the file with `sftp -b` (key auth) and with `SftpTransport` (key auth),
alternating for a few rounds, each run including its connection and login. Prints the
MB/s of each and the ratio batcher/OpenSSH of the medians (SPEC 7 target: >= 0.5).

Needs root (to create the sshd test user) and openssh-server / openssh-client.

    python bench/upload.py [--size-mb 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from batcher.transport import SftpTransport  # noqa: E402
from tests.fixtures.sshd import SshdServer, sshd_unavailable_reason, start_sshd  # noqa: E402

TARGET_RATIO = 0.5


def make_batch_file(path: Path, size_mb: int) -> int:
    target = size_mb * 1_000_000
    written = 0
    i = 0
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        while written < target:
            rows = []
            for _ in range(10_000):
                rows.append(
                    f"55{11 + i % 89}9{i % 100_000_000:08d};Olá cliente {i}, sua fatura de "
                    f"R$ {i % 1000},{i % 100:02d} vence amanhã. Pague pelo app;ref-{i:010d};\n"
                )
                i += 1
            chunk = "".join(rows)
            fh.write(chunk)
            written += len(chunk.encode("utf-8"))
        fh.write("EOF\n")
    return path.stat().st_size


def openssh_upload(server: SshdServer, known_hosts: Path, local: Path, remote: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            "sftp", "-b", "-", "-i", str(server.key_file), "-P", str(server.port),
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", f"{server.username}@{server.host}",
        ],
        input=f"put {local} {remote}\n".encode(),
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def batcher_upload(server: SshdServer, known_hosts: Path, local: Path, remote_dir: str, name: str) -> float:
    settings = server.settings(known_hosts, key_file=server.key_file)
    start = time.perf_counter()
    with SftpTransport(settings, None) as transport:
        transport.upload(local, remote_dir, name, mode="direct")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    reason = sshd_unavailable_reason()
    if reason:
        print(f"skipped: {reason}", file=sys.stderr)
        return 0

    with tempfile.TemporaryDirectory(prefix="batcher-bench-") as tmp:
        local = Path(tmp) / "BENCH.20240101.01.txt"
        size = make_batch_file(local, args.size_mb)
        server = start_sshd()
        try:
            known_hosts = server.write_known_hosts(Path(tmp) / "known_hosts")
            mbs: dict[str, list[float]] = {"openssh": [], "batcher": []}
            for r in range(args.rounds):
                for tool in ("openssh", "batcher"):
                    name = f"{tool}-{r}.txt"
                    if tool == "openssh":
                        seconds = openssh_upload(server, known_hosts, local, f"upload/{name}")
                    else:
                        seconds = batcher_upload(server, known_hosts, local, "upload", name)
                    remote = server.home / "upload" / name
                    assert remote.stat().st_size == size, f"{tool}: incomplete upload"
                    remote.unlink()
                    mbs[tool].append(size / seconds / 1e6)
                    print(f"round {r + 1}: {tool:8s} {mbs[tool][-1]:7.1f} MB/s ({seconds:.2f} s)")
        finally:
            server.stop()

    openssh, batcher = statistics.median(mbs["openssh"]), statistics.median(mbs["batcher"])
    ratio = batcher / openssh
    print(f"\nfile: {size / 1e6:.0f} MB, {args.rounds} rounds, medians:")
    print(f"  OpenSSH sftp:           {openssh:7.1f} MB/s")
    print(f"  batcher SftpTransport:  {batcher:7.1f} MB/s")
    verdict = "ok" if ratio >= TARGET_RATIO else f"BELOW the target of {TARGET_RATIO}"
    print(f"  ratio batcher/OpenSSH:  {ratio:7.2f} ({verdict})")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
