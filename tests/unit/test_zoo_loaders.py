"""Loaders: [0,1] images -> logits with the source's own preprocessing, local
checkpoints (and refusal of code-running pickles), custom files, offline errors,
and the quba recipes' known properties. Nothing here downloads."""
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from quba.errors import QubaError
from quba.zoo import load_model
from quba.zoo.catalog import get
from quba.zoo.sources import common, load_row

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))


def _no_normalize(pre):
    from torchvision import transforms as T

    return not any(isinstance(t, T.Normalize) for t in pre.transforms)


def test_classifier_normalises_inside():
    inner = torch.nn.Identity()
    clf = common.Classifier(inner, (0.5, 0.25, 0.0), (0.5, 0.5, 2.0))
    x = torch.rand(2, 3, 4, 4)
    expected = (x - torch.tensor([0.5, 0.25, 0.0]).view(1, 3, 1, 1)) / torch.tensor([0.5, 0.5, 2.0]).view(1, 3, 1, 1)
    assert torch.allclose(clf(x), expected)
    inv = common.Classifier(inner, add_inverse=True)
    assert torch.allclose(inv(x), torch.cat([x, 1 - x], dim=1))


def test_torchvision_preprocess_equals_weights_transforms(image):
    import torchvision.models as tvm

    m = load_model("ResNet18", pretrained=False)
    assert _no_normalize(m.preprocess) and m.input_size == (3, 224, 224) and m.num_classes == 1000
    ours = m.preprocess(image)
    assert ours.min() >= 0 and ours.max() <= 1
    ref = tvm.ResNet18_Weights.IMAGENET1K_V1.transforms()(image)
    mean, std = torch.tensor(m.meta["mean"]).view(3, 1, 1), torch.tensor(m.meta["std"]).view(3, 1, 1)
    assert torch.allclose((ours - mean) / std, ref, atol=1e-5)
    with torch.no_grad():
        logits = m.module(ours.unsqueeze(0))
    assert logits.shape == (1, 1000)
    assert m.fingerprint_override is None  # random weights: fingerprint is the weights' hash


def test_timm_preprocess_equals_timm_transform(image):
    from timm.data import create_transform, resolve_data_config

    m = load_model("DeiT-t", pretrained=False)
    assert _no_normalize(m.preprocess)
    cfg = resolve_data_config({}, model=m.module.model)
    ref = create_transform(**cfg)(image)
    mean, std = torch.tensor(cfg["mean"]).view(3, 1, 1), torch.tensor(cfg["std"]).view(3, 1, 1)
    assert torch.allclose((m.preprocess(image) - mean) / std, ref, atol=1e-5)
    assert m.input_size == (3, 224, 224)


def test_open_clip_preprocess_equals_open_clip_transform(image):
    import open_clip

    m = load_model("clip-resnet50", pretrained=False, device="meta")  # no memory: only shapes and counts
    assert _no_normalize(m.preprocess)
    cfg = open_clip.get_pretrained_cfg("RN50-quickgelu", "openai")
    ref_pre = open_clip.image_transform(224, is_train=False, mean=cfg["mean"], std=cfg["std"],
                                        interpolation=cfg["interpolation"], resize_mode=cfg["resize_mode"])
    mean, std = torch.tensor(m.meta["mean"]).view(3, 1, 1), torch.tensor(m.meta["std"]).view(3, 1, 1)
    assert torch.allclose((m.preprocess(image) - mean) / std, ref_pre(image), atol=1e-5)
    assert m.parameters_full_m > m.parameters_m  # text tower counted only in the full count


def test_paper_transform_overrides_the_library_config(image):
    m = load_model("Hiera-T", pretrained=False)  # paper: Resize(224), CenterCrop(224), ImageNet mean/std
    from torchvision import transforms as T

    resize = [t for t in m.preprocess.transforms if isinstance(t, T.Resize)][0]
    assert resize.size == 224 and m.meta["mean"] == common.IMAGENET_MEAN
    assert m.preprocess(image).shape == (3, 224, 224)


