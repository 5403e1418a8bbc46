"""`batcher demo`: the whole job end to end on the embedded simulator, nothing to configure.

In a folder of its own (`batcher-demo/` unless --dir), with no config anywhere:

1. starts the platform simulator on free loopback ports and writes a throw-away
   `batcher.toml` pointing at it (trusting its host key by the fingerprint it printed);
2. drops the sample lists (`samples/drops`: CSV in Windows-1252 with bad rows, TSV,
   .xlsx, .xls, .ods, a CSV with line breaks in quotes) into `inbox/DEMO/`, one list
   into `inbox/FALHA/` (a project the simulator moves to error/), a list where every
   row is bad, and a copy of a list already dropped;
3. runs the cron pass (`batcher run`): each drop converted, uploaded, followed to
   success/ or error/, moved to archive/ or rejected/;
4. reconciles until every message is final, and runs once more to write the reports;
5. prints each message's outcome per batch and where everything went.

Everything stays in the folder, so the other commands can be tried on it afterwards.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError
from .jobs import Context, reconcile, run, status
from .settings import load_settings

if TYPE_CHECKING:
    from .cli.output import Output
    from .sim import SimConfig, Simulator

__all__ = ["DEMO_MARKER", "run_demo"]

DEMO_MARKER = ".batcher-demo"
ERROR_PROJECT = "FALHA"  # the simulator moves every file of this project to error/
ALL_BAD = "Telefone;Mensagem\n1133334444;fixo não recebe SMS\n5.5119E+12;número estragado pelo Excel\nabc;x\n"
# the last three digits pick the simulator's outcome (`batcher sim --help`)
MIXED = (
    "Celular do cliente;Mensagem;Pedido\n"
    "(11) 98765-4010;Olá Ana, seu pedido saiu para entrega.;P-1\n"
    "(21) 99876-5104;Olá Bruno, seu pedido saiu para entrega.;P-2\n"
    "(31) 99887-7998;Olá Carla, seu pedido saiu para entrega.;P-3\n"
    "(41) 99123-4202;Olá Davi, seu pedido saiu para entrega.;P-4\n"
    "(51) 99234-5203;Olá Eva, seu pedido saiu para entrega.;P-5\n"
)


def _command() -> str:
    """How the user runs batcher from where they are: the script they ran (`.venv/bin/
    batcher` after `make demo`), `batcher` when it came from PATH, else `python -m`."""
    script = sys.argv[0]
    if Path(script).name == "batcher":
        if os.sep not in script:
            return "batcher"
        path = Path(script).absolute()
        inside = path.is_relative_to(Path.cwd())
        return os.path.relpath(path) if inside else str(path)
    return f"{sys.executable} -m batcher"


def run_demo(workdir: Path, *, output: Output) -> int:
    """Run the demo in `workdir` (wiped first if an earlier demo made it). Returns 0 when
    every step did what it shows (a file moved to error/ is part of the show)."""
    from .cli.present import outcome_line, print_batches
    from .sim import Faults, SimConfig, Simulator

    say = output.print
    _prepare(workdir)
    config = SimConfig(
        root=workdir / "platform", port=0, api_port=0, scan_interval=0.1, eof_grace=10.0,
        sent_delay=0.5, delivered_delay=1.5, faults=Faults(error_projects=frozenset({ERROR_PROJECT})),
    )
    with Simulator(config) as sim:
        say(f"[bold]1. The platform simulator[/bold] listens on sftp://{sim.host}:{sim.sftp_port} "
            f"(host key {sim.fingerprint}), status API at {sim.api_url}")
        known_hosts = workdir / "state" / "known_hosts"
        known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(sim.known_hosts_path, known_hosts)
        cfg = workdir / "batcher.toml"
        cfg.write_text(_config_text(sim, config), encoding="utf-8")
        os.chmod(cfg, 0o600)
        say(f"   a throw-away config: {cfg}")

        drops = _drop_samples(workdir / "inbox")
        say(f"\n[bold]2. {len(drops)} files dropped[/bold] into {workdir / 'inbox'}:")
        for path, what in drops:
            say(f"   {path.relative_to(workdir)}: {what}")

        settings = load_settings(cfg, environ={k: v for k, v in os.environ.items()
                                               if not k.startswith("BATCHER_")})
        output.compact = True  # one line per file converted: the demo shows many
        ctx = Context(settings, emit=output.emit)
        say("\n[bold]3. batcher run[/bold]: convert, upload, follow each file to success/ or error/, "
            "move it out of the inbox")
        first = run(ctx)
        say("\n[bold]4. batcher reconcile --until-final[/bold]: every message's outcome from the status API")
        reconciled = reconcile(ctx, until_final=True, deadline=40)
        again = run(ctx)  # the reports of what changed since
        output.stop_progress()

        say("\n[bold]5. What happened[/bold] (batcher status)")
        with status(ctx, None) as view:
            print_batches(output, view.batches, view.outcomes)
        totals: Counter[str] = sum(view.outcomes.values(), start=Counter())
        say(f"   messages: {outcome_line(totals)}")
        for folder in ("archive", "rejected", "reports"):
            files = sorted(p for p in (workdir / folder).rglob("*") if p.is_file())
            say(f"   {folder}/: {len(files)} file(s)" + (f", e.g. {files[0].relative_to(workdir)}" if files else ""))

        ok = first.exit_code in (0, 3, 5) and reconciled.outstanding == 0 and again.exit_code in (0, 3, 5)
        cmd = _command()
        failed = next((b.remote_name for b in view.batches if b.project == ERROR_PROJECT), "")
        say(f"\nDone. Everything is in {workdir}; try:\n"
            f"   {cmd} --config {cfg} status\n"
            f"   {cmd} --config {cfg} report clientes_promo.csv\n"
            + (f"   {cmd} --config {cfg} status {failed}\n" if failed else "")
            + f"   {cmd} sim --help     (the simulator's outcome rules)")
    return 0 if ok else 1


def _drop_samples(inbox: Path) -> list[tuple[Path, str]]:
    demo = inbox / "DEMO"
    demo.mkdir(parents=True)
    (inbox / ERROR_PROJECT).mkdir()
    described = {
        "clientes_promo.csv": "Excel CSV in Windows-1252, ';', 3 bad rows among 20",
        "lembrete.xlsx": "Excel workbook, numeric phone cells",
        "entregas.xls": "legacy Excel 97-2003",
        "cobranca.ods": "LibreOffice, the header on row 3",
        "avisos.tsv": "UTF-8, TAB, no header",
        "pesquisa_multilinha.csv": "CSV UTF-8 with line breaks and ';' inside quotes",
    }
    out = []
    source = resources.files("batcher") / "demodrops"
    for name, what in described.items():
        target = demo / name
        target.write_bytes((source / name).read_bytes())
        out.append((target, what))
    failing = inbox / ERROR_PROJECT / "aviso_falha.tsv"
    failing.write_bytes((source / "avisos.tsv").read_bytes().replace(b"Aviso", b"Falha"))
    out.append((failing, f"for project {ERROR_PROJECT}: the simulator moves its file to error/"))
    mixed = demo / "entregas_hoje.csv"
    mixed.write_text(MIXED, encoding="utf-8")
    out.append((mixed, "a header with 'Celular do cliente'; one delivered, one not delivered, one on carrier "
                       "Oi (no delivery reports), two refused by the carrier"))
    bad = demo / "todos_ruins.csv"
    bad.write_text(ALL_BAD, encoding="utf-8")
    out.append((bad, "no valid row: refused as a whole"))
    copy = demo / "clientes_promo_copia.csv"
    copy.write_bytes((source / "clientes_promo.csv").read_bytes())
    out.append((copy, "the same content as clientes_promo.csv: not sent twice"))
    return out


def _prepare(workdir: Path) -> None:
    if workdir.exists():
        if not (workdir / DEMO_MARKER).exists() and any(workdir.iterdir()):
            raise ConfigError(f"{workdir}: exists and was not made by `batcher demo`; choose another --dir")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / DEMO_MARKER).write_text("made by batcher demo; safe to delete\n", encoding="utf-8")


def _config_text(sim: Simulator, config: SimConfig) -> str:
    return f"""\
# written by `batcher demo` for the embedded simulator (a throw-away config)
[sftp]
host = "{sim.connect_host}"
port = {sim.sftp_port}
username = "{config.username}"
password = "{config.password}"
known_hosts = "state/known_hosts"

[api]
base_url = "{sim.api_url}"
username = "{config.api_username}"
token = "{config.api_token}"

[paths]
inbox = "inbox"
state_dir = "state"
archive_dir = "archive"
rejected_dir = "rejected"
reports_dir = "reports"

[defaults]
project = "DEMO"

[poll]
interval = "0.2s"
max_interval = "1s"
timeout = "60s"

[watch]
settle_seconds = "0.3s"
"""
