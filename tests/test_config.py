"""Settings: one table, layered defaults < config file < environment < overrides, typed and checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from viewer.config import SETTINGS, load_settings
from viewer.errors import ConfigError


def test_defaults_come_from_the_table() -> None:
    values = load_settings(environ={})
    assert values == {s.name: s.default for s in SETTINGS}


def test_layers_later_wins(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('port = 9000\ntile_quality = 70\nlimit_bounds = false\n')
    env = {"WSI_VIEWER_PORT": "9100", "WSI_VIEWER_SERVE_ASSOCIATED_IMAGES": "yes"}
    values = load_settings(config, environ=env, overrides={"TILE_QUALITY": 95})
    assert values["PORT"] == 9100  # env over file
    assert values["TILE_QUALITY"] == 95  # override over file
    assert values["LIMIT_BOUNDS"] is False  # file over default
    assert values["SERVE_ASSOCIATED_IMAGES"] is True
    via_env = load_settings(environ={"WSI_VIEWER_CONFIG": str(config)})
    assert via_env["PORT"] == 9000


@pytest.mark.parametrize(("env", "message"), [
    ({"WSI_VIEWER_PORT": "eighty"}, "WSI_VIEWER_PORT: PORT must be int"),
    ({"WSI_VIEWER_LIMIT_BOUNDS": "maybe"}, "LIMIT_BOUNDS must be bool"),
    ({"WSI_VIEWER_TILE_FORMAT": "gif"}, "TILE_FORMAT must be jpeg or png"),
    ({"WSI_VIEWER_TILE_QUALITY": "0"}, "TILE_QUALITY must be from 1 to 100"),
    ({"WSI_VIEWER_WORKERS": "0"}, "WORKERS must be at least 1"),
])
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_settings(environ=env)
    assert message in excinfo.value.message


def test_unknown_names_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'NOPE'"):
        load_settings(environ={}, overrides={"NOPE": 1})
    config = tmp_path / "c.toml"
    config.write_text("colour = 'red'\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings(config, environ={})
    config.write_text("port = \n")
    with pytest.raises(ConfigError, match="config file"):
        load_settings(config, environ={})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "missing.toml", environ={})
