"""Source `unavailable`: a catalog row without public weights (its notes say why)."""
from __future__ import annotations

from quba.errors import QubaError


def load(row: dict, pretrained: bool, device="cpu"):
    raise QubaError(f"{row['id']!r} is unavailable: {row.get('notes') or 'no public weights'}; "
                    "with a checkpoint of your own use --checkpoint PATH --arch NAME")


def check(row: dict) -> str | None:
    return None if row.get("notes") else "unavailable without a reason in notes"


def available(row: dict) -> bool:
    return False
