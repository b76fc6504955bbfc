"""Source `hub`: weights published outside the libraries' own registries. The identifier's
prefix names the kind, each a source of its own (`KINDS`):

  timm:<name.tag>          a timm architecture, weights from the URL in pretrained_tag
  quba:<builder>(<arg>)    a quba builder (quba/zoo/sources/builders.py), weight URLs in pretrained_tag
  robustbench:<name>       quba/zoo/sources/robustbench.py
  mobileclip:<name>        quba/zoo/sources/mobileclip.py
"""
from __future__ import annotations

import importlib
import re

from quba.errors import QubaError
from quba.zoo.sources.common import Built, load_into, url_state_dict

_BUILDER_RE = re.compile(r"^quba:(\w+)\((.*)\)$")


def kind(identifier: str) -> str:
    """The prefix of a hub identifier ('' without one)."""
    return identifier.split(":", 1)[0] if ":" in identifier else ""


class _TimmURL:
    """`timm:<name.tag>`: a timm architecture with weights from a URL."""

    @staticmethod
    def load(row, pretrained, device="cpu"):
        from quba.zoo.sources.timm import timm_create, timm_preprocess

        ident, tag = row["identifier"], row["pretrained_tag"]
        model = timm_create(ident.split(":", 1)[1], pretrained=False, model_id=row["id"])
        if pretrained:
            load_into(model, url_state_dict(tag, row["id"]), f"weights of {row['id']!r} ({tag})")
        return Built(model, *timm_preprocess(model))

    @staticmethod
    def check(row):
        from quba.zoo.sources.timm import pretrained_names

        ident, tag = row["identifier"], row["pretrained_tag"]
        if ident.split(":", 1)[1] not in pretrained_names():
            return f"timm has no pretrained {ident}"
        return None if tag.startswith("https://") else "hub timm entry needs a weights URL"

    @staticmethod
    def available(row):
        return True


class _Builder:
    """`quba:<builder>(<arg>)`: a quba builder over public weights."""

    @staticmethod
    def _find(row):
        from quba.zoo.sources.builders import BUILDERS

        m = _BUILDER_RE.match(row["identifier"])
        return (BUILDERS[m.group(1)], m.group(2)) if m and m.group(1) in BUILDERS else (None, None)

    @classmethod
    def load(cls, row, pretrained, device="cpu"):
        fn, arg = cls._find(row)
        if fn is None:
            raise QubaError(f"{row['id']!r} names an unknown quba builder {row['identifier']!r}")
        urls = [u for u in row["pretrained_tag"].split(";") if u]
        return Built(fn(arg, urls, pretrained, row["id"]))

    @classmethod
    def check(cls, row):
        from quba.zoo.sources.timm import pretrained_names

        fn, arg = cls._find(row)
        if fn is None:
            return f"unknown quba builder {row['identifier']}"
        if "." in arg and arg not in pretrained_names():
            return f"timm has no pretrained {arg}"
        if not arg.isdigit() and "." not in arg:
            import torchvision.models as tvm

            if arg not in tvm.list_models():
                return f"torchvision has no model {arg}"
        urls = [u for u in row["pretrained_tag"].split(";") if u]
        return None if urls and all(u.startswith("https://") for u in urls) else "builder needs weight URLs"

    @staticmethod
    def available(row):
        return True


#: identifier prefix -> the source that loads it (a class here, or a module of this package)
KINDS = {"timm": _TimmURL, "quba": _Builder, "robustbench": "robustbench", "mobileclip": "mobileclip"}


def _of(row: dict):
    k = KINDS.get(kind(row["identifier"]))
    if isinstance(k, str):
        k = importlib.import_module(f"quba.zoo.sources.{k}")
    return k


def load(row: dict, pretrained: bool, device="cpu") -> Built:
    k = _of(row)
    if k is None:
        raise QubaError(f"{row['id']!r} has hub identifier {row['identifier']!r} of unknown kind")
    return k.load(row, pretrained, device)


def check(row: dict) -> str | None:
    k = _of(row)
    return f"unknown hub identifier {row['identifier']}" if k is None else k.check(row)


def available(row: dict) -> bool:
    k = _of(row)
    return k is not None and k.available(row)
