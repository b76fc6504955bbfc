"""Build quba/data/zoo_catalog.csv (one row per model id of the QUBA paper) and
quba/data/zoo_catalog_extra.csv (architectures from related papers, `EXTRA` below).

The mapping below (paper id -> library, identifier, pretrained tag, preprocessing)
is the research decision; this script joins it with the paper's metadata
(quba/data/quba_paper_results.csv), derives the groups, checks every
identifier against the installed libraries' own listings and writes the CSV.

    python tools/build_zoo_catalog.py          # write the CSV
    python tools/build_zoo_catalog.py --check  # only verify; exit 1 on a mismatch
    python tools/build_zoo_catalog.py --params # also build every entry without weights and
                                               # compare its parameter count with the paper's

Where the mapping comes from: the QUBA code (visinf/beyond-accuracy,
`quba_constants.py` and `helper/generate_data.py`) names, per id, the library
and weights it loaded. We follow it, translating to the installed versions:

* torchvision ids: builder + weights enum member exactly as the paper
  (all IMAGENET1K_V1), preprocessing `weights.transforms()`.
* timm ids: the paper's `name.tag`; preprocessing `resolve_data_config` of
  that tag (the paper did the same).
* RSB A1/A2/A3 ids (ResNet strikes back): the paper fetched the
  `v0.1-rsb-weights` release files into timm architectures. Where timm ships
  the same file as a tag (`resnet50.a1_in1k` ...) we use the tag; the rest
  (EfficientNet, EfficientNetV2-rw, RegNetY, SENet154) stay `hub` entries:
  timm architecture + data config of the paper's tag, weights from the URL.
* OpenAI CLIP (`clip.load` in the paper) -> open_clip `*-quickgelu` + `openai`
  (same weights; quickgelu is the activation those weights were trained with).
  The paper's `hf-hub:` ids -> the open_clip (model, tag) whose hf_hub entry is
  that repository. MobileCLIP-S0 is not in open_clip 3.3 -> hub (Apple package).
* Hiera ids: the paper used torch.hub facebookresearch/hiera with
  `mae_in1k_ft_in1k`; timm ships the same checkpoints under that tag. We keep
  the paper's own transform (Resize 224, CenterCrop 224).
* DINO / DINOv2 / MAE ids with public weights are assembled by quba recipes
  (`quba:<recipe>(<backbone>)`) from timm / torchvision backbones and the
  official head / checkpoint URLs, reproducing the forward pass of the
  official code; the paper's own fine-tunes and linear probes (checkpoint
  paths "DUMMY" in the public code) are `unavailable`.
* RobustBench ids need the `robustbench` package (which pins timm 1.0.9,
  so it is not a dependency of quba).

Groups are derived from the paper's metadata columns (see `groups_for`).

The extra catalog (`EXTRA`) holds ImageNet-scale configurations of architectures that quba
implements itself (quba/zoo/archs) from papers the QUBA paper did not evaluate. It is a file of
its own so that zoo_catalog.csv stays exactly the paper's 326 models (its tests check that,
and `--group paper` sweeps it); its rows carry their own metadata and groups (`extra` plus the
family) instead of the paper's. Where the authors published no weights the source is
`unavailable` with the reason in `notes`, and the identifier `quba:<config>(<arg>)` still builds
the architecture (`pretrained=False`, `quba zoo show ID --build`, or your own `--checkpoint`).
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER_CSV = ROOT / "quba" / "data" / "quba_paper_results.csv"
OUT_CSV = ROOT / "quba" / "data" / "zoo_catalog.csv"
EXTRA_CSV = ROOT / "quba" / "data" / "zoo_catalog_extra.csv"

COLUMNS = [
    "id", "display_name", "source", "identifier", "pretrained_tag", "architecture",
    "paradigm", "pretraining_data", "groups", "paper_title", "parameters_m",
    "preprocess", "notes",
]

RSB = "https://github.com/huggingface/pytorch-image-models/releases/download/v0.1-rsb-weights/"
DINO = "https://dl.fbaipublicfiles.com/dino/"
DINOV2 = "https://dl.fbaipublicfiles.com/dinov2/"
BAGNET = ("https://bitbucket.org/wielandbrendel/bag-of-feature-pretrained-models/raw/"
          "249e8fa82c0913623a807d9d35eeab9da7dcc2a8/")

# The paper's own transforms where it did not use the library's config.
IMNET = "mean=0.485,0.456,0.406 std=0.229,0.224,0.225"
PP_RESIZE224 = f"resize=224 crop=224 interpolation=bilinear {IMNET}"
PP_DINO = f"resize=256 crop=224 interpolation=bicubic {IMNET}"
PP_SALMAN = "resize=256 crop=224 interpolation=bilinear"
PP_LIU_SINGH = "resize=256 crop=224 interpolation=bicubic"


def tv(builder, tag="IMAGENET1K_V1", **kw):
    return dict(source="torchvision", identifier=builder, pretrained_tag=tag, **kw)


def tm(name, **kw):
    arch, tag = name.split(".", 1)
    return dict(source="timm", identifier=arch, pretrained_tag=tag, **kw)


def oc(model, tag, **kw):
    return dict(source="open_clip", identifier=model, pretrained_tag=tag, **kw)


def bc(entry, **kw):
    return dict(source="bcos", identifier=entry, pretrained_tag="", **kw)


def hub(identifier, tag="", **kw):
    return dict(source="hub", identifier=identifier, pretrained_tag=tag, **kw)


def na(reason, identifier="", **kw):
    """No public weights (`reason`); `identifier` = quba:<config>(<arg>) when quba builds the architecture."""
    return dict(source="unavailable", identifier=identifier, pretrained_tag="", notes=reason, **kw)


MAPPING: dict[str, dict] = {
    # --- torchvision (paper: TORCHVISION_MODELS, all IMAGENET1K_V1) ---
    "AlexNet": tv("alexnet"), "GoogLeNet": tv("googlenet"),
    "ResNet18": tv("resnet18"), "ResNet34": tv("resnet34"), "ResNet50": tv("resnet50"),
    "ResNet101": tv("resnet101"), "ResNet152": tv("resnet152"),
    "SqueezeNet": tv("squeezenet1_1"),
    "ResNeXt50-32x4d": tv("resnext50_32x4d"), "ResNeXt101-32x8d": tv("resnext101_32x8d"),
    "ResNeXt101-64x4d": tv("resnext101_64x4d"),
    "DenseNet121": tv("densenet121"), "DenseNet161": tv("densenet161"),
    "DenseNet169": tv("densenet169"), "DenseNet201": tv("densenet201"),
    "VGG11": tv("vgg11"), "VGG13": tv("vgg13"), "VGG16": tv("vgg16"), "VGG19": tv("vgg19"),
    "VGG11-bn": tv("vgg11_bn"), "VGG13-bn": tv("vgg13_bn"), "VGG16-bn": tv("vgg16_bn"),
    "VGG19-bn": tv("vgg19_bn"),
    "ViT-b-16": tv("vit_b_16"), "ViT-l-16": tv("vit_l_16"), "ViT-b-32": tv("vit_b_32"),
    "ViT-l-32": tv("vit_l_32"),
    "WRN-50-2": tv("wide_resnet50_2"), "WRN-101-2": tv("wide_resnet101_2"),
    "Swin-T": tv("swin_t"), "Swin-S": tv("swin_s"), "Swin-B": tv("swin_b"),
    "SwinV2-T-W8": tv("swin_v2_t"), "SwinV2-S-W8": tv("swin_v2_s"), "SwinV2-B-W8": tv("swin_v2_b"),
    "ConvNext-T": tv("convnext_tiny"), "ConvNext-S": tv("convnext_small"),
    "ConvNext-B": tv("convnext_base"), "ConvNext-L": tv("convnext_large"),
    "InceptionV3": tv("inception_v3"), "MobileNetV2": tv("mobilenet_v2"),
    "MobileNetV3-s": tv("mobilenet_v3_small"), "MobileNetV3-l": tv("mobilenet_v3_large"),
    "MaxViT-t": tv("maxvit_t"),
    "MnasNet-05": tv("mnasnet0_5"), "MnasNet-075": tv("mnasnet0_75"),
    "MnasNet-1": tv("mnasnet1_0"), "MnasNet-13": tv("mnasnet1_3"),
    "ShuffleNet-v2-05": tv("shufflenet_v2_x0_5"), "ShuffleNet-v2-1": tv("shufflenet_v2_x1_0"),
    "ShuffleNet-v2-15": tv("shufflenet_v2_x1_5"), "ShuffleNet-v2-2": tv("shufflenet_v2_x2_0"),
    "RegNet-y-400mf": tv("regnet_y_400mf"), "RegNet-y-800mf": tv("regnet_y_800mf"),
    "RegNet-y-1-6gf": tv("regnet_y_1_6gf"), "RegNet-y-3-2gf": tv("regnet_y_3_2gf"),
    "RegNet-y-8gf": tv("regnet_y_8gf"), "RegNet-y-16gf": tv("regnet_y_16gf"),
    "RegNet-y-32gf": tv("regnet_y_32gf"),
    **{f"EfficientNet-B{i}": tv(f"efficientnet_b{i}") for i in range(8)},

    # --- timm (paper: TIMM_MODELS) ---
    "ViT-t5-16": tm("tiny_vit_5m_224.in1k"), "ViT-t11-16": tm("tiny_vit_11m_224.in1k"),
    "ViT-t21-16": tm("tiny_vit_21m_224.in1k"),
    "ViT-t5-16-21k": tm("tiny_vit_5m_224.dist_in22k_ft_in1k"),
    "ViT-t11-16-21k": tm("tiny_vit_11m_224.dist_in22k_ft_in1k"),
    "ViT-t21-16-21k": tm("tiny_vit_21m_224.dist_in22k_ft_in1k"),
    "ViT-s-16": tm("vit_small_patch16_224.augreg_in1k"),
    "ViT-s-16-21k": tm("vit_small_patch16_224.augreg_in21k_ft_in1k"),
    "ViT-b-16-21k": tm("vit_base_patch16_224.augreg_in21k_ft_in1k"),
    "ViT-l-16-21k": tm("vit_large_patch16_224.augreg_in21k_ft_in1k"),
    "ViT-b-32-21k": tm("vit_base_patch32_224.augreg_in21k_ft_in1k"),
    "ViT-l-32-21k": tm("vit_large_patch32_384.orig_in21k_ft_in1k"),
    "vit-t-16-21k": tm("vit_tiny_patch16_224.augreg_in21k_ft_in1k"),
    "BiTM-resnetv2-50x1": tm("resnetv2_50x1_bit.goog_in21k_ft_in1k"),
    "BiTM-resnetv2-50x3": tm("resnetv2_50x3_bit.goog_in21k_ft_in1k"),
    "BiTM-resnetv2-101x1": tm("resnetv2_101x1_bit.goog_in21k_ft_in1k"),
    "BiTM-resnetv2-152x2": tm("resnetv2_152x2_bit.goog_in21k_ft_in1k"),
    "ConvNext-T-21k": tm("convnext_tiny.fb_in22k_ft_in1k"),
    "ConvNext-S-21k": tm("convnext_small.fb_in22k_ft_in1k"),
    "ConvNext-B-21k": tm("convnext_base.fb_in22k_ft_in1k"),
    "ConvNext-L-21k": tm("convnext_large.fb_in22k_ft_in1k"),
    **{f"ConvNextV2-{s}": tm(f"convnextv2_{n}.fcmae_ft_in1k")
       for s, n in [("N", "nano"), ("T", "tiny"), ("B", "base"), ("L", "large")]},
    **{f"ConvNextV2-{s}-21k": tm(f"convnextv2_{n}.fcmae_ft_in22k_in1k")
       for s, n in [("N", "nano"), ("T", "tiny"), ("B", "base"), ("L", "large")]},
    **{f"EfficientNet-v2-{s}": tm(f"tf_efficientnetv2_{s.lower()}.in1k") for s in "SML"},
    **{f"EfficientNet-v2-{s}-21k": tm(f"tf_efficientnetv2_{s.lower()}.in21k_ft_in1k") for s in "SML"},
    "InceptionV4": tm("inception_v4.tf_in1k"),
    **{f"NS-EfficientNet-B{i}": tm(f"tf_efficientnet_b{i}.ns_jft_in1k") for i in range(8)},
    "DeiT-t": tm("deit_tiny_patch16_224.fb_in1k"), "DeiT-s": tm("deit_small_patch16_224.fb_in1k"),
    "DeiT-b": tm("deit_base_patch16_224.fb_in1k"),
    **{f"DeiT3-{s}": tm(f"deit3_{n}_patch16_224.fb_in1k")
       for s, n in [("s", "small"), ("m", "medium"), ("b", "base"), ("l", "large")]},
    **{f"DeiT3-{s}-21k": tm(f"deit3_{n}_patch16_224.fb_in22k_ft_in1k")
       for s, n in [("s", "small"), ("m", "medium"), ("b", "base"), ("l", "large")]},
    "MaxViT-b": tm("maxvit_base_tf_224.in1k"), "MaxViT-l": tm("maxvit_large_tf_224.in1k"),
    **{f"CrossViT-{n}dagger": tm(f"crossvit_{n}_dagger_240.in1k") for n in (9, 15, 18)},
    **{f"FastViT-sa{n}": tm(f"fastvit_sa{n}.apple_in1k") for n in (12, 24, 36)},
    **{f"XCiT-{s}24-16": tm(f"xcit_{n}_24_p16_224.fb_in1k")
       for s, n in [("s", "small"), ("m", "medium"), ("l", "large")]},
    **{f"LeViT-{n}": tm(f"levit_{n}.fb_dist_in1k") for n in (128, 256, 384)},
    **{f"MViTv2-{s}": tm(f"mvitv2_{n}.fb_in1k")
       for s, n in [("t", "tiny"), ("s", "small"), ("b", "base"), ("l", "large")]},
    "BeiT-b": tm("beit_base_patch16_224.in22k_ft_in22k_in1k"),
    **{f"ConViT-{s}": tm(f"convit_{n}.fb_in1k") for s, n in [("t", "tiny"), ("s", "small"), ("b", "base")]},
    **{f"CaiT-{s}24": tm(f"cait_{s}24_384.fb_dist_in1k") for s in ("xxs", "xs", "s")},
    "EVA02-t-21k": tm("eva02_tiny_patch14_336.mim_in22k_ft_in1k"),
    "EVA02-s-21k": tm("eva02_small_patch14_336.mim_in22k_ft_in1k"),
    "EVA02-b-21k": tm("eva02_base_patch14_448.mim_in22k_ft_in1k"),
    "Inception-ResNetv2": tm("inception_resnet_v2.tf_in1k"),
    "SwinV2-t-W16": tm("swinv2_tiny_window16_256.ms_in1k"),
    "SwinV2-s-Win16": tm("swinv2_small_window16_256.ms_in1k"),
    "SwinV2-b-Win16": tm("swinv2_base_window16_256.ms_in1k"),
    "SwinV2-b-Win12to16-21k": tm("swinv2_base_window12to16_192to256.ms_in22k_ft_in1k"),
    "SwinV2-l-Win12to16-21k": tm("swinv2_large_window12to16_192to256.ms_in22k_ft_in1k"),
    **{f"InceptionNext-{s}": tm(f"inception_next_{n}.sail_in1k")
       for s, n in [("t", "tiny"), ("s", "small"), ("b", "base")]},
    "Xception": tm("legacy_xception.tf_in1k"), "NasNet-l": tm("nasnetalarge.tf_in1k"),
    **{f"PiT-{s}": tm(f"pit_{n}_224.in1k") for s, n in [("t", "ti"), ("xs", "xs"), ("s", "s"), ("b", "b")]},
    **{f"EfficientFormer-l{n}": tm(f"efficientformer_l{n}.snap_dist_in1k") for n in (1, 3, 7)},
    "MobileNetV3-l-21k": tm("mobilenetv3_large_100.miil_in21k_ft_in1k"),
    **{f"DaViT-{s}": tm(f"davit_{n}.msft_in1k") for s, n in [("t", "tiny"), ("s", "small"), ("b", "base")]},
    **{f"CoaT-{s}-lite": tm(f"coat_lite_{n}.in1k")
       for s, n in [("t", "tiny"), ("mi", "mini"), ("s", "small"), ("me", "medium")]},
    "ResNet50-ig1B": tm("resnet50.fb_swsl_ig1b_ft_in1k"),
    "ResNet50-yfcc100m": tm("resnet50.fb_ssl_yfcc100m_ft_in1k"),
    "ResNeXt101-32x8d-IG1B": tm("resnext101_32x8d.fb_swsl_ig1b_ft_in1k"),
    "ResNeXt50-32x4d-YFCCM100": tm("resnext50_32x4d.fb_ssl_yfcc100m_ft_in1k"),
    "ResNeXt50-32x4d-IG1B": tm("resnext50_32x4d.fb_swsl_ig1b_ft_in1k"),
    "ResNet18-IG1B": tm("resnet18.fb_swsl_ig1b_ft_in1k"),
    "BeiTV2-b": tm("beitv2_base_patch16_224.in1k_ft_in1k"),
    "SeNet154": tm("senet154.gluon_in1k"), "ResNet50d": tm("resnet50d.gluon_in1k"),
    "RegNet-y-4gf": tm("regnety_040.pycls_in1k"),
    "CLIP-B32-V-OpenAI": tm("vit_base_patch32_clip_224.openai_ft_in1k"),
    "CLIP-B32-V-Laion2B": tm("vit_base_patch32_clip_224.laion2b_ft_in1k"),
    "CLIP-B16-V-OpenAI": tm("vit_base_patch16_clip_224.openai_ft_in1k"),
    "CLIP-B16-V-Laion2B": tm("vit_base_patch16_clip_224.laion2b_ft_in1k"),
    # Hiera: paper used torch.hub facebookresearch/hiera `mae_in1k_ft_in1k` with its own transform
    **{f"Hiera-{s}": tm(f"hiera_{n}_224.mae_in1k_ft_in1k", preprocess=PP_RESIZE224,
                        notes="paper loaded the same checkpoint via torch.hub facebookresearch/hiera")
       for s, n in [("T", "tiny"), ("S", "small"), ("B", "base"), ("B-Plus", "base_plus"), ("L", "large")]},

    # --- open_clip zero-shot (paper: OPENAI_CLIP, OPEN_CLIP_MODELS, SIGLIP*_MODELS, mobileclip) ---
    "clip-resnet50": oc("RN50-quickgelu", "openai"),
    "clip-resnet101": oc("RN101-quickgelu", "openai"),
    "clip-vit-b-16": oc("ViT-B-16-quickgelu", "openai"),
    "clip-vit-b-32": oc("ViT-B-32-quickgelu", "openai"),
    "CLIP-L14-OpenAI": oc("ViT-L-14-quickgelu", "openai"),
    "siglip-b-16": oc("ViT-B-16-SigLIP-256", "webli"),
    "siglip-l-16": oc("ViT-L-16-SigLIP-256", "webli"),
    "ViT-B-16-SigLIP2": oc("ViT-B-16-SigLIP2-256", "webli"),
    "ViT-L-16-SigLIP2-256": oc("ViT-L-16-SigLIP2-256", "webli"),
    "mobileclip-s1": oc("MobileCLIP-S1", "datacompdr"),
    "mobileclip-s2": oc("MobileCLIP-S2", "datacompdr"),
    "mobileclip-b": oc("MobileCLIP-B", "datacompdr"),
    "mobileclip-blt": oc("MobileCLIP-B", "datacompdr_lt"),
    "metaclip-b16": oc("ViT-B-16-quickgelu", "metaclip_fullcc"),
    "metaclip-l14": oc("ViT-L-14-quickgelu", "metaclip_fullcc"),
    "convnext-large-d-clip": oc("convnext_large_d", "laion2b_s26b_b102k_augreg"),
    "convnext-large-d-320-clip": oc("convnext_large_d_320", "laion2b_s29b_b131k_ft_soup"),
    "convnext-base-w-320-clip": oc("convnext_base_w_320", "laion_aesthetic_s13b_b82k_augreg"),
    "CLIP-B16-Laion2B": oc("ViT-B-16", "laion2b_s34b_b88k"),
    "CLIP-L14-Laion2B": oc("ViT-L-14", "laion2b_s32b_b82k"),
    "CLIP-B16-CommonPool-XL-DFN2B": oc("ViT-B-16-quickgelu", "dfn2b"),
    "CLIP-L14-CommonPool-XL-DFN2B": oc("ViT-L-14-quickgelu", "dfn2b"),
    "CLIP-B16-DataCompXL": oc("ViT-B-16", "datacomp_xl_s13b_b90k"),
    "CLIP-L14-DataCompXL": oc("ViT-L-14", "datacomp_xl_s13b_b90k"),
    "mobileclip-s0": hub(
        "mobileclip:mobileclip_s0",
        "https://docs-assets.developer.apple.com/ml-research/datasets/mobileclip/mobileclip_s0.pt",
        notes="not in open_clip 3.3; needs Apple's `mobileclip` package (github apple/ml-mobileclip)"),

    # --- bcos (paper: bcos.models.pretrained, its own transform = the package's) ---
    "bcos-ResNet18": bc("resnet18"), "bcos-ResNet34": bc("resnet34"), "bcos-ResNet50": bc("resnet50"),
    "bcos-ResNet101": bc("resnet101"), "bcos-ResNet152": bc("resnet152"),
    "bcos-DenseNet121": bc("densenet121"), "bcos-DenseNet161": bc("densenet161"),
    "bcos-DenseNet169": bc("densenet169"), "bcos-DenseNet201": bc("densenet201"),
    "bcos-simple-vit-b-patch16-224": bc("simple_vit_b_patch16_224"),
    "bcos-convnext-tiny": bc("convnext_tiny"), "bcos-convnext-base": bc("convnext_base"),

    # --- BagNets (paper: bagnets.pytorchnet; quba re-implements the architecture) ---
    "BagNet9": hub("quba:bagnet(9)", BAGNET + "bagnet8-34f4ccd2.pth.tar", preprocess=PP_RESIZE224),
    "BagNet17": hub("quba:bagnet(17)", BAGNET + "bagnet16-105524de.pth.tar", preprocess=PP_RESIZE224),
    "BagNet33": hub("quba:bagnet(33)", BAGNET + "bagnet32-2ddd53ed.pth.tar", preprocess=PP_RESIZE224),

    # --- self-supervised with public heads / checkpoints ---
    "ViT-b-16-DINO-LP": hub(
        "quba:dino_linear(vit_base_patch16_224.dino)",
        DINO + "dino_vitbase16_pretrain/dino_vitbase16_linearweights.pth", preprocess=PP_DINO,
        notes="official DINO linear head: last-block [CLS] + mean patch token (1536-d)"),
    "ViT-s-16-DINO-LP": hub(
        "quba:dino_linear(vit_small_patch16_224.dino)",
        DINO + "dino_deitsmall16_pretrain/dino_deitsmall16_linearweights.pth", preprocess=PP_DINO,
        notes="official DINO linear head: [CLS] of the last 4 blocks (1536-d)"),
    "ResNet50-DINO-LP": hub(
        "quba:dino_resnet50_linear(resnet50)",
        DINO + "dino_resnet50_pretrain/dino_resnet50_pretrain.pth;"
        + DINO + "dino_resnet50_pretrain/dino_resnet50_linearweights.pth",
        preprocess=PP_DINO,
        notes="official DINO ResNet-50 backbone + official linear head"),
    "vit-b-16-mae-ft": hub(
        "quba:mae_finetuned(vit_base_patch16_224.mae)",
        "https://dl.fbaipublicfiles.com/mae/finetune/mae_finetuned_vit_base.pth", preprocess=PP_DINO,
        notes="official MAE fine-tuned ViT-B/16 (global average pool + fc_norm)"),
    **{f"ViT-{s}-14-dinoV2-LP": hub(
        f"quba:dinov2_linear4(vit_{n}_patch14_dinov2.lvd142m)",
        DINOV2 + f"dinov2_vit{s}14/dinov2_vit{s}14_linear4_head.pth", preprocess=PP_DINO,
        notes="official DINOv2 linear4 classifier (torch.hub dinov2_vit*14_lc)")
       for s, n in [("s", "small"), ("b", "base"), ("l", "large")]},
    **{f"ViT-{s}-14-dinov2-reg-LP": hub(
        f"quba:dinov2_linear4(vit_{n}_patch14_reg4_dinov2.lvd142m)",
        DINOV2 + f"dinov2_vit{s}14/dinov2_vit{s}14_reg4_linear4_head.pth", preprocess=PP_DINO,
        notes="official DINOv2 linear4 classifier with registers (torch.hub dinov2_vit*14_reg_lc)")
       for s, n in [("s", "small"), ("b", "base"), ("l", "large")]},

    # --- RobustBench ImageNet Linf ---
    "Salman2020Do-RN50": hub("robustbench:Salman2020Do_R50", preprocess=PP_SALMAN),
    "Salman2020Do-RN50-2": hub("robustbench:Salman2020Do_50_2", preprocess=PP_SALMAN),
    **{f"{p}-{a}": hub(f"robustbench:{p}_{a}", preprocess=PP_LIU_SINGH)
       for p, a in [("Liu2023Comprehensive", "Swin-B"), ("Liu2023Comprehensive", "Swin-L"),
                    ("Liu2023Comprehensive", "ConvNeXt-B"), ("Liu2023Comprehensive", "ConvNeXt-L"),
                    ("Singh2023Revisiting", "ConvNeXt-T-ConvStem"),
                    ("Singh2023Revisiting", "ConvNeXt-S-ConvStem"),
                    ("Singh2023Revisiting", "ConvNeXt-B-ConvStem"),
                    ("Singh2023Revisiting", "ConvNeXt-L-ConvStem"),
                    ("Singh2023Revisiting", "ViT-B-ConvStem"), ("Singh2023Revisiting", "ViT-S-ConvStem")]},

    # --- the paper's own fine-tunes / probes: weights never released ---
    "vit-b-16-mae-lp": na("the paper's own MAE linear probe; checkpoint not released"),
    "Hiera-B-LP": na("the paper's own Hiera-B linear probe; checkpoint not released"),
    "Hiera-S-LP": na("the paper's own Hiera-S linear probe; checkpoint not released"),
    "Hiera-T-LP": na("the paper's own Hiera-T linear probe; checkpoint not released"),
    "ViTB-DINO-FT": na("the paper's own DINO ViT-B/16 fine-tune; checkpoint not released"),
    "ResNet50-DINO-FT": na("the paper's own DINO ResNet-50 fine-tune; checkpoint not released"),
    **{f"ViT-{s}-14-dinoV2-FT": na(f"the paper's own DINOv2 ViT-{s.upper()}/14 fine-tune; checkpoint not released")
       for s in "sbl"},
    **{f"ViT-{s}-14-dinoV2-FT-Reg": na(
        f"the paper's own DINOv2-reg ViT-{s.upper()}/14 fine-tune; checkpoint not released") for s in "sbl"},
}

# RSB A1/A2/A3 (paper: A123_MODELS). timm tags where timm ships the file, else URL.
_RSB_TIMM = {"ResNet18": "resnet18", "ResNet34": "resnet34", "ResNet50": "resnet50",
             "ResNet50d": "resnet50d", "ResNet101": "resnet101", "ResNet152": "resnet152",
             "ResNext50-32x4d": "resnext50_32x4d"}
for _pid, _arch in _RSB_TIMM.items():
    for _a in (1, 2, 3):
        MAPPING[f"{_pid}-A{_a}"] = tm(f"{_arch}.a{_a}_in1k")
# (paper id stem, timm name.tag whose architecture + data config the paper used, file stem, hashes A1/A2/A3)
_RSB_URL = [
    ("EfficientNet-b0", "tf_efficientnet_b0.in1k", "tf_efficientnet_b0", ("9188dd46", "48bede62", "94e799dc")),
    ("EfficientNet-b1", "tf_efficientnet_b1.in1k", "tf_efficientnet_b1", ("b55e845c", "d342a7bf", "ee9f9669")),
    ("EfficientNet-b2", "tf_efficientnet_b2.in1k", "tf_efficientnet_b2", ("f1382665", "ae4f4996", "61f0f688")),
    ("EfficientNet-b3", "tf_efficientnet_b3.in1k", "tf_efficientnet_b3", ("efc81b92", "e183dbec", "0a50fa9a")),
    ("EfficientNet-b4", "tf_efficientnet_b4.in1k", "tf_efficientnet_b4", ("182bef54", "bc5f172e", "a6a8179a")),
    ("EfficientNetv2-M", "efficientnetv2_rw_m.agc_in1k", "efficientnetv2_rw_m", ("b788290c", "12297cd3", "68b15d26")),
    ("EfficientNetv2-S", "efficientnetv2_rw_s.ra2_in1k", "efficientnetv2_rw_s", ("59d76611", "cafb8f99", "11105c48")),
    ("RegNety-040", "regnety_040.pycls_in1k", "regnety_040", ("453380cb", "acda0189", "9705a0d6")),
    ("RegNety-080", "regnety_080.pycls_in1k", "regnety_080", ("7d647454", "2298ae4e", "2fb073a0")),
    ("RegNety-160", "regnety_160.pycls_in1k", "regnety_160", ("ed74711e", "6631355e", "9ee45d21")),
    ("RegNety-320", "regnety_320.pycls_in1k", "regnety_320", ("6c920aed", "a9fedcbf", "242d2987")),
    ("SeNet154", "senet154.gluon_in1k", "gluon_senet154", ("ef9d383e", "63cb3b08", "d8df0fde")),
]
for _pid, _name, _stem, _hashes in _RSB_URL:
    for _a, _h in zip((1, 2, 3), _hashes):
        _note = "RSB release weights in the timm architecture (paper: A123_MODELS)"
        if _pid == "EfficientNet-b4" and _a == 1:
            _note += "; the paper's code spells this file 'f_efficientnet_b4_a1_0-182bef54.pth' (typo fixed)"
        MAPPING[f"{_pid}-A{_a}"] = hub(f"timm:{_name}", f"{RSB}{_stem}_a{_a}_0-{_h}.pth", notes=_note)


_CODA_TITLE = "Convolutional Dynamic Alignment Networks for Interpretable Classifications"
_TOKENFORMER_TITLE = "TokenFormer: Rethinking Transformer Scaling with Tokenized Model Parameters"
_TF_NOTE = ("no public weights: the paper's ImageNet-1k classifiers were not released (Haiyang-W/TokenFormer "
            "publishes language models only); parameter tokens per layer as its released configs: "
            "query/key/value and projection = width, feed-forward = 4 x width")
#: id -> row (every column but `id`): architectures from related papers (see the docstring).
EXTRA: dict[str, dict] = {
    "CoDA-Net-L": dict(
        display_name="CoDA-Net-L", architecture="CoDA-Net", paradigm="Supervised learning",
        pretraining_data="ImageNet-1k", groups="extra;coda", paper_title=_CODA_TITLE,
        **na("no public weights: the authors released code only (moboehle/CoDA-Nets) and trained this "
             "configuration (9L-L-CoDA-SQ-100000) on the first 100 ImageNet classes; quba builds it with "
             "1000 outputs", identifier="quba:coda_net(L)")),
    **{f"TokenFormer-{s}-16": dict(
        display_name=f"TokenFormer-{s}/16", architecture="Transformer", paradigm="Supervised learning",
        pretraining_data="ImageNet-1k", groups="extra;tokenformer", paper_title=_TOKENFORMER_TITLE,
        **na(_TF_NOTE, identifier=f"quba:tokenformer_vit({s})")) for s in "BL"},
}


def build_extra_rows() -> list[dict]:
    paper_ids = {r["model"] for r in paper_rows()}
    clash = sorted(set(EXTRA) & paper_ids)
    if clash:
        raise SystemExit(f"extra ids clash with the paper's: {clash}")
    return [{"id": k, **{c: v.get(c, "") for c in COLUMNS if c != "id"}} for k, v in EXTRA.items()]


def groups_for(row: dict) -> list[str]:
    """The paper's groups, from its metadata columns.

    architecture: CNN -> CNN, Transformer -> TRA, Vision-language -> ViL, B-cos -> Bcos
    paradigm: Supervised learning -> SL, Self-supervised learning -> SELF_SL,
              Semi-supervised learning -> SEMISL, Adversarial training -> AT, A1/A2/A3 -> same
    pretraining_data: ImageNet-1k -> IN1k, ImageNet-21k -> IN21k, Large-scale (...) -> BD
    every paper model -> ALL
    """
    arch = {"CNN": "CNN", "Transformer": "TRA", "Vision-language": "ViL", "B-cos": "Bcos"}
    para = {"Supervised learning": "SL", "Self-supervised learning": "SELF_SL",
            "Semi-supervised learning": "SEMISL", "Adversarial training": "AT",
            "A1": "A1", "A2": "A2", "A3": "A3"}
    data = {"ImageNet-1k": "IN1k", "ImageNet-21k": "IN21k"}
    out = [arch[row["architecture"]], para[row["paradigm"]]]
    pd_ = row["pretraining_data"]
    out.append(data.get(pd_, "BD" if pd_.startswith("Large-scale") else None))
    if None in out:
        raise ValueError(f"unmapped metadata in {row['model']}: {row}")
    return out + ["ALL"]


def paper_rows() -> list[dict]:
    with open(PAPER_CSV, newline="") as fh:
        return list(csv.DictReader(fh))


def build_rows() -> list[dict]:
    rows = []
    paper = paper_rows()
    missing = [r["model"] for r in paper if r["model"] not in MAPPING]
    extra = sorted(set(MAPPING) - {r["model"] for r in paper})
    if missing or extra:
        raise SystemExit(f"mapping out of step with the paper: missing={missing} extra={extra}")
    for r in paper:
        m = MAPPING[r["model"]]
        p = r["parameters_m"].strip()
        rows.append({
            "id": r["model"],
            "display_name": r["display_name"],
            "source": m["source"],
            "identifier": m["identifier"],
            "pretrained_tag": m["pretrained_tag"],
            "architecture": r["architecture"],
            "paradigm": r["paradigm"],
            "pretraining_data": r["pretraining_data"],
            "groups": ";".join(groups_for(r)),
            "paper_title": r["paper_title"],
            "parameters_m": "" if not p or math.isnan(float(p)) else p,
            "preprocess": m.get("preprocess", ""),
            "notes": m.get("notes", ""),
        })
    return rows


def verify(rows: list[dict]) -> list[str]:
    """Every identifier against the installed libraries' own listings."""
    sys.path.insert(0, str(ROOT))
    from quba.zoo.sources import identifier_problem

    return [f"{r['id']}: {msg}" for r in rows if (msg := identifier_problem(r))]


