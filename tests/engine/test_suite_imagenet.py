import numpy as np
import pytest
import torch
from PIL import Image

import quba
from quba.errors import QubaError
from quba.metrics.decisions import canonical_wnids, imagenet_r_wnids, sixteen_class_names
from quba.suites import load_suite
from quba.suites.imagenet import BG_CLASS_FOLDERS, ImageNetSuite, expected_split_names
from imagenet_fixture import ColourCodeModel, fake_imagenet_tree, in9_index, sixteen_index, write_image

torch.set_num_threads(1)

ALL = ("val", "imagenet-c", "imagenet-r", "edge", "silhouette", "sketch", "stylized", "cue-conflict", "bg_challenge")


@pytest.fixture
def tree(tmp_path):
    return fake_imagenet_tree(tmp_path / "data", splits=ALL)


def _predict(split, model=None):
    """Decisions of the colour-code model over a split, the way the engine makes them."""
    model = model or ColourCodeModel().eval()
    ds = split.dataset(None)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1).numpy()
    return split.decision.predict(p)


def test_canonical_labels_not_folder_positions(tree):
    suite = ImageNetSuite(tree)
    assert suite.name == "imagenet" and list(suite.class_names) == canonical_wnids()
    val = suite.split("val")
    # three WNID folders present: canonical indices 0, 151, 999 -- never 0, 1, 2
    assert val.labels.tolist() == [0, 0, 151, 151, 999, 999]
    assert list(val.label_names) == canonical_wnids()
    assert np.array_equal(_predict(val), val.labels)
    c = suite.split("corruption/fog/1")
    assert c.labels.tolist() == val.labels.tolist()
    assert np.array_equal(_predict(c), c.labels)


def test_engine_measures_canonical_labels(tree):
    # end to end through quba.evaluate: a model whose prediction follows from the image
    rec = quba.evaluate(ColourCodeModel().eval(), suite=ImageNetSuite(tree),
                        dims=["accuracy", "ood_robustness", "shape_bias", "object_focus"],
                        bootstrap=0, output=None, progress=False)
    values = {k: v["value"] for k, v in rec["dimensions"].items()}
    assert values == {"accuracy": 1.0, "ood_robustness": 1.0, "shape_bias": 1.0, "object_focus": 1.0}


def test_split_names_are_those_present(tmp_path):
    root = fake_imagenet_tree(tmp_path / "d", splits=("val", "edge"), corruptions=(("fog", 1), ("snow", 5)))
    (root / "imagenet-c" / "snow" / "5").mkdir(parents=True)
    suite = ImageNetSuite(root)
    assert suite.split_names() == ["val", "corruption/snow/5", "ood/edge"]
    assert set(suite.split_names()) <= set(expected_split_names())
    assert len(expected_split_names()) == 1 + 75 + 5 + 1 + 2


def test_imagenet_r_labels_and_200_class_decision(tree):
    sp = ImageNetSuite(tree).split("ood/rendition")
    assert sp.labels.tolist() == [0, 0, 1, 1]  # positions among the 200 IN-R WNIDs
    assert list(sp.label_names) == imagenet_r_wnids()
    assert np.array_equal(_predict(sp), sp.labels)
    # a model preferring a non-IN-R class still gets its best IN-R class as the decision
    p = np.full((1, 1000), 0.5 / 998)
    p[0, 0] = 0.4  # tench: not an IN-R class
    p[0, canonical_wnids().index(imagenet_r_wnids()[7])] = 0.1
    assert sp.decision.predict(p).tolist() == [7]


def test_imagenet_r_rejects_non_r_wnid(tmp_path):
    root = fake_imagenet_tree(tmp_path / "d", splits=("imagenet-r",), r_wnids=["n01440764"])
    with pytest.raises(QubaError, match="n01440764 is not a known ImageNet-R WNID"):
        ImageNetSuite(root).split("ood/rendition")


def test_sixteen_class_splits(tree):
    names = sixteen_class_names()
    for s in ("ood/edge", "ood/silhouette", "ood/sketch", "ood/stylized"):
        sp = ImageNetSuite(tree).split(s)
        assert [names[i] for i in sp.labels] == ["bear", "bear", "bird", "bird", "truck", "truck"]
        assert np.array_equal(_predict(sp), sp.labels)


