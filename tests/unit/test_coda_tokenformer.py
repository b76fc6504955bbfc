"""CoDA-Nets and TokenFormer (quba/zoo/archs): the layers compute their papers' formulas, the
contribution map decomposes the logit, growth preserves the function exactly and composes,
and the ImageNet-scale catalog entries build without weights but refuse to load any."""
import math

import pytest
import torch
import torch.nn.functional as F

from quba.errors import QubaError
from quba.zoo.archs import coda as C
from quba.zoo.archs import tokenformer as T


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------ CoDA-Nets

@pytest.mark.parametrize("norm", C.NORMS)
@pytest.mark.parametrize("stride", [1, 2])
def test_dau_layer_is_the_direct_formula(norm, stride):
    """The factorised layer equals g(B A u + b)ᵀ u per patch u, the weights materialised as in the
    authors' code (unfold the zero-padded input, normalise each unit's weight vector)."""
    torch.manual_seed(0)
    layer = C.DAUConv2d(6, 5, 4, 3, stride, norm=norm).double()
    x = torch.rand(2, 6, 9, 9, dtype=torch.float64)
    w = layer.dynamic_weights(x)  # [N, out, in·k², H', W']
    h = w.shape[-1]
    u = F.unfold(x, 3, padding=1, stride=stride).view(2, 1, 54, h, h)
    norm_w = w.norm(dim=2, keepdim=True)
    g = w / norm_w if norm == "l2" else w * norm_w / (1 + norm_w ** 2)
    torch.testing.assert_close(layer(x), (g * u).sum(2), rtol=1e-12, atol=1e-12)
    # ‖g‖ ≤ 1: no unit's output exceeds its patch's norm (alignment bounds the output)
    assert ((layer(x).abs() <= u.norm(dim=2) + 1e-12).all())


def test_dau_output_is_largest_for_an_aligned_input():
    """A 1x1 unit whose dynamic weight is w(x) = b (A = 0): output ‖x‖·cos(x, b), maximal at x ∥ b."""
    layer = C.DAUConv2d(3, 1, 1, 1, 1, norm="l2").double()
    with torch.no_grad():
        layer.a.weight.zero_()
        layer.b_bias.copy_(torch.tensor([1.0, 2.0, 2.0]).view(1, 3, 1, 1))
    aligned = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64).view(1, 3, 1, 1) / 3
    other = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).view(1, 3, 1, 1)
    assert layer(aligned).item() == pytest.approx(1.0, rel=1e-12)
    assert layer(other).item() == pytest.approx(2 / 3, rel=1e-12)


def _small_coda(norm="l2", t=50.0):
    torch.manual_seed(1)
    return C.CoDAClassifier(C.CoDANet([(8, 4, 3, 2), (16, 4, 3, 1), (5, 4, 1, 1)], temperature=t,
                                      bias=-math.log(4), norm=norm)).double()


@pytest.mark.parametrize("norm", C.NORMS)
def test_contribution_map_sums_to_logit_minus_bias(norm):
    model = _small_coda(norm)
    x = torch.rand(4, 3, 12, 12, dtype=torch.float64)
    target = torch.tensor([0, 1, 2, 4])
    maps = model.contribution(x, target)
    assert maps.shape == (4, 6, 12, 12)  # w.r.t. the encoded [x, 1 − x]
    logits = model(x).gather(1, target[:, None]).squeeze(1)
    torch.testing.assert_close(maps.sum(dim=(1, 2, 3)), logits - model.net.bias[target], rtol=1e-10, atol=1e-12)
    assert not any(m.explanation_mode for m in model.net.layers)  # restored


def test_coda_attribution_is_the_models_own_through_any_wrapper():
    """`auto` picks `coda`; through quba's catalog wrapper (add_inverse) the map is taken w.r.t. the
    encoded input of the CoDA core, so it still decomposes the logit."""
    from quba.zoo.attribution import attribute, resolve_method
    from quba.zoo.sources.common import Classifier

    model = _small_coda()
    x = torch.rand(3, 3, 10, 10, dtype=torch.float64)
    t = torch.tensor([1, 3, 0])
    assert resolve_method(model, "auto") == "coda"
    own = attribute(model, x, t)
    wrapped = Classifier(model.net, add_inverse=True).double()
    assert resolve_method(wrapped, "auto") == "coda"
    torch.testing.assert_close(attribute(wrapped, x, t, "coda"), own)
    with pytest.raises(QubaError, match="dynamic-linear"):
        resolve_method(torch.nn.Conv2d(3, 2, 1), "coda")


