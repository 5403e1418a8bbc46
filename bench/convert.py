"""Conversion speed and memory, as ratios against a baseline measured in the same run.

    python bench/convert.py [--rows 1000000] [--xlsx-rows 200000] [--rounds 3]

(a) baseline: a bare `csv.reader` -> f"{a};{b};{c};\\n" copy of the same rows;
(b) batcher: `convert_drop` (read, sniff, validate every number and text, write the
    platform file), the real library path of `batcher convert`.
Each measurement runs in its own child process; the time is the best of `--rounds`
alternating runs (these machines are noisy), peak RSS is the child's ru_maxrss.
Targets (issue 2 / SPEC 7): ratio b/a <= 3, peak RSS < 200 MB on 1M rows,
xlsx >= 100,000 rows/s.
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
src, out = Path(sys.argv[1]), Path(sys.argv[2])
settings = load_settings(None, environ={}, overrides={"format": {"max_rows_per_file": 10_000_000}})
names = iter(f"BENCH.20260101.{i:02d}.txt" for i in range(1, 100))
t = time.perf_counter()
s = convert_drop(src, project="BENCH", settings=settings, out_dir=out, namer=lambda i: next(names))
print(json.dumps({"seconds": time.perf_counter() - t, "rows": s.rows_read, "accepted": s.accepted,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
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
            if i % 10 == 0:  # some numbers as people type them: the slow path
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--xlsx-rows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="batcher-bench-") as tmp:
        tmpd = Path(tmp)
        csv_path = tmpd / "drop.csv"
        t = time.perf_counter()
        make_csv(csv_path, args.rows)
        print(f"generated {args.rows:,} CSV rows ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")

        base, conv = [], []
        for r in range(args.rounds):
            base.append(child(BASELINE, str(csv_path), str(tmpd / f"copy{r}.txt")))
            out = tmpd / f"out{r}"
            out.mkdir()
            conv.append(child(BATCHER, str(csv_path), str(out)))
        b = min(x["seconds"] for x in base)
        c = min(x["seconds"] for x in conv)
        rss = max(x["rss_mb"] for x in conv)
        print(f"baseline csv copy : {b:6.2f} s  {args.rows / b:>10,.0f} rows/s  (peak RSS {max(x['rss_mb'] for x in base):.0f} MB)")
        print(f"batcher convert   : {c:6.2f} s  {args.rows / c:>10,.0f} rows/s  (peak RSS {rss:.0f} MB, "
              f"{conv[0]['accepted']:,} accepted)")
        print(f"RATIO batcher/baseline = {c / b:.2f}  (target <= 3)")
        print(f"PEAK RSS = {rss:.0f} MB  (target < 200)")

        if args.xlsx_rows:
            xlsx = tmpd / "drop.xlsx"
            t = time.perf_counter()
            make_xlsx(xlsx, args.xlsx_rows)
            print(f"generated {args.xlsx_rows:,} xlsx rows in {time.perf_counter() - t:.1f} s")
            runs = []
            for r in range(args.rounds):
                out = tmpd / f"xout{r}"
                out.mkdir()
                runs.append(child(BATCHER, str(xlsx), str(out)))
            x = min(run["seconds"] for run in runs)
            print(f"batcher xlsx      : {x:6.2f} s  XLSX ROWS/S = {args.xlsx_rows / x:,.0f}  (target >= 100,000; "
                  f"peak RSS {max(run['rss_mb'] for run in runs):.0f} MB)")


if __name__ == "__main__":
    main()
