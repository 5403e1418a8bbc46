"""Reconciliation cost: requests per pass against the ideal, and batcher's own CPU time per
1,000 statuses (waiting excluded), on 100,000 messages.

    python bench/reconcile.py [--messages 100000]

The simulator runs as its own process (`batcher sim`, rate limit off, statuses at once),
so its CPU is not counted; a real `batcher push` sends the messages through its SFTP
server. Then one reconcile pass runs in this process in each mode:

  search  ideal ceil(N / api.max_ids_per_query) requests
  list    ideal ceil(statuses / list page) requests (+1 when that divides exactly: an
          empty page is the only way to learn the list is drained)

CPU is `time.process_time()` around the pass: parsing, matching, deciding and recording,
without the time spent waiting for answers. Target (issue 7): the ideal number of
requests, and under 50 ms of CPU per 1,000 statuses.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sim(root: Path, page: int) -> tuple[subprocess.Popen[str], int, int, str]:
    sftp, api = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "batcher", "sim", "--root", str(root), "--port", str(sftp), "--api-port", str(api),
         "--rate-limit", "0", "--sent-delay", "0", "--delivered-delay", "0", "--list-page", str(page)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    fingerprint = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if m := re.search(r"fingerprint (SHA256:\S+)", line):
            fingerprint = m.group(1)
        if "Stop with Ctrl-C" in line:
            return proc, sftp, api, fingerprint
    proc.kill()
    raise SystemExit("the simulator did not start")


def config(work: Path, root: Path, sftp: int, api: int, mode: str) -> Path:
    cfg = work / f"batcher-{mode}.toml"
    cfg.write_text(f"""
[sftp]
host = "127.0.0.1"
port = {sftp}
username = "batcher"
password = "batcher"
known_hosts = "{root}/.sim/known_hosts"
[api]
base_url = "http://127.0.0.1:{api}"
username = "batcher"
token = "batcher-token"
status_mode = "{mode}"
requests_per_second = 100
[paths]
state_dir = "{work}/state-{mode}"
[defaults]
project = "BENCH"
[format]
max_rows_per_file = 1000000
[poll]
interval = "0.2s"
max_interval = "1s"
timeout = "10m"
""")
    os.chmod(cfg, 0o600)
    return cfg


def push(cfg: Path, work: Path, n: int, tag: str) -> None:
    drop = work / f"{tag}.csv"
    with drop.open("w", encoding="utf-8") as fh:
        fh.write("telefone;mensagem\n")
        for i in range(n):
            fh.write(f"55119{i:05d}0{tag[-1]}0;Mensagem {i} da campanha {tag}\n")  # ends in x0: delivered
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "batcher", "--config", str(cfg), "push", str(drop)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(res.stdout + res.stderr)
    print(f"  pushed {n:,} messages ({tag}) in {time.perf_counter() - t:.1f} s")


def one_pass(cfg: Path) -> tuple[int, int, float, float]:
    from batcher.jobs import Context, Session, reconcile_pass
    from batcher.settings import load_settings

    settings = load_settings(cfg)
    ctx = Context(settings)
    with Session(ctx) as session:
        _ = session.store  # opened outside the measurement
        client = session.status_source
        cpu, wall = time.process_time(), time.perf_counter()
        result = reconcile_pass(ctx, session)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return client.requests, result.statuses, cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000, help="the simulator's /list page")
    args = parser.parse_args()
    n = args.messages
    with tempfile.TemporaryDirectory(prefix="batcher-bench-reconcile-") as tmp:
        work = Path(tmp)
        root = work / "sim"
        sim, sftp, api, _ = start_sim(root, args.page)
        try:
            for mode, tag in (("search", "s1"), ("list", "l2")):
                cfg = config(work, root, sftp, api, mode)
                push(cfg, work, n, tag)
                time.sleep(0.5)  # the statuses appear once the file is processed
                requests, statuses, cpu, wall = one_pass(cfg)
                if mode == "search":
                    ideal = math.ceil(n / 1000)
                else:
                    ideal = math.ceil(statuses / args.page) + (1 if statuses % args.page == 0 else 0)
                per_k = cpu / max(statuses, 1) * 1000 * 1000
                verdict = "ideal" if requests == ideal else f"{requests - ideal:+d} over the ideal"
                print(f"{mode:6s}: {requests} requests for {statuses:,} statuses (ideal {ideal}: {verdict}); "
                      f"CPU {cpu:.2f} s = {per_k:.1f} ms per 1,000 statuses (target < 50); wall {wall:.1f} s")
        finally:
            sim.terminate()
            sim.wait(timeout=30)


if __name__ == "__main__":
    main()
