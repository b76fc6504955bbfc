"""Source `mini`: the mini zoo's models (quba/zoo/mini: small networks trained on QUBA-mini, weights
shipped in the package)."""
from __future__ import annotations

from quba.errors import QubaError
from quba.zoo.base import LoadedModel


def load_mini(model_id: str, *, pretrained: bool = True, device="cpu") -> LoadedModel:
    from quba.zoo import mini

    if not pretrained:
        module = mini.build(model_id)
        return LoadedModel(id=model_id, module=module.eval().to(device), input_size=(3, 32, 32), source="mini")
    if not hasattr(mini, "load"):
        raise QubaError(f"mini model {model_id!r} cannot be loaded yet: quba.zoo.mini.load is missing")
    loaded = mini.load(model_id)
    if isinstance(loaded, LoadedModel):
        loaded.module.to(device)
        return loaded
    return LoadedModel(id=model_id, module=loaded.eval().to(device), source="mini")


def load(row: dict, pretrained: bool, device="cpu") -> LoadedModel:
    return load_mini(row["id"], pretrained=pretrained, device=device)


def check(row: dict) -> str | None:
    return None


def available(row: dict) -> bool:
    return True
