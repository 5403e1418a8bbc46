"""`batcher push --no-wait` of a 1M-row drop against a bare copy plus OpenSSH's `sftp`, in one run.

    python bench/push.py [--rows 1000000] [--rounds 2]

Starts a private OpenSSH sshd on loopback (tests/fixtures/sshd.py) with a
`PlatformMover` playing the platform, then, alternating for `--rounds`:
(a) baseline: a bare `csv.reader` -> `a;b;c;` copy of the drop (bench/convert.py's)
    followed by `sftp -b` putting the copied file (key auth);
(b) batcher: the real console command `batcher push --no-wait DROP` (convert, record
    every message in the state database, commit and sync, upload every batch).
Prints the best time of each and the ratio b/a (issue 11 target: <= 2.0), and the
recording rate: the bulk insert the push makes (`Store.add_messages` with the
conversion's columns, one transaction, committed and synced) measured on its own
(target: >= 500,000 messages/s). Needs root and openssh-server / openssh-client.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.platform import make_workspace  # noqa: E402
from tests.fixtures.sshd import PlatformMover, sshd_unavailable_reason, start_sshd  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_convert", ROOT / "bench" / "convert.py")
assert _spec is not None and _spec.loader is not None
bench_convert = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_convert)

RECORD = r"""
import json, sys, time
from pathlib import Path
from batcher.convert import convert_drop
from batcher.settings import load_settings
from batcher.store import Store
src, state = Path(sys.argv[1]), Path(sys.argv[2])
settings = load_settings(None, environ={})
store = Store.open(state)
spent = [0.0, 0]

class Sink:
    def accepted(self, batch):
        t = time.perf_counter()
        store.add_messages(ids[batch.file_index], batch)
        spent[0] += time.perf_counter() - t
        spent[1] += len(batch.line)
    def refused(self, rejections, columns):
        pass

ids = []
with store.transaction():
    drop = store.add_drop("BENCH", "0" * 64, str(src), src.name)
    def namer(i):
        name = f"BENCH.20260101.{i + 1:02d}.txt"
        ids.append(store.add_batch(drop.id, "BENCH", "20260101", i + 1, name, "/dev/null", 0, "", 0).id)
        return name
    convert_drop(src, project="BENCH", settings=settings, out_dir=state / "out", namer=namer, sink=Sink())
    t = time.perf_counter()
commit = time.perf_counter() - t
print(json.dumps({"messages": spent[1], "seconds": spent[0] + commit, "commit": commit}))
"""


def baseline(server, known_hosts: Path, src: Path, tmpd: Path, r: int) -> float:  # type: ignore[no-untyped-def]
    copy = tmpd / f"BENCH.20260101.{90 + r:02d}.txt"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", bench_convert.BASELINE, str(src), str(copy)], check=True, capture_output=True)
    subprocess.run(
        [
            "sftp", "-b", "-", "-i", str(server.key_file), "-P", str(server.port),
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", f"{server.username}@{server.host}",
        ],
        input=f"put {copy} upload/{copy.name}\n".encode(),
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    copy.unlink()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    reason = sshd_unavailable_reason()
    if reason:
        print(f"skipped: {reason}", file=sys.stderr)
        return 0

    with tempfile.TemporaryDirectory(prefix="batcher-bench-") as tmp:
        tmpd = Path(tmp)
        src = tmpd / "drop.csv"
        bench_convert.make_csv(src, args.rows)
        print(f"generated {args.rows:,} CSV rows ({src.stat().st_size / 1e6:.0f} MB)")
        server = start_sshd()
        try:
            known_hosts = server.write_known_hosts(tmpd / "known_hosts")
            base, push = [], []
            with PlatformMover(server.home):
                for r in range(args.rounds):
                    base.append(baseline(server, known_hosts, src, tmpd, r))
                    print(f"round {r + 1}: bare copy + sftp put  {base[-1]:6.2f} s")
                    ws = make_workspace(
                        tmpd / f"work{r}", host=server.host, port=server.port, username=server.username,
                        password=None, key_file=server.key_file, known_hosts=known_hosts, remote_root=server.home,
                        extra=f'[format]\nmax_rows_per_file = 100000\n[defaults]\nproject = "BENCH{r}"\n',
                    )
                    start = time.perf_counter()
                    done = ws.batcher("push", "--no-wait", str(src), timeout=900)
                    push.append(time.perf_counter() - start)
                    assert not isinstance(done, subprocess.Popen)
                    if done.returncode != 0:
                        print(done.stdout, done.stderr, file=sys.stderr)
                        return 1
                    print(f"round {r + 1}: batcher push --no-wait {push[-1]:6.2f} s")
                    server.clean()
        finally:
            server.stop()
        record = json.loads(subprocess.run(
            [sys.executable, "-c", RECORD, str(src), str(tmpd / "record-state")],
            check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1])

    b, p = min(base), min(push)
    print(f"\nbaseline (csv copy + OpenSSH sftp put): {b:6.2f} s")
    print(f"batcher push --no-wait:                 {p:6.2f} s")
    print(f"RATIO push/baseline = {p / b:.2f}  (target <= 2.0)")
    rate = record["messages"] / record["seconds"]
    print(f"RECORDING RATE = {rate:,.0f} messages/s ({record['messages']:,} in {record['seconds']:.2f} s, "
          f"of which commit+sync {record['commit']:.2f} s; target >= 500,000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
