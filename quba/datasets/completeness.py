"""`quba data check`: is a data root complete and undamaged? And the cheap part of it that
`quba evaluate --suite imagenet` runs before measuring.

What a split must hold comes from, in this order: the subset's provenance
(`<root>/quba-subset.json`, written by `quba data subset`), the generation record of generated
ImageNet-C folders (`<root>/imagenet-c/quba-generated.json`), the manifest (the datasets' own
counts). Per split the check counts images and class folders against that, and lists zero-byte
and undecodable files (a full decode; JPEGs at reduced scale, which still reads every byte),
folders that are no class of the split and stray files (anything but images in a class folder,
anything but class folders in a split folder). Exit status: 0 when every split holds exactly
what it should, 1 otherwise, 2 for bad input.
"""
from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from quba.datasets.common import is_image, read_record, resolve_dims, root_folder
from quba.datasets.manifest import Manifest, manifest_for

SUBSET_FILE = "quba-subset.json"
#: problems listed per kind in the table's detail lines
EXAMPLES = 3
#: Statuses, worst first (a split gets the worst that applies).
STATUSES = ("missing", "damaged", "incomplete", "unexpected", "ok")


@dataclass(frozen=True)
class Expected:
    images: int
    classes: int
    per_class: int | None
    source: str  # manifest | generated | subset
    source_complete: bool = True


@dataclass
class SplitReport:
    split: str
    folder: str
    dataset: str | None
    expected: Expected
    present: bool = False
    images: int = 0
    classes: int = 0
    missing_classes: list[str] = field(default_factory=list)
    short_classes: int = 0
    zero_byte: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    unknown_folders: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)
    status: str = "ok"
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["expected"] = asdict(self.expected)
        return d


def read_subset(root) -> dict | None:
    """The provenance of a subset root (`quba data subset`), or None."""
    return read_record(Path(root) / SUBSET_FILE, "splits", "subset provenance", "make the subset again")


def expectations(root, manifest: Manifest | None = None) -> dict[str, Expected]:
    """What each split under `root` must hold: subset provenance > generation record > manifest."""
    from quba.datasets.generate import read_generated

    man = manifest_for(root, manifest)
    out = {s.name: Expected(s.images, s.classes, s.per_class, "manifest") for s in man.splits().values()}
    gen = read_generated(root)
    for split, v in (gen or {}).get("splits", {}).items():
        out[split] = Expected(int(v["images"]), int(v["classes"]), v.get("per_class"), "generated",
                              bool(v.get("source_complete", True)))
    sub = read_subset(root)
    for split, v in (sub or {}).get("splits", {}).items():
        out[split] = Expected(int(v["images"]), int(v["classes"]), v.get("per_class"), "subset",
                              bool(v.get("source_complete", True)))
    return out


def _describe(exp: Expected, man: Manifest | None = None, split: str | None = None) -> str:
    """Where the expected counts come from; a --manifest (or the root's own) that sets other counts
    than the published ones is named as the source, not the dataset."""
    from quba.datasets.manifest import load_manifest

    if exp.source == "manifest" and man is not None and len(man.sources) > 1:
        pub = load_manifest().splits().get(split)
        if pub is None or (pub.images, pub.classes) != (exp.images, exp.classes):
            return f"the manifest {man.sources[-1]}"
    return {"manifest": "the dataset's published counts", "generated": "quba-generated.json",
            "subset": SUBSET_FILE}[exp.source]


# ---------------------------------------------------------------------------- the cheap part
def count_status(images: int, classes: int, exp: Expected) -> dict:
    """{"complete", and when not: expected/found images and classes, "missing": a short phrase}."""
    complete = images == exp.images and classes == exp.classes and exp.source_complete
    out = {"complete": bool(complete)}
    if not complete:
        why = []
        if images != exp.images:
            why.append(f"{images:,} of {exp.images:,} images")
        if classes != exp.classes:
            why.append(f"{classes:,} of {exp.classes:,} classes")
        if not exp.source_complete:
            why.append("made from an incomplete split" if exp.source == "generated" else
                       "a subset of an incomplete split")
        out.update(expected_images=exp.images, found_images=images, expected_classes=exp.classes,
                   found_classes=classes, missing=", ".join(why), expected_from=exp.source)
    return out


