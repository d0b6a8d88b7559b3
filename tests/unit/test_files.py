"""bot/files.py: a file of ours read as text, every problem one ConfigError line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.files import read_text, read_toml


def test_text_and_whether_others_may_read_it(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text("x = 'é'\n", encoding="utf-8")
    path.chmod(0o600)
    private = read_text(path, missing="gone")
    assert (private.text, private.others_can_read) == ("x = 'é'\n", False)
    path.chmod(0o644)
    assert read_text(path, missing="gone").others_can_read is True


def test_a_missing_file_says_what_its_absence_means(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        read_text(path, missing="the catalogue is missing")
    assert str(caught.value) == f"{path}: the catalogue is missing"


def test_bytes_that_are_not_utf8_and_unreadable_paths_are_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe x")
    with pytest.raises(ConfigError, match=r"b\.toml: not UTF-8 text$"):
        read_text(binary, missing="gone")
    with pytest.raises(ConfigError, match=r": cannot be read: Is a directory$"):
        read_text(tmp_path, missing="gone")


def test_toml_is_parsed_and_invalid_toml_is_one_line_that_leads_with_where(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[a]\nb = 1\n", encoding="utf-8")
    assert read_toml(path, missing="gone")[1] == {"a": {"b": 1}}
    path.write_text("[a]\nb = \n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_toml(path, missing="gone")
    assert str(caught.value) == f"{path}: line 2, column 5: invalid TOML: Invalid value"