def test_bcos_appends_inverse_channels():
    m = load_model("bcos-ResNet18", pretrained=False)
    assert m.module.add_inverse and m.module.mean is None
    with torch.no_grad():
        assert m.module(torch.rand(1, 3, 64, 64)).shape == (1, 1000)


# ------------------------------------------------------------------ offline


@pytest.fixture
def offline(quba_cache, monkeypatch):
    """No network: hosts unreachable, Hugging Face hub in offline mode."""
    import huggingface_hub.constants as hf

    monkeypatch.setattr(common, "_REACHABLE", {"huggingface.co": False, "github.com": False,
                                              "download.pytorch.org": False, "bitbucket.org": False})
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)

    def no_download(*a, **k):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return quba_cache


@pytest.mark.parametrize("model_id,needle", [
    ("DeiT-t", "timm/deit_tiny_patch16_224.fb_in1k"),
    ("ResNet18", "download.pytorch.org"),
    ("EfficientNet-b0-A1", "tf_efficientnet_b0_a1_0-9188dd46.pth"),
    ("BagNet9", "bagnet8-34f4ccd2.pth.tar"),
])
def test_unreachable_weights_say_what_and_how(offline, model_id, needle):
    import time

    t = time.time()
    with pytest.raises(QubaError) as err:
        load_model(model_id)
    msg = str(err.value)
    assert "\n" not in msg and model_id in msg and needle in msg
    assert "quba zoo fetch" in msg and "--checkpoint PATH --arch NAME" in msg
    assert time.time() - t < 30


def test_unavailable_entry_names_the_reason():
    with pytest.raises(QubaError, match="not released"):
        load_model("Hiera-B-LP")


def test_robustbench_entry_needs_its_package(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "robustbench" else real(n, *a))
    from quba.zoo.sources import is_available

    assert not is_available(get("Salman2020Do-RN50"))
    with pytest.raises(QubaError, match="pip install robustbench"):
        load_model("Salman2020Do-RN50")


# ------------------------------------------------------------------ local checkpoints


def _timm_resnet18():
    import timm

    torch.manual_seed(0)
    return timm.create_model("resnet18", pretrained=False, num_classes=10).eval()


@pytest.mark.parametrize("fmt", ["safetensors", "pt"])
def test_checkpoint_with_arch_reproduces_the_model(tmp_path, fmt):
    model = _timm_resnet18()
    path = tmp_path / f"w.{fmt}"
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(model.state_dict(), str(path))
    else:
        torch.save({"state_dict": model.state_dict(), "epoch": 3}, str(path))
    loaded = load_model(str(path), arch="resnet18")
    assert loaded.num_classes == 10 and loaded.source == "checkpoint"
    _assert_same_model(loaded, model)


def _assert_same_model(loaded, model):
    """`loaded` ([0, 1] images, ImageNet-normalising inside) computes what `model` does."""
    x = torch.rand(2, 3, 64, 64)
    mean = torch.tensor(common.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(common.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), model((x - mean) / std), atol=1e-5)


def test_checkpoint_into_a_catalog_architecture(tmp_path):
    import torchvision.models as tvm

    torch.manual_seed(1)
    ref = tvm.resnet18(weights=None).eval()
    path = tmp_path / "tv.pth"
    torch.save(ref.state_dict(), str(path))
    loaded = load_model("ResNet18", checkpoint=str(path))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = ref((x - torch.tensor(common.IMAGENET_MEAN).view(1, 3, 1, 1))
                       / torch.tensor(common.IMAGENET_STD).view(1, 3, 1, 1))
        assert torch.allclose(loaded.module(x), expected, atol=1e-5)
    with pytest.raises(QubaError, match="does not fit"):
        load_model("DeiT-t", checkpoint=str(path))
    with pytest.raises(QubaError, match="--arch"):
        load_model(str(path))