def quick_status(root, splits: dict, manifest: Manifest | None = None) -> dict[str, dict]:
    """Counts of loaded suite splits ({name: ImageNetSplit}) against what they must hold; a split
    generated on the fly from val gets val's status. Splits the manifest does not know are left out."""
    import numpy as np

    from quba.suites.imagenet import ImageNetSplit

    exp = expectations(root, manifest)
    out = {}
    for name, sp in splits.items():
        key = "val" if isinstance(sp, ImageNetSplit) and sp.corruption is not None else name
        if key not in exp:
            continue
        out[name] = count_status(len(sp), int(len(np.unique(sp.labels))), exp[key])
    return out


def completeness_hook(suite):
    """For `quba.engine.measure_model(split_check=...)`: a function of the loaded splits that warns
    (one line) about incomplete ones and returns their statuses; None for suites not read from a
    data root of the imagenet suite."""
    from quba.suites.imagenet import ImageNetSuite

    if not isinstance(suite, ImageNetSuite):
        return None

    def hook(splits: dict) -> dict:
        statuses = quick_status(suite.root, splits)
        bad = [(k, v) for k, v in statuses.items() if not v["complete"]]
        if bad:
            from quba.integrity import warn

            shown = "; ".join(f"{k} ({v['missing']})" for k, v in bad[:3])
            more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
            warn(f"incomplete data under {suite.root}: {shown}{more}; measured anyway, recorded as complete: false "
                 f"and not comparable with the paper's rows ('quba data check --data-root {suite.root}' lists what is "
                 "missing)")
        return statuses

    return hook


def data_provenance(suite, split_names=()) -> dict | None:
    """What a record keeps about how the suite's data root was made (`provenance.data`): the subset's
    provenance (`subset`), how the measured ImageNet-C splits were generated (`generated_imagenet_c`:
    folders of `quba data generate`, or on the fly in the suite's generate mode), and the measured
    splits the root's own manifest expects other counts of than the datasets publish (`manifest`,
    see `described_splits`); None for other suites or when there is nothing to keep."""
    from quba.datasets.generate import read_generated
    from quba.suites.imagenet import ImageNetSuite

    if not isinstance(suite, ImageNetSuite):
        return None
    root = suite.root
    names = sorted({str(s).split("@")[0] for s in split_names})
    corrupted = [s for s in names if suite.split_info(s).family == "corruption"]
    out = {}
    sub = read_subset(root)
    if sub is not None:
        out["subset"] = {k: sub.get(k) for k in ("seed", "per_class", "source_root", "source_fingerprint",
                                                  "created")}
    gen = read_generated(root) if suite.corruptions == "folders" else None
    if gen is not None and any(s in gen["splits"] for s in corrupted):
        out["generated_imagenet_c"] = {k: gen.get(k) for k in ("seed", "image_format", "subset_seed", "updated")}
        out["generated_imagenet_c"]["per_class"] = sorted({v.get("per_class") or 0 for v in gen["splits"].values()})
    elif suite.corruptions == "generate" and corrupted:
        out["generated_imagenet_c"] = {"seed": suite.seed, "on_the_fly": True}
    described = described_splits(root, names)
    if described:
        out["manifest"] = described
    return out or None


def described_splits(root, names) -> dict | None:
    """{"file": the root's own manifest, "splits": {split: {images, classes, published_images,
    published_classes}}} for the splits `names` whose counts that manifest (`quba data fetch|prepare
    --manifest FILE`, kept as `<root>/.quba-data/manifest.json`) sets to other numbers than the shipped
    manifest's, the datasets' published ones: such a split can be complete as described and still
    hold other images than the published dataset (a few photos as `val`). A subset root inherits what
    its source root's manifest described (`source_manifest` in its provenance, `quba data subset`).
    None when there are none."""
    from quba.datasets.manifest import load_manifest, root_manifest_path

    names = list(names)
    inherited = (read_subset(root) or {}).get("source_manifest") or {}
    out = {s: v for s, v in (inherited.get("splits") or {}).items() if s in names}
    path = root_manifest_path(root)
    if path.is_file():
        published = load_manifest().splits()
        exp = expectations(root)
        for name in names:
            e, p = exp.get(name), published.get(name)
            if e is None or e.source != "manifest" or (p is not None and (e.images, e.classes) == (p.images,
                                                                                                   p.classes)):
                continue
            out[name] = {"images": e.images, "classes": e.classes, "published_images": p.images if p else None,
                         "published_classes": p.classes if p else None}
    if not out:
        return None
    return {"file": str(path) if path.is_file() else inherited.get("file"), "splits": out}


