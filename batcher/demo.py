"""`batcher demo`: the whole job end to end on the embedded simulator, nothing to configure.

It starts the simulator on free loopback ports, writes a real `batcher.toml` pointing
at it (trusting the simulator's host key by its printed fingerprint), drops two
realistic contact lists into an inbox, pushes them, waits for the platform's verdict,
and shows that pushing the same list again is refused. Everything it made stays in the
demo folder so the other commands can be tried on it afterwards.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from .errors import DuplicateDropError
from .pipeline import Delivery, exit_code_for_batches
from .settings import load_settings
from .store import Store
from .transport import SftpTransport

if TYPE_CHECKING:
    from .cli.output import Output
    from .sim import SimConfig, Simulator

__all__ = ["DEMO_MARKER", "run_demo"]

DEMO_MARKER = ".batcher-demo"

# Brazilian mobile numbers; the last three digits pick the simulator's outcome
# (see `batcher sim --help`): 104 not delivered, 998 carrier Oi, 202 invalid destination.
CLIENTES = (
    "Telefone;Mensagem;Referencia\r\n"
    "+55 (11) 98765-4321;Olá Ana! Sua fatura de novembro vence dia 10. Pague pelo app.;fat-1001\r\n"
    "(21) 99876-5104;Olá Bruno! Sua fatura de novembro vence dia 10.;fat-1002\r\n"
    "5531998877998;Olá Carla! Sua fatura de novembro vence dia 10.;fat-1003\r\n"
    "11 97654-3202;Olá Davi! Sua fatura de novembro vence dia 10.;fat-1004\r\n"
    "5.5119E+12;Olá Eva! (número estragado pelo Excel);fat-1005\r\n"
    "11987654321;Olá Ana! Sua fatura de novembro vence dia 10. Pague pelo app.;fat-1006\r\n"
    "1133334444;Telefone fixo não recebe SMS;fat-1007\r\n"
    "41 99123-4567;;fat-1008\r\n"
    '47 99234-5678;"Promoção; só hoje!\r\nResponda SAIR para não receber";fat-1009\r\n'
)
AVISOS = "".join(
    f"55{ddd}9{n:08d}\tAviso: sua entrega chega amanha entre 8h e 12h. Pedido {n}\n"
    for ddd, n in ((11, 12340001), (19, 55501234), (51, 80004321), (61, 70001111), (85, 33302222))
)


def run_demo(workdir: Path, *, output: Output, echo: Callable[[str], None] | None = None) -> int:
    """Run the demo in `workdir` (wiped first if an earlier demo made it). Returns the exit code."""
    from .cli.present import print_batches
    from .sim import SimConfig, Simulator

    console = output
    say = echo or console.print
    _prepare(workdir)
    config = SimConfig(
        root=workdir / "platform",
        port=0,
        api_port=0,
        scan_interval=0.1,
        eof_grace=10.0,
        sent_delay=0.5,
        delivered_delay=1.5,
    )
    with Simulator(config) as sim:
        say(f"[bold]1. The platform simulator[/bold] is listening on sftp://{sim.host}:{sim.sftp_port} "
            f"(host key {sim.fingerprint}) with its status API at {sim.api_url}")
        known_hosts = workdir / "state" / "known_hosts"
        known_hosts.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sim.known_hosts_path, known_hosts)
        cfg = workdir / "batcher.toml"
        cfg.write_text(_config_text(sim, config), encoding="utf-8")
        say(f"   wrote {cfg} and trusted the simulator's host key in {known_hosts}")

        inbox = workdir / "inbox" / "DEMO"
        inbox.mkdir(parents=True)
        clientes = inbox / "clientes.csv"
        clientes.write_bytes(CLIENTES.encode("cp1252"))
        avisos = inbox / "avisos.tsv"
        avisos.write_text(AVISOS, encoding="utf-8")
        say(f"\n[bold]2. Two drops[/bold] in {inbox}: {clientes.name} (Excel CSV, Windows-1252, ';', "
            f"a few bad rows) and {avisos.name} (UTF-8, TAB, no header)")

        settings = load_settings(cfg)
        with Store.open(settings.paths.state_dir) as store, SftpTransport(
            settings.sftp, settings.sftp_password()
        ) as transport:
            delivery = Delivery(settings, store, transport, emit=output.emit)
            ids: list[int] = []
            results = []
            for drop in (clientes, avisos):
                say(f"\n[bold]3. batcher push {drop.name}[/bold]")
                result = delivery.push(drop, project="DEMO")
                results.append(result)
                ids.extend(b.id for b in result.batches)
            say("\n[bold]4. Waiting for the platform[/bold] to move the files to success/ or error/")
            batches = delivery.wait(ids)
            print_batches(console, batches)
            delivery.mark_reported(results)

            say(f"\n[bold]5. Pushing {clientes.name} again[/bold] (same content, same project)")
            try:
                delivery.push(clientes, project="DEMO")
            except DuplicateDropError as exc:
                say(escape(f"   refused, as it should be: {exc}"))
            else:  # pragma: no cover - would be a bug
                say("   [red]it was accepted twice: this is a bug[/red]")
                return 1
        code = exit_code_for_batches(batches)
        say(f"\nDone (exit {code}). Everything is in {workdir}: try\n"
            f"   batcher --help\n"
            f"   BATCHER_CONFIG={cfg} batcher status\n"
            f"   BATCHER_CONFIG={cfg} batcher status {batches[0].remote_name}\n"
            f"   batcher sim --help   (the simulator's outcome rules)")
    return code


def _prepare(workdir: Path) -> None:
    if workdir.exists():
        if not (workdir / DEMO_MARKER).exists() and any(workdir.iterdir()):
            from .errors import ConfigError

            raise ConfigError(f"{workdir}: exists and was not made by `batcher demo`; choose another --dir")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / DEMO_MARKER).write_text("made by batcher demo; safe to delete\n", encoding="utf-8")


def _config_text(sim: Simulator, config: SimConfig) -> str:
    return f"""\
# written by `batcher demo` for the embedded simulator
[sftp]
host = "{sim.host}"
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
"""