def _renamed(state: dict) -> dict:
    """The same tensors in the same order under another code base's names (as EfficientNet-PyTorch
    names what timm calls conv_stem, bn1, ...)."""
    return {f"_layer{i}.{k.rsplit('.', 1)[-1]}": v for i, (k, v) in enumerate(state.items())}


def test_remap_keys_pairs_tensors_by_order(tmp_path):
    model = _timm_resnet18()
    path = tmp_path / "renamed.pth"
    torch.save(_renamed(model.state_dict()), str(path))
    with pytest.raises(QubaError, match="add --remap-keys"):  # by name it fits nothing: say what would
        load_model(str(path), arch="resnet18")
    loaded = load_model(str(path), arch="resnet18", remap_keys=True)
    assert loaded.num_classes == 10 and loaded.meta["remap_keys"] is True  # classes from the last 2-D tensor
    _assert_same_model(loaded, model)


def test_remap_keys_refuses_tensors_that_do_not_fit_by_order(tmp_path):
    state = _renamed(_timm_resnet18().state_dict())
    items = list(state.items())  # the first two tensors (conv, then BatchNorm weight) change places
    items[0], items[1] = items[1], items[0]
    torch.save(dict(items), str(tmp_path / "swapped.pth"))
    with pytest.raises(QubaError) as exc:
        load_model(str(tmp_path / "swapped.pth"), arch="resnet18", remap_keys=True)
    msg = str(exc.value)
    assert "tensor 1 of" in msg and "'conv1.weight'" in msg and "not in the order" in msg and "\n" not in msg
    torch.save(dict(list(state.items())[:-2]), str(tmp_path / "short.pth"))  # the head left out
    with pytest.raises(QubaError, match="holds 120 tensors and the architecture 122"):
        load_model(str(tmp_path / "short.pth"), arch="resnet18", remap_keys=True)
    with pytest.raises(QubaError, match="--remap-keys goes with --checkpoint"):
        load_model("ResNet18", remap_keys=True)


def test_remap_keys_into_a_catalog_architecture(tmp_path):
    import torchvision.models as tvm

    torch.manual_seed(2)
    ref = tvm.resnet18(weights=None).eval()
    torch.save(_renamed(ref.state_dict()), str(tmp_path / "tv.pth"))
    _assert_same_model(load_model("ResNet18", checkpoint=str(tmp_path / "tv.pth"), remap_keys=True), ref)


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):  # unpickling this would create a file
        return (open, (self.target, "w"))


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_pickle_that_runs_code_is_refused(tmp_path, how):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    if how == "pickle":
        with open(path, "wb") as fh:
            pickle.dump({"fc.weight": _Evil(str(target))}, fh)
    else:
        torch.save({"fc.weight": _Evil(str(target))}, str(path))
    with pytest.raises(QubaError, match="refused"):
        load_model(str(path), arch="resnet18")
    assert not target.exists()


def test_bad_checkpoint_paths():
    with pytest.raises(QubaError, match="does not exist"):
        load_model("nowhere.safetensors", arch="resnet18")
    from quba.zoo.sources.checkpoint import build_arch

    with pytest.raises(QubaError, match="timm has no architecture"):
        build_arch("resnet18x")


# ------------------------------------------------------------------ custom files


def test_custom_file_function(tmp_path):
    f = tmp_path / "my_models.py"
    f.write_text(
        "import torch\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 5))\n"
        "def pair():\n"
        "    from torchvision import transforms as T\n"
        "    return build(), T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor()])\n"
        "def nothing():\n"
        "    return 3\n"
    )
    m = load_model(f"{f}:build")
    assert m.source == "custom" and m.module(torch.rand(2, 3, 8, 8)).shape == (2, 5)
    m2 = load_model(f"{f}:pair")
    assert m2.input_size == (3, 8, 8)
    with pytest.raises(QubaError, match="not a torch.nn.Module"):
        load_model(f"{f}:nothing")
    with pytest.raises(QubaError, match="no function"):
        load_model(f"{f}:missing")
    with pytest.raises(QubaError, match="does not exist"):
        load_model(f"{tmp_path}/absent.py:build")


