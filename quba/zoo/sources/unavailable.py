"""Source `unavailable`: a catalog row without public weights (its notes say why).

With an empty identifier (the paper's unreleased fine-tunes) there is nothing to build. With
``quba:<config>(<arg>)`` (quba/zoo/archs: CoDA-Net, TokenFormer) the architecture builds
without weights — ``pretrained=False``, ``quba zoo show ID --build``, or ``--checkpoint PATH``
with weights of your own — and only asking for the published weights fails.
"""
from __future__ import annotations

from quba.errors import QubaError


def load(row: dict, pretrained: bool, device="cpu"):
    if pretrained or not row.get("identifier"):
        own = (f"the architecture builds without weights ('quba zoo show {row['id']} --build'); with weights "
               f"of your own use 'quba evaluate {row['id']} --checkpoint PATH'"
               if row.get("identifier") else "with a checkpoint of your own use --checkpoint PATH --arch NAME")
        raise QubaError(f"{row['id']!r} is unavailable: {row.get('notes') or 'no public weights'}; {own}")
    from quba.zoo import archs

    return archs.build(row["identifier"], row["id"])


def check(row: dict) -> str | None:
    if not row.get("notes"):
        return "unavailable without a reason in notes"
    if row.get("identifier"):
        from quba.zoo import archs

        if archs.parse(row["identifier"]) is None:
            return f"unknown quba architecture {row['identifier']}"
    return None


def available(row: dict) -> bool:
    return False
