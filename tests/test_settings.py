"""Configuration (SPEC 6): where it is found, what overrides what, and how errors read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from batcher.cli import cli
from batcher.errors import ConfigError
from batcher.settings import load_settings
from batcher.starter import STARTER_CONFIG


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(None, environ={})
    assert (s.sftp.port, s.sftp.upload_mode, s.api.requests_per_second) == (2222, "direct", 1.0)
    assert (s.defaults.country, s.format.max_rows_per_file, s.poll.timeout) == ("BR", 100_000, 7200.0)
    assert s.paths.inbox == tmp_path / "inbox"
    assert s.sftp.known_hosts == tmp_path / "state" / "known_hosts"


def test_explicit_path_then_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "batcher.toml", '[defaults]\nproject = "CWD"\n')
    env_cfg = write(tmp_path / "env.toml", '[defaults]\nproject = "ENV"\n')
    opt_cfg = write(tmp_path / "opt.toml", '[defaults]\nproject = "OPT"\n')
    assert load_settings(None, environ={}).defaults.project == "CWD"
    assert load_settings(None, environ={"BATCHER_CONFIG": str(env_cfg)}).defaults.project == "ENV"
    assert load_settings(opt_cfg, environ={"BATCHER_CONFIG": str(env_cfg)}).defaults.project == "OPT"


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found.*batcher init"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "b.toml", '[sftp]\nport = 2222\nhost = "a"\n[poll]\ntimeout = "2h"\n')
    s = load_settings(cfg, environ={"BATCHER_SFTP__PORT": "2022", "BATCHER_POLL__TIMEOUT": "90s"})
    assert (s.sftp.port, s.sftp.host, s.poll.timeout) == (2022, "a", 90.0)


def test_secret_from_file_and_never_in_repr(tmp_path: Path) -> None:
    secret = write(tmp_path / "pw", "hunter2-very-secret\n")
    cfg = write(tmp_path / "b.toml", f'[sftp]\npassword_file = "{secret.name}"\n[api]\ntoken = "tok-123456"\n')
    s = load_settings(cfg, environ={})
    assert s.sftp_password() == "hunter2-very-secret"  # trailing newline dropped
    assert s.api_token() == "tok-123456"
    assert "hunter2" not in repr(s) and "tok-123456" not in repr(s) and "tok-123456" not in str(s.model_dump())


def test_unreadable_secret_file_names_the_key(tmp_path: Path) -> None:
    cfg = write(tmp_path / "b.toml", '[api]\ntoken_file = "/nonexistent/token"\n')
    s = load_settings(cfg, environ={})
    with pytest.raises(ConfigError, match=r"\[api\] token_file.*cannot read"):
        s.api_token()


def test_errors_name_key_source_and_expected_form(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "b.toml",
        '[sftp]\nport = "abc"\npassword = "p@ss-not-to-show"\nupload_mode = "ftp"\n'
        '[defaults]\nproject = "has space"\ntimezone = "Mars/Base"\n[txt]\nx = 1\n',
    )
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={"BATCHER_API__REQUESTS_PER_SECOND": "-1"})
    msg = str(err.value)
    assert f"{cfg}: [sftp] port" in msg
    assert "[sftp] upload_mode" in msg and "'direct'" in msg
    assert "[defaults] project" in msg and "A-Z a-z 0-9 _ -" in msg
    assert "[defaults] timezone" in msg and "IANA" in msg
    assert "[txt]: unknown section; did you mean [text]?" in msg  # a section, not "unknown key"
    assert "environment variable BATCHER_API__REQUESTS_PER_SECOND: [api] requests_per_second" in msg
    assert "p@ss-not-to-show" not in msg


def test_bad_secret_value_is_reported_without_the_value(tmp_path: Path) -> None:
    cfg = write(tmp_path / "b.toml", "[sftp]\npassword = 12345678901\n")
    # a number is not a string: refused, and the error must not echo the value
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    assert "[sftp] password" in str(err.value)
    assert "12345678901" not in str(err.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "b.toml", "[sftp\nport=1\n")
    with pytest.raises(ConfigError, match=r"b\.toml: not valid TOML"):
        load_settings(cfg, environ={})


def test_relative_paths_follow_the_config_file_not_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etc").mkdir()
    cfg = write(tmp_path / "etc" / "b.toml", '[paths]\ninbox = "../drops"\nstate_dir = "/var/x"\n')
    monkeypatch.chdir("/")
    s = load_settings(cfg, environ={})
    assert s.paths.inbox.resolve() == (tmp_path / "drops").resolve()
    assert s.paths.state_dir == Path("/var/x")
    assert s.sftp.known_hosts == Path("/var/x/known_hosts")


def test_init_writes_a_config_that_loads_with_every_section(tmp_path: Path) -> None:
    out = tmp_path / "batcher.toml"
    res = CliRunner().invoke(cli, ["init", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8") == STARTER_CONFIG
    s = load_settings(out, environ={})
    assert s.sftp.host == "ftp-messaging.wavy.global"
    for section in ("[sftp]", "[api]", "[paths]", "[defaults]", "[text]", "[format]", "[poll]", "[watch]"):
        assert section in STARTER_CONFIG
    again = CliRunner().invoke(cli, ["init", "-o", str(out)])
    assert again.exit_code != 0 and "already exists" in str(again.exception or again.output)


def test_config_error_exits_2_from_the_real_command(tmp_path: Path) -> None:
    write(tmp_path / "batcher.toml", "[sftp]\nport = 0\n")
    src = write(tmp_path / "l.csv", "numero,texto\n11987654321,oi\n")
    res = subprocess.run(
        [sys.executable, "-m", "batcher", "convert", str(src), "-o", "out"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "BATCHER_CONFIG": ""},
    )
    assert res.returncode == 2
    assert "[sftp] port" in res.stderr
