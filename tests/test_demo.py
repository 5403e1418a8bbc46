"""`batcher demo` from nothing: no config anywhere, the whole job on the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_demo_runs_the_whole_job_from_an_empty_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHER_")}
    res = subprocess.run([sys.executable, "-m", "batcher", "demo"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    for step in range(1, 6):
        assert out.count(f"{step}. ") >= 1
    assert out.count("3. batcher run") == 1  # every step once
    assert "messages: 48 delivered, 1 not_delivered, 1 sent_final, 2 rejected, 6 not_sent" in out
    demo = tmp_path / "batcher-demo"
    assert sorted(p.name for p in (demo / "rejected").iterdir()) == [
        "clientes_promo_copia.csv", "clientes_promo_copia.errors.csv", "todos_ruins.csv", "todos_ruins.errors.csv"]
    assert not any(p.is_file() for p in (demo / "inbox").rglob("*"))  # every drop moved out
    assert len(list((demo / "archive").rglob("*.*"))) == 9  # 8 drops + clientes_promo.rejected.csv
    assert len(list((demo / "reports").glob("*.report.csv"))) >= 8
    assert "Traceback" not in res.stderr
    # the hints work as printed: the status command runs on the demo's config
    hint = next(line.strip() for line in out.splitlines() if line.strip().endswith(" status"))
    again = subprocess.run(hint.split(), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "FALHA" in again.stdout
    # and running it again starts afresh in the folder it made
    assert subprocess.run([sys.executable, "-m", "batcher", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120).returncode == 0
