"""`quba zoo`: the model catalog (the QUBA paper's 326 models, extra architectures, the mini zoo)."""
from __future__ import annotations

import json
import sys

ORDER = 20

_LIST_COLUMNS = ("id", "source", "identifier", "pretrained_tag", "architecture", "paradigm", "pretraining_data",
                 "groups", "parameters_m", "available", "notes")


def register(sub) -> None:
    p = sub.add_parser(
        "zoo",
        help="list and inspect the model zoo (QUBA paper models and the mini zoo)",
        description="The model zoo: one catalog row per model id of the QUBA paper (326), ImageNet-scale "
                    "configurations of further architectures (group 'extra': CoDA-Nets, TokenFormer) and the "
                    "mini zoo, with the library and pretrained tag each is built from.",
    )
    zsub = p.add_subparsers(dest="zoo_command", metavar="SUBCOMMAND", parser_class=type(p))

    lp = zsub.add_parser("list", help="list catalog entries (filter by group, source, availability)",
                         description="List catalog entries. Groups are the paper's: CNN, TRA, ViL, Bcos, SL, "
                                     "SELF_SL, SEMISL, AT, A1, A2, A3, IN1k, IN21k, BD, ALL; plus 'mini', "
                                     "'extra' (architectures beyond the paper) and the families 'bcos', "
                                     "'coda', 'tokenformer', 'students'.")
    lp.add_argument("--group", "-g", metavar="G", help="only models of this group (e.g. ViL, AT, IN21k, mini)")
    from quba.cli import _names

    lp.add_argument("--source", "-s", metavar="S",
                    help=f"only this source: {', '.join(_names.sources())}")
    lp.add_argument("--available", action="store_true",
                    help="only entries this installation can load (weights may still need a download)")
    lp.add_argument("--format", "-f", choices=["table", "csv", "json"], default="table",
                    help="table (readable), csv or json (all catalog columns)")
    lp.set_defaults(func=run_list)

    sp = zsub.add_parser("show", help="one catalog entry; --build also constructs it without weights",
                         description="Show one catalog entry. With --build the architecture is constructed "
                                     "without weights (nothing downloaded) and its parameters counted: "
                                     "parameters_m = what classifies an image (CLIP family: image tower + "
                                     "zero-shot head), parameters_full_m = the whole model. Without --build "
                                     "both come from the paper (which counted the whole model for CLIP-family "
                                     "entries, so parameters_m is null there).")
    sp.add_argument("id", help="model id, e.g. ResNet50 or clip-vit-b-16")
    sp.add_argument("--build", action="store_true", help="construct the architecture and count its parameters")
    sp.add_argument("--format", "-f", choices=["text", "json"], default="text",
                    help="text (readable, default) or json (every catalog column, availability and parameter counts)")
    sp.set_defaults(func=run_show)

    fp = zsub.add_parser("fetch", help="download the weights of catalog models into the cache",
                         description="Download (or verify) the published weights of catalog models, and for "
                                     "CLIP-family models compute the zero-shot head, so that later runs work "
                                     "offline. With QUBA_CACHE=DIR everything goes under DIR; copy that folder "
                                     "to an offline machine.")
    fp.add_argument("ids", nargs="+", metavar="ID", help="catalog model ids")
    fp.set_defaults(func=run_fetch)

    tp = zsub.add_parser("train-mini", help="(re)train mini-zoo models and store their weights",
                         description="Retrain mini-zoo models on QUBA-mini with their recipes and store their "
                                     "weights (all mini models when no id is given).")
    tp.add_argument("ids", nargs="*", metavar="ID", help="mini model ids (default: all)")
    tp.add_argument("--steps", type=int, metavar="N", help="training steps (default: each recipe's own)")
    tp.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    tp.set_defaults(func=run_train_mini)

    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _rows(args):
    from quba.zoo.catalog import select

    from quba.zoo.sources import is_available

    rows = select(group=args.group, source=args.source)
    for r in rows:
        r["available"] = is_available(r)
    return [r for r in rows if r["available"]] if args.available else rows


def _fmt_params(v) -> str:
    return "" if v is None else f"{v:g}"


def run_list(args) -> int:
    rows = _rows(args)
    if args.format == "json":
        print(json.dumps(rows, indent=1))
    elif args.format == "csv":
        import pandas as pd

        from quba import csvsafe

        cols = list(dict.fromkeys(list(_LIST_COLUMNS) + [k for r in rows for k in r]))
        frame = pd.DataFrame([{**r, "parameters_m": _fmt_params(r["parameters_m"])} for r in rows], columns=cols,
                             dtype=object)
        # text cells escaped against spreadsheet formulas (quba/csvsafe.py)
        sys.stdout.write(csvsafe.to_csv(frame, index=False, lineterminator="\n"))
    else:
        table = [("id", "source", "identifier", "params (M)", "groups")]
        for r in rows:
            ident = r["identifier"] or "-"
            tag = r["pretrained_tag"]
            if tag and not tag.startswith("http"):
                ident = f"{ident} [{tag}]"
            if r["source"] == "unavailable":
                ident = f"- ({r['notes']})"
            table.append((r["id"], r["source"] if r["available"] or r["source"] == "unavailable"
                          else r["source"] + "*", ident, _fmt_params(r["parameters_m"]), r["groups"]))
        widths = [min(max(len(t[i]) for t in table), cap) for i, cap in enumerate((40, 12, 70, 10, 40))]
        for t in table:
            print("  ".join(c[:w].ljust(w) for c, w in zip(t, widths)).rstrip())
        missing = sum(1 for r in rows if not r["available"] and r["source"] != "unavailable")
        print(f"\n{len(rows)} models" + (f"; * = needs a package not installed ({missing})" if missing else ""))
    return 0


def run_show(args) -> int:
    from quba.zoo.catalog import get
    from quba.zoo.sources import is_available

    row = get(args.id)
    info = dict(row)
    info["available"] = is_available(row)
    paper = row["parameters_m"]
    vil = row.get("architecture") == "Vision-language"
    info["paper_parameters_m"] = paper
    info["parameters_m"] = None if vil else paper
    info["parameters_full_m"] = paper
    if args.build:
        from quba.zoo.sources import load_row

        built = load_row(row, pretrained=False, device="meta")
        info["parameters_m"] = round(built.parameters_m, 4)
        info["parameters_full_m"] = round(built.parameters_full_m, 4)
        info["input_size"] = list(built.input_size) if built.input_size else None
        info["built"] = True
    if args.format == "json":
        print(json.dumps(info, indent=1))
    else:
        for k, v in info.items():
            if v not in ("", None):
                print(f"{k:20s} {v}")
    return 0


def run_fetch(args) -> int:
    from quba.zoo import load_model
    from quba.zoo.catalog import get

    rows = [get(i) for i in args.ids]  # unknown ids fail before any download
    for row in rows:
        loaded = load_model(row["id"], pretrained=True)
        print(f"{row['id']}: ok ({loaded.parameters_m:.1f} M parameters)")
        del loaded
    return 0


def run_train_mini(args) -> int:
    from quba.errors import QubaError

    try:
        from quba.zoo.mini.train import main
    except ImportError as exc:
        raise QubaError(f"mini-zoo training is not available in this installation ({exc})") from None
    return int(main(args.ids or None, steps=args.steps, seed=args.seed) or 0)
