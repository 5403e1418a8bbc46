"""The host-wide rate limiter against the platform's rule, measured on the simulator.

The platform (and the simulator) answers 429 to a request that ARRIVES less than
1/rps after the previous one it counted, and counts the 429 too. For each candidate
limiter, 3 worker processes each send N searches through `StatusClient` (retries and
all) at the same moment, against one simulator at 1 request per second; the
simulator's request log (`mono` per arrival) then gives:

    min gap      the smallest time between two arrivals (must be >= 1 s)
    429          answers 429 (must be 0)
    ok/s         answers 200 per second, from the first arrival to the last

Candidates: `batcher` (batcher.status.ratelimit.HostRateLimiter: the turn is held
until the answer is in) and `pyrate` (pyrate-limiter's SQLiteBucket with its file
lock, Rate(1, 1 s), default buffer 50 ms; skipped when not installed).
Scenarios: `loopback` as is, and `jitter`, where every request reaches the server
0-300 ms (uniform, seeded) after the limiter let it go, as a TLS handshake or a
congested link does (an httpx transport that waits before sending).

    python bench/ratelimit.py [--requests 8] [--candidates batcher,pyrate] [--scenarios loopback,jitter]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from batcher.settings import ApiSettings  # noqa: E402
from batcher.status import HostRateLimiter, RateLimiter, StatusClient  # noqa: E402

WORKERS = 3
JITTER = 0.3


class PyrateLimiter:
    """pyrate-limiter 4.x behind batcher's RateLimiter protocol (it has no penalty: a
    429 is only retried)."""

    def __init__(self, db_path: Path, requests_per_second: float) -> None:
        from pyrate_limiter import Limiter, Rate, SQLiteBucket

        rate = Rate(1, int(1000 / requests_per_second))
        bucket = SQLiteBucket.init_from_file([rate], db_path=str(db_path), use_file_lock=True)
        self.limiter = Limiter(bucket)

    @contextlib.contextmanager
    def acquire(self) -> Iterator[None]:
        self.limiter.try_acquire("status-api")
        yield

    def penalize(self, seconds: float) -> None:
        pass


class LateTransport(httpx.BaseTransport):
    """Delivers each request `uniform(0, jitter)` seconds after it was handed over."""

    def __init__(self, jitter: float, seed: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.jitter = jitter
        self.rng = random.Random(seed)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.jitter:
            time.sleep(self.rng.uniform(0, self.jitter))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def worker(args: argparse.Namespace) -> None:
    limiter: RateLimiter
    if args.candidate == "batcher":
        limiter = HostRateLimiter(Path(args.state) / "ratelimit.json", args.rps)
    else:
        limiter = PyrateLimiter(Path(args.state) / "pyrate.sqlite", args.rps)
    settings = ApiSettings(base_url=args.url, username="batcher", retries=10, timeout=10)
    transport = LateTransport(args.jitter, args.seed)
    with StatusClient(settings, "batcher-token", limiter=limiter, transport=transport) as client:
        time.sleep(max(0.0, args.start - time.time()))
        for i in range(args.requests):
            client.search([f"w{args.seed}-{i}"])
    print(json.dumps({"requests": client.requests, "status_counts": dict(client.status_counts)}))


def has_pyrate() -> bool:
    try:
        import pyrate_limiter  # noqa: F401
    except ImportError:
        return False
    return True


def run(candidate: str, scenario: str, requests: int, url: str, log: Path, workdir: Path) -> dict[str, float]:
    state = workdir / f"{candidate}-{scenario}"
    state.mkdir()
    offset = log.stat().st_size if log.exists() else 0
    start = time.time() + 1.5  # every worker is up and waiting by then
    jitter = JITTER if scenario == "jitter" else 0.0
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", "--candidate", candidate, "--url", url,
                               "--state", str(state), "--requests", str(requests), "--jitter", str(jitter),
                               "--seed", str(n), "--start", str(start), "--rps", "1"],
                              stdout=subprocess.PIPE, text=True) for n in range(WORKERS)]
    for proc in procs:
        proc.wait(timeout=600)
        if proc.returncode:
            raise SystemExit(f"a {candidate} worker failed (exit {proc.returncode})")
    with log.open("rb") as fh:
        fh.seek(offset)
        records = [json.loads(line) for line in fh.read().splitlines()]
    arrivals = sorted(r["mono"] for r in records)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    ok = sum(1 for r in records if r["status"] == 200)
    span = arrivals[-1] - arrivals[0]
    return {"requests": len(records), "min_gap": min(gaps), "429": sum(1 for r in records if r["status"] == 429),
            "ok_per_s": (ok - 1) / span if span else 0.0, "under_1s": sum(1 for g in gaps if g < 1.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=8, help="requests per worker process")
    parser.add_argument("--candidates", default="batcher,pyrate")
    parser.add_argument("--scenarios", default="loopback,jitter")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--candidate", "--url", "--state", "--start", "--jitter", "--seed", "--rps"):
        parser.add_argument(hidden, help=argparse.SUPPRESS,
                            type=str if hidden in ("--candidate", "--url", "--state") else float)
    args = parser.parse_args()
    if args.worker:
        args.seed = int(args.seed)
        return worker(args)

    from batcher.sim import SimConfig, Simulator

    candidates = [c for c in args.candidates.split(",") if c]
    if "pyrate" in candidates and not has_pyrate():
        print("pyrate-limiter is not installed (pip install pyrate-limiter): skipping it")
        candidates.remove("pyrate")
    with tempfile.TemporaryDirectory(prefix="bench-ratelimit-") as tmp:
        workdir = Path(tmp)
        config = SimConfig(root=workdir / "sim", port=0, api_port=0, rate_limit_per_second=1.0)
        with Simulator(config) as sim:
            print(f"{WORKERS} processes x {args.requests} searches, simulator at 1 request/s "
                  f"(ideal: min gap >= 1.000 s, no 429, just under 1 ok/s)")
            print(f"{'candidate':<10} {'scenario':<9} {'arrivals':>8} {'min gap':>9} {'gaps<1s':>7} "
                  f"{'429':>4} {'ok/s':>6}")
            for scenario in [s for s in args.scenarios.split(",") if s]:
                for candidate in candidates:
                    r = run(candidate, scenario, args.requests, sim.api_url, sim.request_log_path, workdir)
                    print(f"{candidate:<10} {scenario:<9} {r['requests']:>8} {r['min_gap']:>8.3f}s "
                          f"{r['under_1s']:>7} {r['429']:>4} {r['ok_per_s']:>6.3f}", flush=True)
                    time.sleep(1.1)  # the next run starts with a clean window


if __name__ == "__main__":
    main()
