"""`quba data`: get, check and subset the datasets of the imagenet suite (a thin shell over quba.datasets)."""
from __future__ import annotations

import argparse
import json
import sys

from quba.cli._aliases import deprecate

ORDER = 21

_DIMS_HELP = ("only the datasets these dimensions read (names or aliases, space- or comma-separated; default: "
              "every dataset of the suite)")


def _progress(p) -> None:
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars on stderr")


def _data_root(p, text: str, required: bool = True) -> None:
    """--data-root DIR, the name `quba evaluate` gives the same folder (before 0.2: --root)."""
    p.add_argument("--data-root", required=required, metavar="DIR", help=text)
    deprecate(p, "--root", "--data-root")


def _manifest(p) -> None:
    """--manifest FILE of list, fetch, check and subset (prepare's keeps the file in the root: its own help)."""
    p.add_argument("--manifest", metavar="FILE", help="a JSON file adding or overriding datasets (docs/data.md)")


def register(sub) -> None:
    p = sub.add_parser(
        "data",
        help="get, check and subset the ImageNet-family datasets (--suite imagenet)",
        description="The datasets of the imagenet suite under one data root (docs/data.md): list them, fetch "
                    "what can be downloaded, sort your own ImageNet validation images, generate ImageNet-C from "
                    "them, check that every split is complete and undamaged, make a fixed per-class subset.",
        epilog="a data root from scratch:\n"
               "  quba data prepare imagenet-val --from ILSVRC2012_img_val.tar --devkit ILSVRC2012_devkit_t12.tar.gz "
               "--data-root /data/imagenet\n"
               "  quba data fetch all --data-root /data/imagenet\n"
               "  quba data check --data-root /data/imagenet\n"
               "  quba evaluate resnet50 --suite imagenet --data-root /data/imagenet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", parser_class=type(p))

    lp = dsub.add_parser("list", help="every dataset: dimensions, source, size, images, checksums, terms",
                         description="The manifest (quba/data/datasets.json): per dataset the dimensions that read "
                                     "it, where it comes from, its archives (size, checksum and where that comes "
                                     "from), its splits with the images and classes each must hold, and its terms. "
                                     "ImageNet itself is never downloaded: it needs your own copy.")
    lp.add_argument("names", nargs="*", metavar="NAME", help="datasets or groups (default: all)")
    _data_root(lp, "also show what was fetched into DIR (and the checksums recorded at the first download)",
               required=False)
    _manifest(lp)
    lp.add_argument("--format", "-f", choices=["text", "json"], default="text",
                    help="text (readable, default) or json (the manifest's entries, with what DIR holds)")
    lp.set_defaults(func=run_list)

    fp = dsub.add_parser("fetch", help="download, verify and unpack datasets into a data root (resumable)",
                         description="Download each archive (resumed with HTTP Range after a dropped connection or "
                                     "a kill), check its size and checksums, extract it safely and arrange it into "
                                     "the layout of docs/imagenet-layout.md. Running it again does nothing for what "
                                     "is in place. Exit 1 when a download, a checksum or an archive fails; 2 for "
                                     "bad input.")
    fp.add_argument("names", nargs="+", metavar="NAME",
                    help="datasets (quba data list) or groups: model-vs-human, all")
    _data_root(fp, "the data root (created if missing)")
    fp.add_argument("--mirror", metavar="URL",
                    help="take the same file names from this base URL instead of the official one")
    _manifest(fp)
    fp.add_argument("--keep-archives", action="store_true",
                    help="keep the downloaded archives under DIR/.quba-data/downloads (default: delete once unpacked)")
    fp.add_argument("--retries", type=int, default=5, metavar="N",
                    help="attempts per archive before giving up (default 5; the next run resumes)")
    fp.add_argument("--timeout", type=float, default=60.0, metavar="S",
                    help="seconds without a byte before a stalled server counts as a failed attempt (default 60)")
    _progress(fp)
    fp.set_defaults(func=run_fetch)

    pp = dsub.add_parser("prepare", help="sort your ImageNet validation images into val/<wnid>/",
                         description="Sort ILSVRC2012_img_val.tar (or a folder of the extracted images) into "
                                     "DIR/val/<wnid>/, labelled by the ILSVRC 2012 devkit (parsed by torchvision) or "
                                     "a labels file. The source is left as it is (a folder's images are hard-linked "
                                     "where possible, else copied).")
    pp.add_argument("dataset", choices=["imagenet-val"], help="what to prepare")
    pp.add_argument("--from", dest="source", required=True, metavar="PATH",
                    help="ILSVRC2012_img_val.tar or a folder of the extracted validation images")
    pp.add_argument("--devkit", metavar="FILE", help="ILSVRC2012_devkit_t12.tar.gz (needs scipy)")
    pp.add_argument("--labels", metavar="FILE",
                    help="instead of --devkit: one WNID per line in image order, or 'IMAGE,WNID ...' lines "
                         "(e.g. Kaggle's LOC_val_solution.csv)")
    _data_root(pp, "the data root (created if missing)")
    pp.add_argument("--manifest", metavar="FILE",
                    help="a JSON file describing the root, kept in it (docs/data.md#a-data-root-of-your-own): e.g. "
                         "the counts of a val that is not ImageNet's 50,000 images")
    _progress(pp)
    pp.set_defaults(func=run_prepare)

    gp = dsub.add_parser("generate", help="write ImageNet-C style folders generated from DIR/val",
                         description="Generate DIR/imagenet-c/<corruption>/<severity>/<wnid>/*.png from DIR/val with "
                                     "the code and seeds of the suite's generate mode (the same pixels), for users "
                                     "who cannot download ImageNet-C. Resumable: running it again makes only what "
                                     "is missing.")
    gp.add_argument("dataset", choices=["imagenet-c"], help="what to generate")
    _data_root(gp, "the data root holding val/")
    gp.add_argument("--per-class", type=int, metavar="N",
                    help="only the N images per class that --subset N takes (default: all of val)")
    gp.add_argument("--corruptions", nargs="+", metavar="NAME", help="which corruptions (default: the 15)")
    gp.add_argument("--severities", nargs="+", type=int, metavar="S", help="which severities 1-5 (default: all)")
    gp.add_argument("--workers", type=int, default=0, metavar="N", help="worker processes (default 0: this one)")
    gp.add_argument("--seed", type=int, default=0, metavar="S",
                    help="the suite seed whose generate mode to match (default 0)")
    _progress(gp)
    gp.set_defaults(func=run_generate)

    cp = dsub.add_parser("check", help="is every split complete and undamaged? (exit 0 yes, 1 no, 2 bad input)",
                         description="One row per split: images and classes found against those expected (the "
                                     "datasets' counts, or a subset's or a generation's own), zero-byte and "
                                     "undecodable images, folders that are no class, stray files. Exit 0 when "
                                     "every split holds exactly what it should, 1 otherwise, 2 for bad input.")
    _data_root(cp, "the data root")
    cp.add_argument("--dims", nargs="+", metavar="DIM", help=_DIMS_HELP)
    cp.add_argument("--quick", action="store_true",
                    help="counts and layout only, no decoding (what quba evaluate runs before measuring)")
    cp.add_argument("--workers", type=int, default=0, metavar="N", help="decoding processes (default 0: this one)")
    _manifest(cp)
    cp.add_argument("--format", "-f", choices=["table", "json"], default="table",
                    help="table (readable, default) or json (one entry per split)")
    _progress(cp)
    cp.set_defaults(func=run_check)

    sp = dsub.add_parser("subset", help="a fixed stratified N-per-class subset of the whole family",
                         description="Write the N images per class that --subset N takes, of every split under "
                                     "--data-root (hard links where possible, else copies), to the new folder "
                                     "--output, with its provenance in DIR2/quba-subset.json (carried into every "
                                     "record evaluated on it).")
    _data_root(sp, "the full data root")
    sp.add_argument("--per-class", type=int, required=True, metavar="N", help="images per class")
    sp.add_argument("--output", "-o", required=True, metavar="DIR2", help="the new data root (must not exist)")
    deprecate(sp, "--out", "--output")  # before 0.2
    sp.add_argument("--seed", type=int, default=0, metavar="S",
                    help="seed of the per-class choice (default 0: the images quba evaluate --subset N takes)")
    sp.add_argument("--dims", nargs="+", metavar="DIM", help=_DIMS_HELP)
    _manifest(sp)
    _progress(sp)
    sp.set_defaults(func=run_subset)

    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _log(line: str) -> None:
    print(line, file=sys.stderr)


