from pathlib import Path

import pytest

from photonflow.config import DEFAULT_PORT, load_config
from photonflow.errors import ConfigError


def test_defaults_without_files(tmp_path: Path) -> None:
    config = load_config(paths=[], environ={"HOME": str(tmp_path)})
    assert config.dataserver_port == DEFAULT_PORT
    assert config.dataserver_root == tmp_path / "PYMEData"
    assert config.chunk_size == 50
    assert config.token is None


def test_pyme_keys_are_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "dataserver-root: /data/pyme\n"
        "dataserver-filter: labA\n"
        "dataserver-port: 8080\n"
        "httpspooler-chunksize: 100\n"
        "clusterIO-hybridns: false\n"
    )
    config = load_config(paths=[cfg], environ={})
    assert config.dataserver_root == Path("/data/pyme")
    assert config.cluster == "labA"
    assert config.dataserver_port == 8080
    assert config.chunk_size == 100
    assert config.hybrid_ns is False


def test_precedence_file_then_env_then_overrides(tmp_path: Path) -> None:
    site, user = tmp_path / "site.yaml", tmp_path / "user.yaml"
    site.write_text("cluster: site\nchunk_size: 10\nfsync: true\n")
    user.write_text("cluster: user\n")
    env = {"PHOTONFLOW_CHUNK_SIZE": "20", "PHOTONFLOW_FSYNC": "no", "PYMEDATADIR": str(tmp_path)}
    config = load_config(paths=[site, user], environ=env, overrides={"cluster": "cli", "servers": None})
    assert config.cluster == "cli"
    assert config.chunk_size == 20
    assert config.fsync is False
    assert config.dataserver_root == tmp_path


def test_servers_from_comma_list() -> None:
    config = load_config(paths=[], environ={}, overrides={"servers": "http://a:1/, http://b:2"})
    assert config.servers == ("http://a:1", "http://b:2")


def test_unknown_keys_are_kept_in_extra(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("scheduler:\n  port: 8786\n")
    assert load_config(paths=[cfg], environ={}).extra == {"scheduler": {"port": 8786}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "must hold a mapping"),
        ("cluster: [unclosed\n", "not valid YAML"),
        ("dataserver_port: 70000\n", "not a TCP port"),
        ("fsync: maybe\n", "true or false"),
        ("cluster: a/b\n", "path separator"),
        ("chunk_size: 0\n", "at least 1"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(paths=[cfg], environ={})


def test_cli_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from photonflow.cli import main

    with pytest.raises(SystemExit) as excinfo:
        main(["--help"])
    assert excinfo.value.code == 0
    assert "photonflow" in capsys.readouterr().out


def test_mdns_interfaces_from_environment() -> None:
    config = load_config(paths=[], environ={"PHOTONFLOW_INTERFACES": "127.0.0.1, 10.0.0.2"})
    assert config.interfaces == ("127.0.0.1", "10.0.0.2")
    assert load_config(paths=[], environ={}).interfaces == ()
