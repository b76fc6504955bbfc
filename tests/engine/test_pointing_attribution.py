"""Attribution methods on models whose attributions are known in closed form."""
import numpy as np
import pytest
import torch
from torch import nn

from quba.zoo.attribution import METHODS, attribute, check_method
from quba.errors import QubaError

torch.set_num_threads(1)


class Linear(nn.Module):
    """logits = W · flatten(x): gradient = W[target], input x gradient = x * W[target]."""

    def __init__(self, k=3, shape=(3, 8, 8)):
        super().__init__()
        torch.manual_seed(0)
        self.w = nn.Parameter(torch.randn(k, *shape))

    def forward(self, x):
        return torch.einsum("nchw,kchw->nk", x, self.w)


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(torch.tanh(self.conv(x)).mean(dim=(2, 3)))


def test_gradient_and_input_x_gradient_of_a_linear_model():
    m = Linear()
    x = torch.rand(2, 3, 8, 8)
    t = torch.tensor([2, 0])
    torch.testing.assert_close(attribute(m, x, t, "gradient"), m.w[t].detach())
    torch.testing.assert_close(attribute(m, x, t, "input_x_gradient"), x * m.w[t].detach())
    # integrated gradients of a linear model from a black baseline = input x gradient exactly
    torch.testing.assert_close(attribute(m, x, t, "integrated_gradients", steps=4), x * m.w[t].detach())
    assert m.w.grad is None  # parameters' gradients untouched


def test_integrated_gradients_completeness():
    """Sundararajan et al. 2017, Prop. 1: attributions sum to f(x) - f(baseline)."""
    m = Small().eval()
    x = torch.rand(2, 3, 8, 8)
    t = torch.tensor([1, 3])
    ig = attribute(m, x, t, "integrated_gradients", steps=128)
    with torch.no_grad():
        delta = (m(x) - m(torch.zeros_like(x))).gather(1, t[:, None])[:, 0]
    torch.testing.assert_close(ig.sum(dim=(1, 2, 3)), delta, rtol=1e-3, atol=1e-4)


def test_grad_cam_shape_sign_and_localisation():
    """Class 1's evidence is the feature map of channel 0, which is active only top-left;
    Grad-CAM weights feature maps by their mean gradient, so its map sits there."""

    class Quadrant(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1, bias=False)
            with torch.no_grad():
                self.conv.weight.zero_()
                self.conv.weight[0, 0] = 1.0
                self.conv.weight[1, 1] = 1.0

        def forward(self, x):
            a = self.conv(x)
            return torch.stack([a[:, 1].mean(dim=(1, 2)), a[:, 0, :8, :8].mean(dim=(1, 2))], dim=1)

    x = torch.rand(1, 3, 16, 16)
    x[:, 0, 8:, :] = 0  # channel 0 (class 1's feature) is active only in the top-left quadrant
    x[:, 0, :, 8:] = 0
    cam = attribute(Quadrant(), x, torch.tensor([1]), "grad_cam")
    assert cam.shape == (1, 1, 16, 16) and (cam >= 0).all()
    inside = cam[0, 0, :8, :8].sum()
    assert inside / cam.sum() > 0.9


def test_explanations_are_differentiable_for_e2kd():
    m = Small().train()
    x = torch.rand(4, 3, 8, 8)
    e = attribute(m, x, torch.tensor([0, 1, 2, 3]), "input_x_gradient", create_graph=True)
    e.pow(2).sum().backward()
    assert m.conv.weight.grad is not None and m.conv.weight.grad.abs().sum() > 0
    assert m.training  # mode untouched


def test_methods_and_errors():
    assert set(METHODS) >= {"input_x_gradient", "gradient", "grad_cam", "integrated_gradients", "bcos", "auto"}
    assert check_method("IxG") == "input_x_gradient" and check_method("grad-cam") == "grad_cam"
    with pytest.raises(QubaError, match="did you mean"):
        check_method("gradient_cam")
    with pytest.raises(QubaError, match="targets"):
        attribute(Linear(), torch.rand(2, 3, 8, 8), torch.tensor([0, 1, 2]))
    with pytest.raises(QubaError, match="needs a 2-d convolution"):
        attribute(Linear(), torch.rand(1, 3, 8, 8), 0, "grad_cam")
    out = attribute(Linear(), torch.rand(1, 3, 8, 8), 1, "gradient")  # an int target is broadcast
    assert out.shape == (1, 3, 8, 8)
    assert np.isfinite(out.numpy()).all()