# ---------------------------------------------------------------------------- the full check
def _scan(root: Path, split: str, folder: Path, rep: SplitReport) -> list[str]:
    """Fill the counts and layout problems of one split; returns the image paths to decode."""
    from quba.suites.imagenet import class_labels

    entries = sorted((e for e in os.scandir(folder) if not e.name.startswith(".")), key=lambda e: e.name)
    known = class_labels(split, [e.name for e in entries if e.is_dir()])
    present, to_decode, per_class = set(), [], {}
    for e in entries:
        rel = os.path.relpath(e.path, root)
        if not e.is_dir():
            rep.stray.append(rel)
            continue
        if e.name not in known:
            rep.unknown_folders.append(rel)
            continue
        n = 0
        for f in sorted(os.scandir(e.path), key=lambda f: f.name):
            if f.name.startswith("."):
                continue
            frel = os.path.relpath(f.path, root)
            if f.is_dir() or not is_image(f.name):
                rep.stray.append(frel + ("/" if f.is_dir() else ""))
                continue
            n += 1
            if f.stat().st_size == 0:
                rep.zero_byte.append(frel)
            else:
                to_decode.append(f.path)
        if n:
            present.add(e.name)
            per_class[e.name] = n
    rep.images = sum(per_class.values())
    rep.classes = len(present)
    universe = sorted(set(known.values()))
    if rep.expected.classes == len(universe) and _family(split) != "background":
        rep.missing_classes = sorted(set(known) - present)
    if rep.expected.per_class:
        rep.short_classes = sum(1 for n in per_class.values() if n < rep.expected.per_class)
    return to_decode


def decode_ok(path: str) -> str | None:
    """None when the image decodes fully, else why not (JPEGs are decoded at 1/8 scale: every byte is
    still read, so a truncated file fails)."""
    from PIL import Image, ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False  # some libraries switch it on; a check must not
    try:
        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return f"{exc.__class__.__name__}: {exc}"
    return None


def _decode_chunk(paths: list[str]) -> list[tuple[str, str]]:
    return [(p, why) for p in paths if (why := decode_ok(p)) is not None]


def _decode_all(paths: list[str], workers: int, progress: bool) -> dict[str, str]:
    from tqdm import tqdm

    bad: dict[str, str] = {}
    chunks = [paths[k:k + 256] for k in range(0, len(paths), 256)]
    with tqdm(total=len(paths), unit="img", desc="decoding", disable=not progress, file=sys.stderr,
              leave=False) as bar:
        if workers <= 0 or len(chunks) <= 1:
            for ch in chunks:
                bad.update(_decode_chunk(ch))
                bar.update(len(ch))
            return bad
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from quba.datasets.common import worker_context

        with ProcessPoolExecutor(max_workers=workers, mp_context=worker_context()) as pool:
            futures = {pool.submit(_decode_chunk, ch): len(ch) for ch in chunks}
            for fut in as_completed(futures):
                bad.update(fut.result())
                bar.update(futures[fut])
    return bad


def _family(split: str) -> str:
    from quba.suites.imagenet import SPLITS

    return SPLITS[split].family if split in SPLITS else ""


