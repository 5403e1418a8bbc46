"""Conversion speed and memory, both engines, as ratios against a baseline measured in the same run.

    python bench/convert.py [--rows 1000000] [--big-rows 5000000] [--xlsx-rows 200000] [--rounds 3]

(a) baseline: a bare `csv.reader` -> f"{a};{b};{c};\\n" copy of the same rows;
(b) batcher: `convert_drop` (read, sniff, validate every number and text, write the
    platform file), the real library path of `batcher convert`, once per engine:
    `engine="columnar"` (polars) and `engine="row"` (the reference); the .xlsx with
    `engine="auto"` (columnar through fastexcel) and the row path.
Each measurement runs in its own child process; the time is the best of `--rounds`
alternating runs (these machines are noisy), peak RSS is the child's ru_maxrss.
Targets (issue 11): columnar/baseline <= 1.0 on 1M rows; peak RSS < 200 MB on 1M rows
and, at `--big-rows`, at most 1.25x the 1M figure; xlsx >= 250,000 rows/s.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = r"""
import csv, json, resource, sys, time
src, dst = sys.argv[1], sys.argv[2]
t = time.perf_counter()
n = 0
with open(src, newline="", encoding="utf-8") as fin, open(dst, "w", encoding="utf-8", newline="") as fout:
    r = csv.reader(fin, delimiter=";")
    next(r)
    w = fout.write
    for a, b, c in r:
        w(f"{a};{b};{c};\n")
        n += 1
    w("EOF\n")
print(json.dumps({"seconds": time.perf_counter() - t, "rows": n,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

BATCHER = r"""
import json, resource, sys, time
from pathlib import Path
from batcher.convert import convert_drop
from batcher.settings import load_settings
src, out, engine = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
settings = load_settings(None, environ={}, overrides={"format": {"max_rows_per_file": 10_000_000}})
names = iter(f"BENCH.20260101.{i:02d}.txt" for i in range(1, 100))
t = time.perf_counter()
s = convert_drop(src, project="BENCH", settings=settings, out_dir=out, namer=lambda i: next(names), engine=engine)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": s.rows_read, "accepted": s.accepted,
                  "engine": s.engine, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

TEXTS = [
    "Olá {n}! Sua fatura de novembro vence dia 10. Pague pelo app e ganhe desconto.",
    "Promo relampago: 2 por 1 em todas as pizzas ate meia-noite. Pedido {n}",
    "Seu pedido {n} saiu para entrega e chega hoje entre 8h e 12h.",
    "Lembrete: consulta marcada para amanha as 14h30. Responda SIM para confirmar.",
]


def make_csv(path: Path, rows: int) -> None:
    rnd = random.Random(42)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("telefone;mensagem;referencia\n")
        for i in range(rows):
            ddd = rnd.choice((11, 21, 31, 41, 51, 61, 71, 81, 85, 19))
            number = f"55{ddd}9{rnd.randrange(10**8):08d}"
            if i % 10 == 0:  # some numbers as people type them
                number = f"+55 ({ddd}) 9{number[5:9]}-{number[9:]}"
            fh.write(f"{number};{TEXTS[i % 4].format(n=i)};ref-{i}\n")


def make_xlsx(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    rnd = random.Random(7)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Contatos")
    ws.append(["celular", "texto", "id"])
    for i in range(rows):
        ws.append([int(f"55119{rnd.randrange(10**8):08d}"), TEXTS[i % 4].format(n=i), f"x{i}"])
    wb.save(path)


def child(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def convert(tmpd: Path, src: Path, engine: str, tag: str) -> dict:
    out = tmpd / f"out-{tag}-{engine}"
    out.mkdir()
    result = child(BATCHER, str(src), str(out), engine)
    for f in out.iterdir():  # keep the disk free between runs
        f.unlink()
    out.rmdir()
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big-rows", type=int, default=5_000_000, help="0: skip the memory-growth run")
    ap.add_argument("--xlsx-rows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-row", action="store_true", help="only the columnar engine (the row path takes ~10 s/1M)")
    args = ap.parse_args()
    engines = ["columnar"] if args.skip_row else ["columnar", "row"]

    with tempfile.TemporaryDirectory(prefix="batcher-bench-") as tmp:
        tmpd = Path(tmp)
        csv_path = tmpd / "drop.csv"
        t = time.perf_counter()
        make_csv(csv_path, args.rows)
        print(f"generated {args.rows:,} CSV rows ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")

        base: list[dict] = []
        runs: dict[str, list[dict]] = {e: [] for e in engines}
        for r in range(args.rounds):
            base.append(child(BASELINE, str(csv_path), str(tmpd / f"copy{r}.txt")))
            (tmpd / f"copy{r}.txt").unlink()
            for engine in engines:
                runs[engine].append(convert(tmpd, csv_path, engine, f"r{r}"))
        b = min(x["seconds"] for x in base)
        print(f"baseline csv copy : {b:6.2f} s  {args.rows / b:>10,.0f} rows/s  (peak RSS {max(x['rss_mb'] for x in base):.0f} MB)")
        rss_1m: dict[str, float] = {}
        for engine in engines:
            c = min(x["seconds"] for x in runs[engine])
            rss_1m[engine] = max(x["rss_mb"] for x in runs[engine])
            used = {x["engine"] for x in runs[engine]}
            print(f"batcher {engine:9s} : {c:6.2f} s  {args.rows / c:>10,.0f} rows/s  (peak RSS {rss_1m[engine]:.0f} MB, "
                  f"{runs[engine][0]['accepted']:,} accepted, engine used: {', '.join(sorted(used))})")
            target = "  (target <= 1.0)" if engine == "columnar" else ""
            print(f"RATIO {engine}/baseline = {c / b:.2f}{target}")
        for engine in engines:
            print(f"PEAK RSS {engine} {args.rows:,} rows = {rss_1m[engine]:.0f} MB  (target < 200 at 1M)")

        if args.big_rows:
            csv_path.unlink()
            big = tmpd / "big.csv"
            t = time.perf_counter()
            make_csv(big, args.big_rows)
            print(f"generated {args.big_rows:,} CSV rows ({big.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
            for engine in engines:
                run = convert(tmpd, big, engine, "big")
                print(f"batcher {engine:9s} : {run['seconds']:6.2f} s for {args.big_rows:,} rows; PEAK RSS = "
                      f"{run['rss_mb']:.0f} MB = {run['rss_mb'] / rss_1m[engine]:.2f}x the 1M figure  (target <= 1.25)")
            big.unlink()

        if args.xlsx_rows:
            xlsx = tmpd / "drop.xlsx"
            t = time.perf_counter()
            make_xlsx(xlsx, args.xlsx_rows)
            print(f"generated {args.xlsx_rows:,} xlsx rows in {time.perf_counter() - t:.1f} s")
            xruns: dict[str, list[dict]] = {e: [] for e in ("auto", *engines[1:])}
            for r in range(args.rounds):
                for engine in xruns:
                    xruns[engine].append(convert(tmpd, xlsx, engine, f"x{r}"))
            for engine, done in xruns.items():
                x = min(run["seconds"] for run in done)
                target = "target >= 250,000; " if engine == "auto" else ""
                print(f"batcher xlsx {engine:4s} : {x:6.2f} s  XLSX ROWS/S = {args.xlsx_rows / x:,.0f}  ({target}"
                      f"peak RSS {max(run['rss_mb'] for run in done):.0f} MB, engine used: {done[0]['engine']})")


if __name__ == "__main__":
    main()