def _size(n) -> str:
    from quba.datasets.fetching import fmt_bytes

    return fmt_bytes(n) if n is not None else "not published"


def run_list(args) -> int:
    from quba.datasets import list_datasets

    rows = list_datasets(args.names or None, manifest=args.manifest, root=args.data_root)
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return 0
    blocks = []
    for d in rows:
        lines = [f"{d['name']}  {d['title']}"]
        lines.append(f"  dimensions  {', '.join(d['dimensions'])}")
        lines.append(f"  source      {d['source']}")
        if d["downloadable"]:
            size = _size(d["size"]) if d["size"] is not None else "size not published"
            lines.append(f"  download    {size}, {len(d['files'])} archive(s): quba data fetch {d['name']}")
        else:
            lines.append(f"  download    no: {d['how']}")
        for f in d["files"]:
            if f["sha256"]:
                digest = f"sha256 {f['sha256'][:16]}…"
            elif f["md5"]:
                digest = f"md5 {f['md5']}"
            else:
                digest = "no checksum"
            how = {"published": "published", "recorded": "recorded at the first download into --data-root",
                   "first download": "none published: recorded at the first download"}[f["checksum"]]
            if f["checksum"] == "published" and not f["sha256"]:
                how = "published md5" + ("; sha256 recorded at the first download" if d["downloadable"] else "")
            lines.append(f"    {f['name']}  {_size(f['size'])}  {digest} ({how})" + ("  [fetched]" if f["fetched"] else ""))
        for s in d["splits"][:3]:
            lines.append(f"  split       {s['name']}: {s['images']:,} images in {s['classes']:,} classes "
                         f"({s['folder']}/)")
        if len(d["splits"]) > 3:
            lines.append(f"              ... {len(d['splits'])} splits, {d['images']:,} images in all")
        source = d["splits"][0]["counts_source"] if d["splits"] else None
        if source:
            lines.append(f"  counts      {source}")
        lines.append(f"  terms       {d['terms']}")
        if d["citation"]:
            lines.append(f"  cite        {d['citation']}")
        if d["note"]:
            lines.append(f"  note        {d['note']}")
        blocks.append("\n".join(lines))
    print("\n\n".join(blocks))
    return 0


