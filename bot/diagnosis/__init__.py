"""Diagnosis: what a FAILED queue's err_msg means, from a catalogue drawn from Huawei's docs."""

from bot.diagnosis.catalogue import (
    Catalogue,
    Entry,
    default_catalogue,
    load_catalogue,
    packaged_path,
)
from bot.diagnosis.selfcheck import Finding, Value, self_check

__all__ = [
    "Catalogue",
    "Entry",
    "Finding",
    "Value",
    "default_catalogue",
    "load_catalogue",
    "packaged_path",
    "self_check",
]