def test_temperature_and_bias_are_the_final_layer():
    model = _small_coda(t=50.0)
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    z = C.encode(x)
    for layer in model.net.layers:
        z = layer(z)
    torch.testing.assert_close(model(x), z.sum(dim=(2, 3)) / 50.0 - math.log(4))


# ------------------------------------------------------------------ TokenFormer

def test_pattention_is_the_modified_softmax():
    """Θ(A)ᵢⱼ = GELU(Aᵢⱼ · √n / ‖Aᵢ‖₂), output Θ(X K_Pᵀ) V_P (TokenFormer Eq. 4–5)."""
    torch.manual_seed(0)
    p = T.Pattention(6, 4, 10).double()
    x = torch.randn(3, 7, 6, dtype=torch.float64)
    a = x @ p.key.t()
    want = F.gelu(a / a.norm(dim=-1, keepdim=True) * math.sqrt(10)) @ p.value
    torch.testing.assert_close(p(x), want)


def _small_tokenformer():
    torch.manual_seed(2)
    return T.TokenFormerViT(num_classes=5, img_size=16, patch_size=4, dim=24, depth=2, heads=3,
                            qkv_tokens=6, proj_tokens=5, ffn_tokens=12).eval()


def test_grow_preserves_the_function_and_appends_zero_keys():
    model = _small_tokenformer()
    x = torch.rand(6, 3, 16, 16)
    before = {n: p.clone() for n, p in model.named_parameters()}
    grown = T.grow(model, {"qkv": 3, "proj": 2, "ffn": 8}, seed=0)
    assert T.slot_numbers(grown) == {"qkv": 9, "proj": 7, "ffn": 20}
    assert T.slot_numbers(model) == {"qkv": 6, "proj": 5, "ffn": 12}  # the original is untouched
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    for old, new in zip(T.pattention_layers(model), T.pattention_layers(grown)):
        n = old.n_tokens
        assert torch.equal(new.key[:n], old.key) and torch.equal(new.value[:n], old.value)
        assert not new.key[n:].any() and new.value[n:].abs().sum() > 0
        assert new.tau == old.tau
    with torch.no_grad():
        torch.testing.assert_close(grown(x), model(x), rtol=1e-5, atol=1e-6)


def test_growth_is_exact_only_because_tau_is_kept():
    """Recomputing τ = √n for the grown n (the paper's default applied naively) changes the
    function; so does the standard softmax, which gives zero-key tokens weight exp(0)."""
    model = _small_tokenformer()
    x = torch.rand(4, 3, 16, 16)
    grown = T.grow(model, 6)
    with torch.no_grad():
        ref = model(x)
        for p in T.pattention_layers(grown):
            p.tau.fill_(math.sqrt(p.n_tokens))
        assert (grown(x) - ref).abs().max() > 1e-3
    p = T.Pattention(6, 4, 5).double()
    xs = torch.randn(2, 6, dtype=torch.float64)
    softmax_old = torch.softmax(xs @ p.key.t(), -1) @ p.value
    k2 = torch.cat([p.key, torch.zeros(3, 6, dtype=torch.float64)])
    v2 = torch.cat([p.value, torch.randn(3, 4, dtype=torch.float64)])
    assert (torch.softmax(xs @ k2.t(), -1) @ v2 - softmax_old).abs().max() > 1e-3


def test_growing_twice_composes():
    model = _small_tokenformer()
    x = torch.rand(3, 3, 16, 16)
    twice = T.grow(T.grow(model, {"qkv": 2, "ffn": 4}, seed=5), {"qkv": 1, "proj": 3, "ffn": 4}, seed=5)
    once = T.grow(model, {"qkv": 3, "proj": 3, "ffn": 8}, seed=5)
    a, b = dict(twice.named_parameters()), dict(once.named_parameters())
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with torch.no_grad():
        torch.testing.assert_close(twice(x), model(x), rtol=1e-5, atol=1e-6)
    assert not torch.equal(T.grow(model, 2, seed=0).blocks[0].ffn.value, T.grow(model, 2, seed=1).blocks[0].ffn.value)


