"""Reading the bot's own files (configuration, diagnosis catalogue): every problem one line."""

from __future__ import annotations

import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import ConfigError


@dataclass(frozen=True)
class FileText:
    """A file's text, and whether users other than its owner may read it (secrets must not)."""

    text: str
    others_can_read: bool


def read_text(path: Path, *, missing: str) -> FileText:
    """`path` as UTF-8 text; a problem is a ConfigError naming the file, `missing` saying what
    an absent one means."""
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{path}: {missing}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    return FileText(text, others_can_read=bool(stat.S_IMODE(mode) & 0o077))


def read_toml(path: Path, *, missing: str) -> tuple[FileText, dict[str, Any]]:
    """`path` read as above and parsed as TOML; invalid TOML is one ConfigError line that
    leads with where it is."""
    file = read_text(path, missing=missing)
    try:
        return file, tomllib.loads(file.text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {_toml_problem(str(exc))}") from None


def _toml_problem(message: str) -> str:
    # tomllib says "Invalid value (at line 3, column 5)": lead with the place, like every line.
    if found := re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message):
        text, line, column = found.groups()
        return f"line {line}, column {column}: invalid TOML: {text}"
    return f"invalid TOML: {message}"
