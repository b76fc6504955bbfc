"""B-cos layer and the mini B-cos model: the layer's formula, dynamic linearity (the
contribution map adds up to the logit) and the shipped weights."""
import numpy as np
import pytest
import torch
from torch import nn

from quba.zoo.attribution import attribute, explanation_mode, is_bcos, resolve_method
from quba.errors import QubaError
from quba.zoo.mini.bcos import BcosCNN, BcosConv2d, TwinCNN

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mini_suite():
    from quba.suites.mini import MiniSuite

    return MiniSuite(seed=0)  # the session's temporary cache (conftest)


@pytest.fixture(scope="module")
def mini_val(mini_suite):
    return mini_suite.split("val")


def test_bcos_layer_matches_the_formula_on_one_window():
    layer = BcosConv2d(3, 2, kernel_size=1, padding=0, b=2.0)
    w = torch.tensor([[3.0, 0.0, 4.0], [0.0, 1.0, 0.0]])
    layer.weight.data = w.view(2, 3, 1, 1).clone()
    x = torch.tensor([1.0, 2.0, 2.0]).view(1, 3, 1, 1)
    out = layer(x).view(2)
    # unit 0: w_hat = (0.6, 0, 0.8), w_hat.x = 2.2, |x| = 3, cos = 2.2/3 -> 2.2 * 2.2/3
    # unit 1: w_hat = (0, 1, 0),     w_hat.x = 2.0,           cos = 2/3  -> 2 * 2/3
    np.testing.assert_allclose(out.detach().numpy(), [2.2 * 2.2 / 3, 2.0 * 2.0 / 3], rtol=1e-5)
    layer.b = 3.0
    np.testing.assert_allclose(layer(x).view(2).detach().numpy(), [2.2 * (2.2 / 3) ** 2, 2.0 * (2 / 3) ** 2],
                               rtol=1e-5)


def test_bcos_layer_is_scale_free_in_w_and_bounded_by_the_input_norm():
    torch.manual_seed(0)
    layer = BcosConv2d(4, 8, kernel_size=3)
    x = torch.randn(2, 4, 6, 6)
    y = layer(x)
    layer.weight.data *= 7.0
    torch.testing.assert_close(layer(x), y)
    window_norm = torch.nn.functional.conv2d((x * x).sum(1, keepdim=True), torch.ones(1, 1, 3, 3), padding=1).sqrt()
    assert (y.abs() <= window_norm + 1e-5).all()
    layer.b = 1.0  # B = 1: a plain linear map with unit-norm weights
    w_hat = layer.weight / layer.weight.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    torch.testing.assert_close(layer(x), torch.nn.functional.conv2d(x, w_hat, padding=1))


def test_contribution_map_adds_up_to_the_logit():
    torch.manual_seed(1)
    model = BcosCNN(num_classes=5).eval()
    with torch.no_grad():
        model.bias.copy_(torch.randn(5))
    x = torch.rand(3, 3, 32, 32)
    target = torch.tensor([0, 3, 4])
    contrib = attribute(model, x, target)  # auto -> the model's own contribution()
    assert contrib.shape == (3, 6, 32, 32)  # w.r.t. the [x, 1 - x] encoding
    logits = model(x)
    torch.testing.assert_close(contrib.sum(dim=(1, 2, 3)), (logits.gather(1, target[:, None])[:, 0] - model.bias[target]).detach(),
                               rtol=1e-4, atol=1e-5)
    assert not any(m.explanation_mode for m in model.modules() if hasattr(m, "explanation_mode"))


def test_generic_bcos_path_detaches_dynamic_weights():
    """Without contribution(), 'bcos' is input x gradient in explanation mode: for a bias-free
    B-cos network f(x) = W(x)^T x, so the map sums to f(x). (Plain input x gradient sums to
    f(x) too, f being 1-homogeneous, but it also differentiates the dynamic weights, so its
    map is a different one.)"""
    torch.manual_seed(2)
    net = nn.Sequential(BcosConv2d(3, 8, 3), BcosConv2d(8, 4, 3, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    x = torch.rand(2, 3, 16, 16)
    target = torch.tensor([1, 2])
    f = net(x).gather(1, target[:, None])[:, 0].detach()
    c = attribute(net, x, target, "bcos")
    torch.testing.assert_close(c.sum(dim=(1, 2, 3)), f, rtol=1e-4, atol=1e-6)
    ixg = attribute(net, x, target, "input_x_gradient")
    assert not torch.allclose(ixg, c, rtol=1e-2, atol=1e-4)
    with explanation_mode(net):
        assert all(m.explanation_mode for m in net if isinstance(m, BcosConv2d))
    assert not any(m.explanation_mode for m in net if isinstance(m, BcosConv2d))


def test_method_resolution():
    assert is_bcos(BcosCNN(3)) and not is_bcos(TwinCNN(3))
    assert resolve_method(BcosCNN(3), "auto") == "bcos"
    assert resolve_method(TwinCNN(3), "auto") == "input_x_gradient"
    with pytest.raises(QubaError, match="needs a dynamic-linear model"):
        resolve_method(TwinCNN(3), "bcos")


def test_twins_have_the_same_convolution_stack():
    b, t = BcosCNN(12), TwinCNN(12)
    b_shapes = [tuple(m.weight.shape[:1]) + tuple(m.weight.shape[2:]) for m in b.modules() if isinstance(m, BcosConv2d)]
    t_shapes = [tuple(m.weight.shape[:1]) + tuple(m.weight.shape[2:]) for m in t.modules() if isinstance(m, nn.Conv2d)]
    assert b_shapes == t_shapes  # same widths, kernels and depth (inputs: 6 encoded vs 3 channels)


def test_shipped_bcos_models_load_and_reach_their_documented_accuracy(mini_val):
    from quba.zoo.mini import load, row

    for mid in ("mini-bcos-cnn", "mini-bcos-twin"):
        m = load(mid)
        assert m.meta["recipe"] == "bce"
        with torch.no_grad():
            pred = m.module(torch.as_tensor(mini_val.images).float() / 255).argmax(1).numpy()
        acc = float((pred == mini_val.labels).mean())
        assert acc == pytest.approx(float(row(mid)["clean_accuracy"]), abs=0.01)
        assert acc > 0.7
    assert is_bcos(load("mini-bcos-cnn").module)


def test_bce_recipe_smoke(mini_suite):
    from quba.zoo.mini import RECIPES, build

    model = build("mini-bcos-cnn")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    RECIPES["bce"](model, mini_suite, seed=0, steps=2, progress=False)
    assert not model.training
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bcos_package_model_in_quba_wrapper_gives_its_contribution_map():
    """A `bcos` package network (here B-cos ResNet-18, built without weights) inside the zoo's
    [x, 1 - x] wrapper: the map is taken w.r.t. the encoded input and adds up to the logit
    minus the package's fixed logit bias."""
    from quba.zoo import load_model

    module = load_model("bcos-ResNet18", pretrained=False).module.eval()
    assert is_bcos(module) and resolve_method(module, "auto") == "bcos"
    torch.manual_seed(3)
    x = torch.rand(2, 3, 64, 64)
    target = torch.tensor([3, 500])
    c = attribute(module, x, target)
    assert c.shape == (2, 6, 64, 64)
    with torch.no_grad():
        logit = module(x).gather(1, target[:, None])[:, 0]
    bias = float(module.model.logit_layer.logit_bias)
    torch.testing.assert_close(c.sum(dim=(1, 2, 3)), logit - bias, rtol=1e-3, atol=1e-4)
    assert not any(m.detach for m in module.modules() if hasattr(m, "set_explanation_mode"))  # restored
