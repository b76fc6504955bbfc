"""`quba certify`: certified information gain of a segmentation model (randomized smoothing)."""
from __future__ import annotations

import argparse
import json

from quba.suites.specs import DEFAULT_SUITE

ORDER = 60


def register(sub) -> None:
    p = sub.add_parser(
        "certify",
        help="certify a segmentation model by randomized smoothing (CIG, abstain rate, radius)",
        description=(
            "Certify every pixel of a segmentation model under Gaussian noise (SegCertify): per pixel the mode of "
            "n0 noisy predictions, its count in n further samples, a one-sided binomial test against tau with "
            "Holm (or Bonferroni) correction over the image's pixels; a pixel whose test fails abstains. The "
            "adaptive variant (default) first picks each pixel's hierarchy level from the top-2 margin of the mean "
            "softmax over the n0 samples and certifies the node at that level. Reports certified information gain "
            "(CIG, in [0, 1]), class-averaged cCIG, abstain rate, certified accuracy per level and the certified "
            "radius sigma * Phi^-1(tau). Runs on the suite's 'segmentation' split; records the result like "
            "'quba evaluate' (dimension certified_information_gain) unless --no-record."
        ),
        epilog="examples:\n  quba certify mini-seg-fcn --suite mini\n"
               "  quba certify mini-seg-fcn --sigma 0.5 --flat --format json\n"
               "  quba certify my_seg.py:build --hierarchy my_hierarchy.json --images 20\n\n"
               "hierarchy JSON: {\"levels\": [\"fine\", \"mid\", \"coarse\"], \"parents\": {\"cat\": [\"feline\", "
               "\"animal\"], ...}}\nor just {\"cat\": [\"feline\", \"animal\"], ...}; classes not listed (e.g. "
               "background) are their own node at every level.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL",
                   help="a segmentation model: a mini zoo id (e.g. mini-seg-fcn) or FILE.py:FUNCTION returning an "
                        "nn.Module that maps [0,1] images [N,3,H,W] to logits [N,1+classes,H,W] (0 = background)")
    from quba.cli import _names

    p.add_argument("--suite", default=DEFAULT_SUITE, metavar=_names.suite_metavar(),
                   help="suite with a 'segmentation' split (default mini)")
    p.add_argument("--data-root", metavar="DIR", help="data root for suites read from disk")
    g = p.add_argument_group("certification options (aliases of --option certified_information_gain.KEY=VALUE)")
    g.add_argument("--sigma", type=float, help="noise std in [0,1] pixel space (default 0.25)")
    g.add_argument("--n0", type=int, help="samples that choose the mode and the level (default 10)")
    g.add_argument("--n", type=int, help="samples that count the mode (default 100)")
    g.add_argument("--tau", type=float, help="probability threshold of the test (default 0.75)")
    g.add_argument("--alpha", type=float, help="family-wise error per image (default 0.001)")
    g.add_argument("--correction", choices=["holm", "bonferroni"],
                   help="multiple-testing correction over an image's pixels (default holm)")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument("--adaptive", dest="adaptive", action="store_true", default=None,
                      help="adaptive hierarchical certification (default)")
    mode.add_argument("--flat", dest="adaptive", action="store_false",
                      help="flat SegCertify at the fine level only")
    g.add_argument("--thresholds", type=float, nargs="+", metavar="T",
                   help="margin thresholds, fine to coarse, one per level above the fine one "
                        "(default 0.6 0.3 for three levels)")
    g.add_argument("--hierarchy", metavar="FILE.json",
                   help="a hierarchy over the suite's classes (default: the suite's own, e.g. QUBA-mini's "
                        "fine -> mid -> coarse)")
    g.add_argument("--images", type=int, metavar="N", help="certify only the first N images (default: all)")
    g.add_argument("--batch-size", type=int, metavar="B", help=f"noise samples per forward pass (default {CLI_BATCH_SIZE})")
    from quba.cli._further_options import add_option_flag

    add_option_flag(g)
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and the bootstrap (default 0)")
    p.add_argument("--device", default="auto", metavar="D", help="auto (default), cpu, cuda or cuda:<i>")
    p.add_argument("--output", "-o", default="results", metavar="DIR",
                   help="results folder for the record (DIR/<suite>/records/; default results)")
    p.add_argument("--no-record", dest="record", action="store_false", help="print only, write no record")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap resamples over images for the 95%% interval (default 200; 0: off)")
    p.add_argument("--format", "-f", choices=["table", "json"], default="table",
                   help="table (readable, default) or json (the dimension's entry of the record, with its path)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=run)


#: noise samples per forward pass of `quba certify` (the Python API's default: CertifyConfig's, 32)
CLI_BATCH_SIZE = 64
#: certify's flags: aliases of --option certified_information_gain.KEY (quba/cli/_further_options.py)
ALIASES = tuple((key, f"--{key.replace('_', '-')}", (("certified_information_gain", key),))
                for key in ("sigma", "n0", "n", "tau", "alpha", "correction", "thresholds", "hierarchy", "images",
                            "batch_size")) + (("adaptive", "--adaptive/--flat", (("certified_information_gain",
                                                                                  "adaptive"),)),)


def options(args) -> dict:
    """The dimension's options of the flags and every --option (`further_options`); an --option
    of another dimension is refused (certify measures this one)."""
    from quba.cli._further_options import further_options
    from quba.dimensions.certify import DIMENSION
    from quba.errors import QubaError

    given = further_options(args, ALIASES)
    others = [d for d in given if d != DIMENSION]
    if others:
        raise QubaError(f"--option {others[0]}.*: quba certify measures {DIMENSION} only; give its options "
                        f"(--option {DIMENSION}.KEY=VALUE)")
    return {"batch_size": CLI_BATCH_SIZE, **given.get(DIMENSION, {})}


def run(args) -> int:
    from quba.api import certify
    from quba.dimensions.certify import DIMENSION

    rec = certify(args.model, args.suite, options=options(args), bootstrap=args.bootstrap, device=args.device,
                  seed=args.seed, output=args.output if args.record else None, data_root=args.data_root,
                  progress=args.progress)
    entry = rec["dimensions"][DIMENSION]
    if args.format == "json":
        print(json.dumps({"model": rec["model"], "suite": rec["suite"], **entry, "record": rec.get("path")},
                         indent=1))
    else:
        print(render(rec["model"], rec["suite"], entry, rec.get("path")))
    return 0


def _f(x, nd=4):
    return "—" if x is None else f"{x:.{nd}f}"


def render(model: str, suite: str, entry: dict, path=None) -> str:
    d = entry.get("details", {})
    cfg = d.get("config", {})
    lines = [
        f"{model} on {suite}/segmentation: {cfg.get('images')} images, {d.get('pixels')} pixels, "
        f"{cfg.get('classes')} classes, {cfg.get('mode')} ({' > '.join(cfg.get('levels', []))})",
        f"sigma={cfg.get('sigma')} n0={cfg.get('n0')} n={cfg.get('n')} tau={cfg.get('tau')} "
        f"alpha={cfg.get('alpha')} correction={cfg.get('correction')}"
        + (f" thresholds={cfg.get('thresholds')}" if cfg.get("thresholds") else ""),
        "",
        f"  {'certified information gain (CIG)':<38}{_f(entry.get('value'))}"
        + (f"  [95% {_f(entry.get('lo'))}, {_f(entry.get('hi'))}]" if entry.get("lo") is not None else ""),
        f"  {'class-averaged CIG (cCIG)':<38}{_f(d.get('class_certified_information_gain'))}",
        f"  {'abstain rate':<38}{_f(d.get('abstain_rate'))}",
        f"  {'certified accuracy (at its level)':<38}{_f(d.get('certified_accuracy'))}",
        f"  {'certified radius sigma*Phi^-1(tau)':<38}{_f(d.get('certified_radius_tau'))}",
        f"  {'mean pixel radius sigma*Phi^-1(p_lo)':<38}{_f(d.get('mean_certified_radius'))}",
        "",
        f"  {'level':<10}{'selected':>10}{'certified':>11}{'correct':>9}{'cert. acc':>11}{'precision':>11}",
    ]
    for name, v in d.get("per_level", {}).items():
        lines.append(f"  {name:<10}{v['selected']:>10}{v['certified']:>11}{v['correct']:>9}"
                     f"{_f(v['certified_accuracy']):>11}{_f(v['precision']):>11}")
    lines.append("")
    lines.append("CIG: information of certified-correct pixels (a fine class gains log K, a node over m classes "
                 "log K - log m), over pixels x log K. cert. acc: correct at that level / all pixels.")
    if path:
        lines.append(f"record: {path}")
    return "\n".join(lines) + "\n"