def test_grow_rejects_bad_arguments():
    model = _small_tokenformer()
    with pytest.raises(ValueError, match="unknown Pattention role"):
        T.grow(model, {"mlp": 3})
    with pytest.raises(ValueError, match=">= 0"):
        T.grow(model, -1)
    with pytest.raises(ValueError, match="no Pattention"):
        T.grow(torch.nn.Linear(2, 2), 3)


# ------------------------------------------------------------------ ImageNet-scale catalog entries

def _coda_l_params(classes=1000):
    """Counted from the authors' configuration: per layer A (in·k²·r), B (r·out·in·k²), b (out·in·k²)."""
    outs = (16, 32, 32, 64, 64, 64, 64, 64, classes)
    ranks, kernels = (64,) * 3 + (128,) * 3 + (256,) * 3, (7,) + (3,) * 8
    total, c = 0, 6
    for o, r, k in zip(outs, ranks, kernels):
        total += c * k * k * r + r * o * c * k * k + o * c * k * k
        c = o
    return total / 1e6


def _tokenformer_params(d, depth, classes=1000, patch=16, tokens=196):
    """Pattentions (keys + values: 3 × qkv, proj with d tokens, ffn with 4d), patch embedding,
    class token, position embedding, final norm, head."""
    per_layer = 3 * (d * d * 2) + d * d * 2 + 4 * d * d * 2
    return (depth * per_layer + 3 * patch * patch * d + d + d + (tokens + 1) * d + 2 * d + d * classes + classes) / 1e6


@pytest.mark.parametrize("model_id, params, size", [("CoDA-Net-L", _coda_l_params(), 240),
                                                     ("TokenFormer-B-16", _tokenformer_params(768, 12), 224),
                                                     ("TokenFormer-L-16", _tokenformer_params(1024, 24), 224)])
def test_extra_catalog_entries_build_without_weights(model_id, params, size):
    from quba.zoo import load_model
    from quba.zoo.catalog import get

    row = get(model_id)
    assert row["source"] == "unavailable" and "no public weights" in row["notes"]
    built = load_model(model_id, pretrained=False, device="meta")
    assert built.parameters_m == pytest.approx(params, abs=1e-6)
    assert built.input_size == (3, size, size)
    with pytest.raises(QubaError, match=f"'{model_id}' is unavailable: no public weights.*--checkpoint PATH"):
        load_model(model_id)


def test_extra_catalog_is_its_own_file_and_never_a_paper_row():
    from quba.zoo.catalog import catalog, groups_of

    paper = {r["id"] for r in catalog(include_mini=False, include_extra=False)}
    extra = [r for r in catalog(include_mini=False) if r["id"] not in paper]
    assert len(paper) == 326 and {r["id"] for r in extra} == {"CoDA-Net-L", "TokenFormer-B-16", "TokenFormer-L-16"}
    assert all("extra" in groups_of(r) and "ALL" not in groups_of(r) for r in extra)


def test_an_unavailable_architecture_takes_your_own_checkpoint(tmp_path, monkeypatch):
    """The path of `quba evaluate CoDA-Net-L --checkpoint PATH`: the catalog row's architecture is
    built without weights and the file's weights go into it (a small configuration stands in)."""
    from safetensors.torch import save_file

    from quba.zoo import archs
    from quba.zoo.sources import checkpoint
    from quba.zoo.sources.common import Built

    monkeypatch.setitem(archs.CONFIGS, "coda_tiny", lambda arg: Built(
        C.CoDANet([(4, 2, 3, 2), (3, 2, 1, 1)], temperature=10.0, bias=-math.log(2)), None, None, None,
        add_inverse=True))
    row = {"id": "CoDA-tiny", "source": "unavailable", "identifier": "quba:coda_tiny()", "pretrained_tag": "",
           "preprocess": "", "notes": "no public weights: test"}
    torch.manual_seed(3)
    mine = C.CoDANet([(4, 2, 3, 2), (3, 2, 1, 1)], temperature=10.0, bias=-math.log(2))
    save_file({k: v.contiguous() for k, v in mine.state_dict().items()}, str(tmp_path / "w.safetensors"))
    loaded = checkpoint.load_into_row(row, tmp_path / "w.safetensors")
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), mine(C.encode(x)))
