"""Source `bcos`: identifier = a `bcos.models.pretrained` entry point (needs the bcos package)."""
from __future__ import annotations

import importlib.util

from quba.errors import QubaError
from quba.zoo.sources.common import Built, fetching, make_preprocess, torch_hub_dir


def load_bcos(row: dict, pretrained: bool):
    try:
        import bcos.models.pretrained as bp
    except ImportError:
        raise QubaError(f"{row['id']!r} needs the B-cos package: pip install bcos") from None
    entry = row["identifier"]
    if entry not in bp.list_available():
        raise QubaError(f"bcos has no pretrained entry {entry!r}")
    fn = getattr(bp, entry)
    if pretrained:
        with fetching(row["id"], "the B-cos v2 GitHub release (bcos package)"), torch_hub_dir():
            model = fn(pretrained=True, progress=True)
    else:
        model = fn(pretrained=False)
    # the package's eval transform: Resize(256), CenterCrop(224), to [0, 1], AddInverse (done in the module)
    pre = make_preprocess(256, 224, "bilinear")
    return model, pre, None, None


def load(row: dict, pretrained: bool, device="cpu") -> Built:
    model, pre, mean, std = load_bcos(row, pretrained)
    return Built(model, pre, mean, std, add_inverse=True)


def check(row: dict) -> str | None:
    import bcos.models.pretrained as bp

    return None if row["identifier"] in bp.list_available() else f"bcos has no entry {row['identifier']}"


def available(row: dict) -> bool:
    return importlib.util.find_spec("bcos") is not None