def test_mini_ids_go_to_the_mini_zoo(monkeypatch):
    from quba.zoo import mini
    from quba.zoo.base import LoadedModel

    mid = mini.list_ids()[0]
    sentinel = LoadedModel(id=mid, module=torch.nn.Linear(2, 2), source="mini")
    monkeypatch.setattr(mini, "load", lambda model_id: sentinel if model_id == mid else None)
    assert load_model(mid) is sentinel


# ------------------------------------------------------------------ recipes: built to have a property


def test_bagnet_outputs_see_only_local_patches():
    """BagNet-q features at a location depend only on a q x q input patch: changing
    pixels far from it leaves them unchanged (Brendel & Bethge 2019)."""
    from quba.zoo.sources.builders import BagNet

    torch.manual_seed(0)
    net = BagNet((1, 1, 0, 0)).eval()  # BagNet-9

    def features(x):
        x = net.relu(net.bn1(net.conv2(net.conv1(x))))
        return net.layer4(net.layer3(net.layer2(net.layer1(x))))

    x = torch.rand(1, 3, 64, 64)
    y = x.clone()
    y[:, :, 32:, 32:] = torch.rand(1, 3, 32, 32)  # bottom-right quadrant changed
    with torch.no_grad():
        fx, fy = features(x), features(y)
    # top-left outputs (receptive field 9 px, stride 8) never see the changed quadrant
    assert torch.equal(fx[:, :, :3, :3], fy[:, :, :3, :3])
    assert not torch.allclose(fx[:, :, -2:, -2:], fy[:, :, -2:, -2:])


def test_dinov2_position_resampling_matches_the_official_rule():
    from quba.zoo.sources.builders import dinov2_interpolate_pos

    pos = torch.randn(1, 37 * 37, 8)
    assert dinov2_interpolate_pos(pos, 37, 37) is pos
    out = dinov2_interpolate_pos(pos, 16, 16)
    grid = pos.reshape(1, 37, 37, 8).permute(0, 3, 1, 2)
    ref = torch.nn.functional.interpolate(grid, scale_factor=(16.1 / 37, 16.1 / 37), mode="bicubic",
                                          antialias=False).permute(0, 2, 3, 1).reshape(1, 256, 8)
    assert torch.allclose(out, ref)
    const = torch.full((1, 37 * 37, 4), 0.7)  # bicubic keeps constants
    assert torch.allclose(dinov2_interpolate_pos(const, 16, 16), torch.full((1, 256, 4), 0.7), atol=1e-5)


def test_dino_linear_concatenates_like_the_official_code():
    """ViT-B/16 DINO linear: features = [cls_0, mean_0, cls_1, mean_1, ...] (interleaved)."""
    import timm

    from quba.zoo.sources.builders import DinoLinear, _vit_last_blocks

    cfg = load_row(get("ViT-b-16-DINO-LP"), pretrained=False, device="meta").module.model
    assert isinstance(cfg, DinoLinear) and cfg.head.in_features == 1536 and (cfg.n, cfg.avgpool) == (1, True)
    small = load_row(get("ViT-s-16-DINO-LP"), pretrained=False, device="meta").module.model
    assert small.head.in_features == 1536 and (small.n, small.avgpool) == (4, False)

    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, depth=2, img_size=64).eval()
    m = DinoLinear(vit, torch.nn.Linear(2 * vit.embed_dim, 7), n=1, avgpool=True).eval()
    x = torch.rand(1, 3, 64, 64)
    captured = {}
    m.head.register_forward_hook(lambda mod, inp, out: captured.update(f=inp[0]))
    with torch.no_grad():
        assert m(x).shape == (1, 7)
        last = _vit_last_blocks(vit, x, 1)[-1]
        assert torch.allclose(last, vit.forward_features(x), atol=1e-5)  # normed last block = timm features
    f = captured["f"][0]
    assert torch.allclose(f[0::2], last[0, 0], atol=1e-5)
    assert torch.allclose(f[1::2], last[0, 1:].mean(0), atol=1e-5)
