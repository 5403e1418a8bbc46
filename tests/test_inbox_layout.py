"""Which files of the inbox are drops (batcher/inbox/layout.py, scan.list_inbox) and which
project a drop sends as, on the real file system; `--project ""` is exit 2 (issue 9)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from batcher.errors import ConfigError
from batcher.inbox import InboxLayout, check_project, is_temporary_name, list_inbox, project_for
from batcher.inbox.layout import Decision, EntryKind, classify
from batcher.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
CSV = "numero;mensagem\n5511987654321;Olá\n"


def settings_for(tmp_path: Path, **paths: str) -> object:
    body = "[defaults]\nproject = \"DEF\"\n[paths]\n" + "".join(f'{k} = "{v}"\n' for k, v in paths.items())
    cfg = tmp_path / "batcher.toml"
    cfg.write_text(body, encoding="utf-8")
    return load_settings(cfg, environ={})


# -- names (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "~$lista.xlsx", ".~lock.lista.csv#", ".lista.csv.swp", "lista.csv.part", "lista.csv.PART", "lista.tmp",
    "lista.csv.crdownload", "lista.csv.filepart", "lista.csv.partial", "lista.csv.download", ".hidden.csv",
    "lista.csv~", "#lista.csv#", "Thumbs.db", "desktop.ini", ".DS_Store", ".lista.csv.AbC123",
])
def test_temporary_and_hidden_names_are_never_drops(name: str) -> None:
    assert is_temporary_name(name)
    assert classify((name,), EntryKind.FILE).decision is Decision.IGNORE
    assert classify(("PROJ", name), EntryKind.FILE).decision is Decision.IGNORE


@pytest.mark.parametrize("name", ["lista.csv", "LISTA.CSV", "a.tsv", "a.txt", "a.xlsx", "a.XLSM", "a.xls", "a.ods",
                                  "lista~final.csv", "x#.csv"])
def test_supported_names_are_drops_at_both_levels(name: str) -> None:
    assert classify((name,), EntryKind.FILE).decision is Decision.DROP
    assert classify(("PROJ", name), EntryKind.FILE).decision is Decision.DROP


def test_what_is_left_alone_is_said_with_a_reason() -> None:
    pdf = classify(("P", "x.pdf"), EntryKind.FILE)
    assert pdf.decision is Decision.SKIP and "unsupported file type (.pdf)" in pdf.reason
    assert "no extension" in classify(("P", "README"), EntryKind.FILE).reason
    link = classify(("P", "x.csv"), EntryKind.SYMLINK)
    assert link.decision is Decision.SKIP and "symbolic link" in link.reason
    assert "not a regular file" in classify(("P", "x.csv"), EntryKind.OTHER).reason
    deep = classify(("P", "sub"), EntryKind.DIR)
    assert deep.decision is Decision.SKIP and "INBOX/P/FILE" in deep.reason
    bad = classify(("Campanha Natal",), EntryKind.DIR)
    assert bad.decision is Decision.SKIP and "not a valid project name" in bad.reason
    assert classify(("PROJ_1-a",), EntryKind.DIR).decision is Decision.DESCEND
    assert classify((".git",), EntryKind.DIR).decision is Decision.IGNORE
    root = classify(("x.csv",), EntryKind.FILE, default_project=False)
    assert root.decision is Decision.SKIP and "[defaults] project" in root.reason


# -- the walk (real files) ------------------------------------------------------------


def test_list_inbox_on_a_real_tree(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "ACME" / "sub").mkdir(parents=True)
    (inbox / "ACME" / "lista.csv").write_text(CSV)
    (inbox / "ACME" / "~$lista.xlsx").write_text("owner")
    (inbox / "ACME" / "lista.csv.part").write_text(CSV)
    (inbox / "ACME" / ".~lock.lista.csv#").write_text("lock")
    (inbox / "ACME" / "notes.pdf").write_text("x")
    (inbox / "ACME" / "sub" / "deep.csv").write_text(CSV)
    (inbox / "root.csv").write_text(CSV)
    (inbox / ".Trash-0").mkdir()
    (inbox / ".Trash-0" / "old.csv").write_text(CSV)
    (inbox / "Campanha Natal").mkdir()
    (inbox / "Campanha Natal" / "natal.csv").write_text(CSV)
    outside = tmp_path / "secret.csv"
    outside.write_text(CSV)
    (inbox / "ACME" / "link.csv").symlink_to(outside)
    (inbox / "LINKED").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(inbox / "ACME" / "fifo.csv")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(inbox / "ACME" / "sock.csv"))
        listing = list_inbox(InboxLayout.create(inbox))

    real = inbox.resolve()
    assert sorted(listing.drops) == [real / "ACME" / "lista.csv", real / "root.csv"]
    drop = listing.drops[real / "ACME" / "lista.csv"]
    assert drop.relative == PurePosixPath("ACME/lista.csv") and drop.folder == "ACME"
    assert drop.stat.size == len(CSV.encode()) and drop.unchanged()
    assert listing.drops[real / "root.csv"].folder is None
    skipped = {s.path.relative_to(real).as_posix(): s.reason for s in listing.skipped}
    assert set(skipped) == {"ACME/notes.pdf", "ACME/sub", "ACME/link.csv", "LINKED", "ACME/fifo.csv",
                            "ACME/sock.csv", "Campanha Natal"}
    assert "symbolic link" in skipped["ACME/link.csv"] and "symbolic link" in skipped["LINKED"]
    assert "not a regular file" in skipped["ACME/fifo.csv"]


def test_batchers_own_folders_inside_the_inbox_are_never_read(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, inbox="inbox", archive_dir="inbox/archive", rejected_dir="inbox/rejected",
                            state_dir="inbox/ACME/state", reports_dir="inbox/reports")
    inbox = tmp_path / "inbox"
    for rel in ("archive/20261201/lista.csv", "rejected/lista.csv", "rejected/lista.errors.csv",
                "reports/r.csv", "ACME/state/x.csv", "ACME/new.csv"):
        (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
        (inbox / rel).write_text(CSV)
    listing = list_inbox(InboxLayout.from_settings(settings))  # type: ignore[arg-type]
    assert [p.name for p in listing.drops] == ["new.csv"]
    assert listing.skipped == []  # not even a notice: they are batcher's


def test_archive_or_rejected_folder_holding_the_inbox_is_a_config_error(tmp_path: Path) -> None:
    for key, value in (("archive_dir", "inbox"), ("rejected_dir", "."), ("archive_dir", "inbox/..")):
        settings = settings_for(tmp_path, inbox="inbox", **{key: value})
        with pytest.raises(ConfigError, match=rf"\[paths\] {key} .* is the inbox or contains it"):
            InboxLayout.from_settings(settings)  # type: ignore[arg-type]


def test_files_directly_in_the_inbox_without_a_default_project_are_left_alone(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "P").mkdir(parents=True)
    (inbox / "x.csv").write_text(CSV)
    (inbox / "P" / "y.csv").write_text(CSV)
    listing = list_inbox(InboxLayout.create(inbox, default_project=False))
    assert [p.name for p in listing.drops] == ["y.csv"]
    assert [s.path.name for s in listing.skipped] == ["x.csv"]


def test_a_missing_inbox_raises_rather_than_looking_empty(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list_inbox(InboxLayout.create(tmp_path / "nowhere"))


# -- the project ------------------------------------------------------------------------


def test_project_for_follows_the_layout(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, inbox="inbox")
    inbox = tmp_path / "inbox"
    assert project_for(inbox / "ACME" / "l.csv", settings) == "ACME"  # type: ignore[arg-type]
    assert project_for(inbox / "l.csv", settings) == "DEF"  # type: ignore[arg-type]
    assert project_for(inbox / "ACME" / "l.csv", settings, "OVR") == "OVR"  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="inbox folder of"):
        project_for(inbox / "has space" / "l.csv", settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", " ", "\t"])
def test_an_empty_or_blank_override_is_an_error_not_the_default(tmp_path: Path, value: str) -> None:
    settings = settings_for(tmp_path, inbox="inbox")
    with pytest.raises(ConfigError, match=r"given by --project is empty"):
        project_for(tmp_path / "l.csv", settings, value)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="is empty"):
        check_project(value, source="--project")


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_default_project_from_the_environment_is_a_config_error(
    tmp_path: Path, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"BATCHER_DEFAULTS__PROJECT: \[defaults\] project: .*cannot be empty"):
        load_settings(None, environ={"BATCHER_DEFAULTS__PROJECT": value})
    cfg = tmp_path / "b.toml"
    cfg.write_text(f'[defaults]\nproject = "{value}"\n')
    with pytest.raises(ConfigError, match="cannot be empty"):
        load_settings(cfg, environ={})


def _batcher(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BATCHER_")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "batcher", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", [["convert", "-o", "out"], ["push", "--dry-run"]])
def test_empty_project_option_exits_2_through_the_cli(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "batcher.toml").write_text('[defaults]\nproject = "DEFAULTPROJ"\n')
    (tmp_path / "l.csv").write_text(CSV, encoding="utf-8")
    done = _batcher(command[0], "l.csv", "--project", "", *command[1:], cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--project is empty" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_empty_default_project_in_the_environment_exits_2_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text(CSV, encoding="utf-8")
    done = _batcher("convert", "l.csv", "-o", "out", cwd=tmp_path, env={"BATCHER_DEFAULTS__PROJECT": ""})
    assert done.returncode == 2, done.stderr
    assert "BATCHER_DEFAULTS__PROJECT" in done.stderr and "cannot be empty" in done.stderr
    assert "Traceback" not in done.stderr
