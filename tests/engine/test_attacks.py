import numpy as np
import pytest
import torch
from torch import nn

from quba.engine.attacks import EPS, AttackStats, attack_passes, fgsm, pgd
from quba.errors import QubaError

torch.set_num_threads(1)


def _gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def _small_cnn(seed=0, classes=5):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, classes)).eval()


class Linear(nn.Module):
    def __init__(self, w, b):
        super().__init__()
        self.w, self.b = nn.Parameter(w), nn.Parameter(b)

    def forward(self, x):
        return x.flatten(1) @ self.w.T + self.b


class Dip(nn.Module):
    """Two-class model on one pixel: margin(x) = ((255 (x - 0.5) - 4)^2 - 9) / 10 for class 1.

    From x0 = 0.5 the loss gradient points to larger x. The full FGSM step
    (u = 255 (x - 0.5) = 8) lands where the margin is +0.7 (still correct); PGD
    with alpha = 2/255 walks into the dip around u = 4, where the margin is
    <= -0.5 (wrong) — and stays there, from any random start in the eps-ball
    (the /10 keeps the softmax from saturating, so the gradient never vanishes).
    """

    def forward(self, x):
        u = 255.0 * (x.flatten(1)[:, :1] - 0.5)
        margin = ((u - 4.0) ** 2 - 9.0) / 10.0
        return torch.cat([torch.zeros_like(margin), margin], dim=1)