def check_params(rows: list[dict]) -> list[str]:
    """Build every entry on the meta device; counts within 2 % (or 0.05 M) of the paper."""
    sys.path.insert(0, str(ROOT))
    from quba.zoo.catalog import _parse
    from quba.zoo.sources import load_row

    problems = []
    for r in rows:
        if r["source"] == "unavailable" or not r["parameters_m"] or r["identifier"].startswith(
                ("robustbench:", "mobileclip:")):
            continue
        built = load_row(_parse(r), pretrained=False, device="meta")
        paper, got = float(r["parameters_m"]), built.parameters_full_m
        status = "ok" if abs(got - paper) <= max(0.02 * paper, 0.05 + 1e-9) else "MISMATCH"
        print(f"{status:8s} {r['id']:40s} paper {paper:8.1f}  built {got:8.2f}", file=sys.stderr)
        if status != "ok":
            problems.append(f"{r['id']}: {got:.2f} M parameters, the paper says {paper}")
    return problems


def render(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="verify only; do not write")
    ap.add_argument("--params", action="store_true", help="also compare every built parameter count with the paper")
    args = ap.parse_args(argv)
    rows, extra = build_rows(), build_extra_rows()
    problems = verify(rows + extra) + (check_params(rows) if args.params else [])
    for p in problems:
        print("problem:", p, file=sys.stderr)
    outputs = {OUT_CSV: render(rows), EXTRA_CSV: render(extra)}
    if args.check:
        stale = [p for p, text in outputs.items() if not (p.exists() and p.read_text() == text)]
        for p in stale:
            print(f"{p} is out of date; run python tools/build_zoo_catalog.py", file=sys.stderr)
        return 0 if not stale and not problems else 1
    if problems:
        return 1
    from collections import Counter

    for path, text, written in ((OUT_CSV, outputs[OUT_CSV], rows), (EXTRA_CSV, outputs[EXTRA_CSV], extra)):
        path.write_text(text)
        print(f"wrote {path} ({len(written)} rows): " + ", ".join(
            f"{k} {v}" for k, v in Counter(r["source"] for r in written).most_common()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