def run_fetch(args) -> int:
    from quba.datasets import fetch
    from quba.datasets.download import RetryPolicy
    from quba.numbers import check_int

    retries = check_int(args.retries, "--retries", 1)
    if not args.timeout > 0:
        from quba.errors import QubaError

        raise QubaError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    results = fetch(args.names, args.data_root, mirror=args.mirror, manifest=args.manifest,
                    keep_archives=args.keep_archives, progress=args.progress,
                    policy=RetryPolicy(attempts=retries, timeout=args.timeout), log=_log)
    for r in results:
        print(f"{r['dataset']}/{r['file']}: {r['status']} ({_size(r['size'])}, sha256 {r['sha256']}, {r['checksum']})")
    return 0


def run_prepare(args) -> int:
    from quba.datasets import prepare_imagenet_val

    r = prepare_imagenet_val(args.source, args.data_root, devkit=args.devkit, labels=args.labels,
                             manifest=args.manifest, progress=args.progress, log=_log)
    print(f"{r['val']}: {r['images']} images in {r['classes']} classes ({r['status']})")
    return 0


def run_generate(args) -> int:
    from quba.datasets import generate_imagenet_c

    r = generate_imagenet_c(args.data_root, per_class=args.per_class, corruptions=args.corruptions,
                            severities=args.severities, workers=args.workers, seed=args.seed,
                            progress=args.progress, log=_log)
    print(f"{r['splits']} split(s) of {r['images_per_split']} images: {r['written']} written, {r['kept']} already "
          f"there; record {r['record']}")
    return 1 if r["unreadable"] else 0


def run_check(args) -> int:
    from quba.datasets import check
    from quba.datasets.completeness import render_check

    result = check(args.data_root, args.dims, decode=not args.quick, workers=args.workers, manifest=args.manifest,
                   progress=args.progress)
    if args.format == "json":
        print(json.dumps(result, indent=1))
    else:
        sys.stdout.write(render_check(result))
    return 0 if result["complete"] else 1


def run_subset(args) -> int:
    from quba.datasets import subset

    r = subset(args.data_root, args.output, args.per_class, seed=args.seed, dims=args.dims, manifest=args.manifest,
               progress=args.progress, log=_log)
    print(f"{r['out']}: {r['images']} images in {r['splits']} split(s) ({r['status']})")
    return 0