def test_cue_conflict_shape_and_texture(tree):
    sp = ImageNetSuite(tree).split("cue_conflict")
    names = sixteen_class_names()
    pairs = [(names[s], names[t]) for s, t in zip(sp.meta["shape"], sp.meta["texture"])]
    assert pairs == [(a, b) for a in ("bear", "bird", "truck") for b in ("bear", "bird", "truck")]
    assert np.array_equal(sp.labels, sp.meta["shape"])
    write_image(tree / "cue-conflict" / "bear" / "bear7.png", sixteen_index("bear"))
    with pytest.raises(QubaError, match="cannot read a texture class"):
        ImageNetSuite(tree).split("cue_conflict")


def test_backgrounds_challenge_in9(tree):
    suite = ImageNetSuite(tree)
    same = suite.split("bg/mixed_same")
    assert same.labels.tolist() == [0, 0, 1, 1, 8, 8]
    assert np.array_equal(_predict(same), same.labels)
    # an ImageNet class with no ImageNet-9 counterpart (airliner, 404) decides -1: wrong
    p = np.zeros((1, 1000))
    p[0, 404] = 1.0
    assert same.decision.predict(p).tolist() == [-1]
    # known answer: background-swapped images the model gets wrong lower object focus
    for n in range(2):
        write_image(tree / "bg_challenge" / "mixed_rand" / "val" / BG_CLASS_FOLDERS[0] / f"{n}.JPEG.png",
                    in9_index(1))
    rec = quba.evaluate(ColourCodeModel().eval(), suite=ImageNetSuite(tree), dims=["object_focus"],
                        bootstrap=0, output=None, progress=False)
    # 1 - (1 - 4/6) / 1
    assert rec["dimensions"]["object_focus"]["value"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("split,dimension,path,source", [
    ("val", None, "val", "image-net.org"),
    ("corruption/fog/3", "corruption_robustness", "imagenet-c/fog/3", "zenodo"),
    ("ood/rendition", "ood_robustness", "imagenet-r", "hendrycks/imagenet-r"),
    ("ood/sketch", "ood_robustness", "sketch", "bethgelab/model-vs-human"),
    ("cue_conflict", "shape_bias", "cue-conflict", "bethgelab/model-vs-human"),
    ("bg/mixed_rand", "object_focus", "bg_challenge/mixed_rand/val", "MadryLab/backgrounds_challenge"),
])
def test_missing_folder_names_dimension_path_and_source(tmp_path, split, dimension, path, source):
    root = fake_imagenet_tree(tmp_path / "d", splits=())
    root.mkdir(parents=True, exist_ok=True)
    suite = ImageNetSuite(root)
    calls = [(lambda: suite.split(split), dimension), (lambda: suite.require([split]), dimension),
             (lambda: suite.require(split, dimension="calibration_error"), "calibration_error")]
    for call, dim in calls:
        with pytest.raises(QubaError) as exc:
            call()
        msg = str(exc.value)
        assert "\n" not in msg
        assert (f"dimension {dim} needs split {split!r}" if dim else f"split {split!r}") in msg
        assert str(root.resolve() / path) in msg
        assert source in msg
    with pytest.raises(QubaError, match="dimension shape_bias"):
        suite.require(["cue_conflict", "val"], dimension="shape_bias")


def test_bad_layouts(tmp_path):
    with pytest.raises(QubaError, match="--data-root"):
        ImageNetSuite(None)
    with pytest.raises(QubaError, match="is not a folder"):
        ImageNetSuite(tmp_path / "nowhere")
    with pytest.raises(QubaError, match="corruptions"):
        ImageNetSuite(tmp_path, corruptions="synthesize")
    root = fake_imagenet_tree(tmp_path / "d", splits=("val",))
    suite = ImageNetSuite(root)
    with pytest.raises(QubaError, match="did you mean: ood/edge"):
        suite.split("ood/edgy")
    # a folder that is not a WNID
    (root / "val" / "n0144076").mkdir()
    with pytest.raises(QubaError, match="not a known WNID.*did you mean: n01440764"):
        ImageNetSuite(root).split("val")
    # ILSVRC val as shipped: images directly in val/, no class folders
    flat = tmp_path / "flat"
    write_image(flat / "val" / "ILSVRC2012_val_00000001.JPEG.png", 0)
    with pytest.raises(QubaError, match="holds 1 images directly; sort them into one folder per WNID"):
        ImageNetSuite(flat).split("val")
    # class folders but no images
    empty = tmp_path / "empty"
    (empty / "val" / "n01440764").mkdir(parents=True)
    with pytest.raises(QubaError, match="holds no images"):
        ImageNetSuite(empty).split("val")


def test_unreadable_files_are_yielded_as_none(tree):
    bad = tree / "val" / "n02085620" / "n02085620_broken.JPEG"
    bad.write_bytes(b"not an image")
    trunc = tree / "val" / "n15075141" / "n15075141_trunc.jpg"
    Image.new("RGB", (64, 64), (10, 20, 30)).save(trunc, quality=90)
    trunc.write_bytes(trunc.read_bytes()[:200])
    (tree / "val" / "n15075141" / "notes.txt").write_text("not an image extension: not listed")
    sp = ImageNetSuite(tree).split("val")
    assert len(sp) == 8
    ds = sp.dataset(None)
    got = [ds[i] for i in range(len(ds))]
    none = [i for x, i in got if x is None]
    assert sorted(sp.paths[i].rsplit("/", 1)[1] for i in none) == ["n02085620_broken.JPEG", "n15075141_trunc.jpg"]
    # the engine fails with --strict, or skips and counts them
    with pytest.raises(QubaError, match="unreadable image"):
        quba.evaluate(ColourCodeModel().eval(), suite=ImageNetSuite(tree), dims=["accuracy"], bootstrap=0,
                      output=None, progress=False, strict=True)
    rec = quba.evaluate(ColourCodeModel().eval(), suite=ImageNetSuite(tree), dims=["accuracy"], bootstrap=0,
                        output=None, progress=False)
    assert rec["dimensions"]["accuracy"]["value"] == 1.0
    assert rec["skipped_images"] == 2


def test_preprocess_is_applied_to_pil_images(tree):
    seen = []

    def preprocess(img):
        seen.append(img.mode)
        from torchvision.transforms.functional import resize, to_tensor

        return to_tensor(resize(img, [4, 4]))

    x, i = ImageNetSuite(tree).split("val").dataset(preprocess)[3]
    assert seen == ["RGB"] and x.shape == (3, 4, 4) and i == 3
    assert float(x.min()) >= 0 and float(x.max()) <= 1


def test_fingerprint_cheap_stable_and_sensitive(tree, tmp_path):
    a = ImageNetSuite(tree).fingerprint()
    assert a == ImageNetSuite(tree).fingerprint()
    write_image(tree / "val" / "n01440764" / "extra.png", 0)
    assert ImageNetSuite(tree).fingerprint() != a
    other = fake_imagenet_tree(tmp_path / "other", splits=("val",))
    assert ImageNetSuite(other).fingerprint() != ImageNetSuite(tree).fingerprint()
    assert ImageNetSuite(tree, corruptions="generate").fingerprint() != ImageNetSuite(tree).fingerprint()


def test_generated_corruptions(tmp_path):
    root = fake_imagenet_tree(tmp_path / "d", splits=("val",), n_per_class=1, size=40)
    suite = ImageNetSuite(root, corruptions="generate")
    assert sum(s.startswith("corruption/") for s in suite.split_names()) == 75
    sp = suite.split("corruption/brightness/5")
    assert sp.labels.tolist() == suite.split("val").labels.tolist()
    clean = suite.split("val").dataset(None)[0][0]
    x1, x2 = sp.dataset(None)[0][0], sp.dataset(None)[0][0]
    assert x1.shape == (3, 224, 224)  # resize 256 + centre crop 224, as ImageNet-C was made
    assert torch.equal(x1, x2)
    assert float(x1.mean()) > float(clean.mean()) + 0.1  # brighter
    noisy = suite.split("corruption/gaussian_noise/3").dataset(None)
    assert torch.equal(noisy[0][0], noisy[0][0])  # seeded per image
    # without val there is nothing to corrupt
    empty = tmp_path / "e"
    empty.mkdir()
    with pytest.raises(QubaError, match="folder .*val is missing"):
        ImageNetSuite(empty, corruptions="generate").split("corruption/fog/1")


def test_load_suite_builds_imagenet(tree):
    s = load_suite("imagenet", data_root=tree)
    assert isinstance(s, ImageNetSuite) and "val" in s.split_names()