def _judge(rep: SplitReport, man: Manifest) -> None:
    exp = rep.expected
    if not rep.present:
        ds = man.datasets.get(rep.dataset) if rep.dataset else None
        how = ""
        if ds is not None:
            how = f"quba data fetch {ds.name}" if ds.downloadable else (ds.how or "")
            if _family(rep.split) == "corruption":
                how += " (or: quba data generate imagenet-c)"
        rep.status = "missing"
        rep.problems.append(f"folder {rep.folder} is missing" + (f"; {how}" if how else ""))
        return
    found = []
    if rep.zero_byte or rep.unreadable:
        found.append("damaged")
        rep.problems.append(f"{len(rep.zero_byte)} zero-byte and {len(rep.unreadable)} undecodable image(s), e.g. "
                            + ", ".join((rep.zero_byte + rep.unreadable)[:EXAMPLES]))
    counts = count_status(rep.images, rep.classes, exp)
    if rep.images < exp.images or rep.classes < exp.classes or not exp.source_complete:
        found.append("incomplete")
        detail = counts.get("missing", "")
        if rep.missing_classes:
            detail += f"; missing class folder(s) {', '.join(rep.missing_classes[:EXAMPLES])}" + (
                f" and {len(rep.missing_classes) - EXAMPLES} more" if len(rep.missing_classes) > EXAMPLES else "")
        if rep.short_classes:
            detail += f"; {rep.short_classes} class(es) hold fewer than {exp.per_class} images"
        rep.problems.append(f"{detail} (expected per {_describe(exp, man, rep.split)})")
    if rep.unknown_folders:
        found.append("unexpected")
        rep.problems.append(f"{len(rep.unknown_folders)} folder(s) that are no class of {rep.split}, e.g. "
                            + ", ".join(rep.unknown_folders[:EXAMPLES]) + " (the suite refuses them)")
    if rep.stray:
        found.append("unexpected")
        rep.problems.append(f"{len(rep.stray)} stray file(s), e.g. " + ", ".join(rep.stray[:EXAMPLES]))
    if rep.images > exp.images or rep.classes > exp.classes:
        found.append("unexpected")
        rep.problems.append(f"more than expected: {rep.images:,} of {exp.images:,} images, "
                            f"{rep.classes:,} of {exp.classes:,} classes (expected per {_describe(exp, man, rep.split)})")
    rep.status = min(found, key=STATUSES.index) if found else "ok"


def check(root, dims=None, *, decode: bool = True, workers: int = 0, manifest=None, progress: bool = True) -> dict:
    """Check the splits the dimensions `dims` read (None: every split of the suite) under `root`.

    decode: decode every image (False: counts and layout only, what `quba evaluate` runs).
    workers: decoding processes (0: this one). Returns {"root", "complete", "splits": [SplitReport
    as dicts], "dims"}; `complete` is True when every split's status is ok."""
    from quba.numbers import check_int

    root = root_folder(root)
    workers = check_int(workers, "--workers", 0)
    man = manifest_for(root, manifest)
    names = resolve_dims(dims)
    specs = man.splits_for(names)
    exp = expectations(root, man)
    reports, to_decode = [], []
    for s in specs:
        rep = SplitReport(split=s.name, folder=s.folder, dataset=s.dataset, expected=exp.get(s.name))
        folder = root / s.folder
        rep.present = folder.is_dir()
        if rep.present:
            paths = _scan(root, s.name, folder, rep)
            to_decode += [(rep, p) for p in paths]
        reports.append(rep)
    if decode and to_decode:
        bad = _decode_all([p for _, p in to_decode], workers, progress)
        for rep, p in to_decode:
            if p in bad:
                rep.unreadable.append(os.path.relpath(p, root))
    for rep in reports:
        _judge(rep, man)
    return {"root": str(root), "dims": names, "decoded": bool(decode),
            "complete": all(r.status == "ok" for r in reports), "splits": [r.as_dict() for r in reports]}


def render_check(result: dict) -> str:
    """The table of `quba data check`, then one line per problem."""
    rows = [("split", "images", "classes", "zero-byte", "undecodable", "unknown dirs", "stray", "status")]
    for r in result["splits"]:
        e = r["expected"]
        if r["present"]:
            rows.append((r["split"], f"{r['images']:,}/{e['images']:,}", f"{r['classes']:,}/{e['classes']:,}",
                         str(len(r["zero_byte"])), str(len(r["unreadable"])) if result["decoded"] else "—",
                         str(len(r["unknown_folders"])), str(len(r["stray"])), r["status"]))
        else:
            rows.append((r["split"], f"—/{e['images']:,}", f"—/{e['classes']:,}", "—", "—", "—", "—", "missing"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[j]) if j in (0, 7) else c.rjust(widths[j]) for j, c in enumerate(row)))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    problems = [(r["split"], p) for r in result["splits"] for p in r["problems"]]
    if problems:
        lines.append("")
        lines += [f"{s}: {p}" for s, p in problems]
    bad = sum(1 for r in result["splits"] if r["status"] != "ok")
    n = len(result["splits"])
    lines.append("")
    if not n:
        lines.append("nothing to check: the dimensions named read no data")
    elif bad:
        lines.append(f"{bad} of {n} split(s) not complete under {result['root']}"
                     + ("" if result["decoded"] else " (counts only; images not decoded)"))
    else:
        lines.append(f"complete: all {n} split(s) under {result['root']} hold what they should"
                     + ("" if result["decoded"] else " (counts only; images not decoded)"))
    return "\n".join(lines) + "\n"
