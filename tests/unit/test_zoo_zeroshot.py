"""Zero-shot heads: normalised mean text embedding per class, logits = scale * cos (+ bias),
cached on disk. A tiny randomly initialised open_clip CLIP and a handful of class names."""
import pytest
import torch
import torch.nn.functional as F

from quba.zoo import zeroshot


@pytest.fixture(scope="module")
def tiny_clip():
    import open_clip
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(0)
    model = CLIP(embed_dim=16,
                 vision_cfg=CLIPVisionCfg(layers=1, width=32, head_width=16, patch_size=8, image_size=32),
                 text_cfg=CLIPTextCfg(context_length=77, vocab_size=49408, width=32, heads=2, layers=1)).eval()
    return model, open_clip.get_tokenizer("ViT-B-32")  # the bundled CLIP BPE tokenizer: offline


CLASSES = ["tench", "goldfish", "great white shark"]


def test_metadata_is_open_clips():
    import open_clip

    assert zeroshot.imagenet_classnames() == list(open_clip.IMAGENET_CLASSNAMES)
    assert len(zeroshot.imagenet_classnames()) == 1000
    assert len(zeroshot.templates("openai")) == 80 and zeroshot.templates("openai")[0]("dog") == "a bad photo of a dog."
    with pytest.raises(ValueError):
        zeroshot.templates("nope")


def test_head_is_the_normalised_mean_of_normalised_text_embeddings(tiny_clip):
    model, tok = tiny_clip
    temps = zeroshot.templates("openai")[:3]
    head = zeroshot.build_head(model.encode_text, tok, CLASSES, temps, batch_classes=2, progress=False)
    assert head.shape == (3, 16)
    assert torch.allclose(head.norm(dim=-1), torch.ones(3), atol=1e-5)
    with torch.no_grad():
        for c, name in enumerate(CLASSES):
            emb = F.normalize(model.encode_text(tok([t(name) for t in temps])), dim=-1)
            ref = F.normalize(emb.mean(0), dim=0)
            assert torch.allclose(head[c], ref, atol=1e-5)


class _FixedVisual(torch.nn.Module):
    def __init__(self, vec):
        super().__init__()
        self.vec = vec

    def forward(self, x):
        return self.vec.expand(x.shape[0], -1) * 3.0  # any positive scale: features are normalised


def test_logits_are_scaled_cosines_plus_bias(tiny_clip):
    model, tok = tiny_clip
    head = zeroshot.build_head(model.encode_text, tok, CLASSES, zeroshot.templates("simple"), progress=False)
    clf = zeroshot.ZeroShotClassifier(_FixedVisual(head[1]), head, logit_scale=100.0, logit_bias=-10.0)
    logits = clf(torch.rand(2, 3, 32, 32))
    # an image whose embedding is class 1's text embedding: cos = 1 for class 1
    assert logits.argmax(dim=1).tolist() == [1, 1]
    assert logits[0, 1].item() == pytest.approx(100.0 - 10.0, abs=1e-3)
    assert torch.allclose(logits[0], 100.0 * (head @ head[1]) - 10.0, atol=1e-3)
    assert not torch.allclose(logits.softmax(1).sum(1), logits.sum(1))  # logits, not probabilities
    # the head counts as parameters of the classifier
    assert sum(p.numel() for p in clf.parameters()) == head.numel()


def test_real_open_clip_image_tower_classifies(tiny_clip):
    model, tok = tiny_clip
    head = zeroshot.build_head(model.encode_text, tok, CLASSES, zeroshot.templates("simple"), progress=False)
    clf = zeroshot.ZeroShotClassifier(model.visual, head, model.logit_scale.exp().item())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = clf(x)
        feats = F.normalize(model.encode_image(x), dim=-1)
    assert torch.allclose(out, model.logit_scale.exp() * feats @ head.t(), atol=1e-4)


def test_head_is_cached_per_model_tag_and_classes(quba_cache):
    calls = []

    def compute():
        calls.append(1)
        return F.normalize(torch.randn(3, 8), dim=-1)

    h1 = zeroshot.cached_head("ViT-X", "tag1", compute, CLASSES)
    path = quba_cache / "zeroshot" / "ViT-X-tag1.safetensors"
    assert path.exists() and zeroshot.head_cache_path("ViT-X", "tag1") == path
    h2 = zeroshot.cached_head("ViT-X", "tag1", compute, CLASSES)
    assert len(calls) == 1 and torch.equal(h1, h2)
    zeroshot.cached_head("ViT-X", "tag1", compute, CLASSES[:2])  # other classes: recomputed
    zeroshot.cached_head("ViT-X", "tag1", compute, CLASSES, template_set="simple")  # other templates too
    assert len(calls) == 3