def _acc(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_eps_bound_and_pixel_range(attack):
    model = _small_cnn()
    g = _gen(1)
    x = torch.rand(16, 3, 8, 8, generator=g)
    x[0] = 0.0
    x[1] = 1.0  # saturated images: the clamp must bite
    y = torch.randint(0, 5, (16,), generator=g)
    x_adv = fgsm(model, x, y) if attack == "fgsm" else pgd(model, x, y, generator=_gen(2))
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert float((x_adv - x).abs().max()) <= EPS + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert float((x_adv - x).abs().max()) > EPS / 2  # it did move
    assert not model.training
    assert all(p.grad is None for p in model.parameters())  # gradients w.r.t. the input only


def test_binary_linear_model_known_answer():
    # For a two-class linear model the worst L-inf perturbation lowers the margin
    # z_y - z_other by exactly eps * ||w_y - w_other||_1, and FGSM finds it.
    g = _gen(3)
    d = 3 * 4 * 4
    w = torch.randn(2, d, generator=g) * 0.2
    b = torch.zeros(2)
    model = Linear(w, b).eval()
    x = EPS + (1 - 2 * EPS) * torch.rand(400, 3, 4, 4, generator=g)  # interior: no clamping
    y = torch.randint(0, 2, (400,), generator=g)
    with torch.no_grad():
        z = model(x)
    margin = (z[torch.arange(400), y] - z[torch.arange(400), 1 - y]).double()
    drop = EPS * (w[0] - w[1]).abs().sum().double()
    expected_acc = (margin - drop > 0).double().mean().item()
    assert 0.1 < expected_acc < (margin > 0).double().mean().item()  # the attack matters here

    x_f = fgsm(model, x, y)
    x_p = pgd(model, x, y, generator=_gen(4))
    for x_adv in (x_f, x_p):
        with torch.no_grad():
            za = model(x_adv)
        m_adv = (za[torch.arange(400), y] - za[torch.arange(400), 1 - y]).double()
        assert torch.allclose(m_adv, margin - drop, atol=1e-4)
        assert _acc(model, x_adv, y) == pytest.approx(expected_acc)


def test_pgd_beats_fgsm_where_one_step_overshoots():
    model = Dip().eval()
    x = torch.full((8, 1, 2, 2), 0.5)
    y = torch.ones(8, dtype=torch.long)
    assert _acc(model, x, y) == 1.0
    assert _acc(model, fgsm(model, x, y), y) == 1.0  # FGSM overshoots the dip
    assert _acc(model, pgd(model, x, y, random_start=False), y) == 0.0
    for seed in range(5):
        assert _acc(model, pgd(model, x, y, generator=_gen(seed)), y) == 0.0


def test_pgd_at_least_as_strong_as_fgsm_on_a_cnn():
    model = _small_cnn(seed=5, classes=3)
    g = _gen(6)
    x = torch.rand(64, 3, 8, 8, generator=g)
    with torch.no_grad():
        y = model(x).argmax(1)  # all correct to begin with
    eps = 0.1
    loss = nn.CrossEntropyLoss()
    with torch.no_grad():
        l_f = loss(model(fgsm(model, x, y, eps=eps)), y).item()
        l_p = loss(model(pgd(model, x, y, eps=eps, alpha=eps / 4, generator=_gen(7))), y).item()
    assert l_p >= l_f
    assert _acc(model, pgd(model, x, y, eps=eps, alpha=eps / 4, generator=_gen(7)), y) <= \
        _acc(model, fgsm(model, x, y, eps=eps), y)


class SelfTraining(nn.Module):
    """Switches itself into train mode on every forward (what the attack must catch)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(12, 3)

    def forward(self, x):
        self.train()
        return self.lin(x.flatten(1))


@pytest.mark.parametrize("attack", [fgsm, pgd])
def test_train_mode_rejected(attack):
    x = torch.rand(4, 3, 2, 2)
    y = torch.zeros(4, dtype=torch.long)
    model = _small_cnn().train()
    with pytest.raises(QubaError, match="train mode before"):
        attack(model, x, y, generator=_gen()) if attack is pgd else attack(model, torch.rand(4, 3, 8, 8), y)
    cnn = _small_cnn()
    cnn[1].train()  # one submodule (BatchNorm) in train mode is enough
    with pytest.raises(QubaError, match="'1'"):
        attack(cnn, torch.rand(4, 3, 8, 8), y, **({"generator": _gen()} if attack is pgd else {}))
    sneaky = SelfTraining().eval()
    with pytest.raises(QubaError, match="train mode after"):
        attack(sneaky, x, y, **({"generator": _gen()} if attack is pgd else {}))


def test_pgd_seeded_reproducibility():
    model = _small_cnn()
    x = torch.rand(8, 3, 8, 8, generator=_gen(8))
    y = torch.randint(0, 5, (8,), generator=_gen(9))
    a = pgd(model, x, y, steps=1, generator=_gen(10))
    b = pgd(model, x, y, steps=1, generator=_gen(10))
    c = pgd(model, x, y, steps=1, generator=_gen(11))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # the random start alone (0 steps) is uniform in the eps-ball
    start = pgd(model, torch.full((2000, 3, 1, 1), 0.5), torch.zeros(2000, dtype=torch.long), steps=0,
                generator=_gen(12)) - 0.5
    assert float(start.abs().max()) <= EPS + 1e-7
    assert abs(float(start.mean())) < 0.02 * EPS * 10
    assert float(start.std()) == pytest.approx(2 * EPS / np.sqrt(12), rel=0.05)
    with pytest.raises(QubaError, match="Generator"):
        pgd(model, x, y)


def test_pass_counts():
    model = _small_cnn()
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    x = torch.rand(4, 3, 8, 8)
    y = torch.zeros(4, dtype=torch.long)
    s = AttackStats()
    fgsm(model, x, y, stats=s)
    assert (s.forward, s.backward, s.batches, s.images) == (1, 1, 1, 4) and len(calls) == 1
    assert attack_passes("fgsm") == {"forward": 1, "backward": 1}
    s = AttackStats()
    pgd(model, x, y, steps=7, generator=_gen(), stats=s)
    assert (s.forward, s.backward) == (7, 7) and len(calls) == 8
    assert attack_passes("pgd", steps=7) == {"forward": 7, "backward": 7}
    with pytest.raises(QubaError):
        attack_passes("cw")


def test_bad_inputs():
    model = _small_cnn()
    y = torch.zeros(4, dtype=torch.long)
    with pytest.raises(QubaError, match="pixel space"):
        fgsm(model, torch.randn(4, 3, 8, 8) * 3, y)  # normalised images
    with pytest.raises(QubaError, match="labels"):
        fgsm(model, torch.rand(4, 3, 8, 8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(QubaError, match="steps"):
        pgd(model, torch.rand(4, 3, 8, 8), y, steps=-1, generator=_gen())
    with pytest.raises(QubaError, match="logits"):
        fgsm(nn.Identity().eval(), torch.rand(4, 3, 8, 8), y)
