"""`quba data subset`: a fixed, stratified N-per-class subset of every split of a data root.

The images are the ones `quba evaluate --subset N` takes (`stratified_subset`: per class, a
permutation seeded by (seed, class) over the class's images in name order), so val and its
ImageNet-C copies keep the same images, and evaluating the subset root measures what `--subset
N` on the full root measures. Files are hard-linked where the filesystem allows, copied
otherwise. The subset is built beside `--output` and renamed to it when complete; its provenance
(seed, N, the source root and a fingerprint of its listing, per split the images taken and
whether the source split was complete) is written to `<output>/quba-subset.json`, which `quba data
check` reads for the expected counts and `quba evaluate` copies into each record.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from quba.datasets.completeness import SUBSET_FILE, count_status, described_splits, expectations, read_subset
from quba.datasets.common import Linker, resolve_dims, root_folder
from quba.datasets.manifest import manifest_for
from quba.errors import QubaError
from quba.numbers import check_int

FORMAT = 1


def _inside(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents


def _stale_partials(out: Path) -> None:
    from quba.integrity import _pid_alive

    for d in out.parent.glob(f".{out.name}.partial.*"):
        pid = d.name.rsplit(".", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def subset(root, out, per_class, *, seed: int = 0, dims=None, manifest=None, progress: bool = True,
           log=None) -> dict:
    """Write the `per_class`-per-class subset of every split of `root` present (or of the splits the
    dimensions `dims` read) to the new folder `out`. Returns {out, splits, images, linked, copied,
    status}; running it again with the same arguments on an unchanged root does nothing."""
    from quba.engine.runner import stratified_subset
    from quba.suites.imagenet import ImageNetSuite

    log = log or (lambda line: print(line, file=sys.stderr))
    per_class = check_int(per_class, "--per-class", 1)
    seed = check_int(seed, "--seed", 0)
    root = root_folder(root)
    out = Path(out).expanduser()
    if _inside(out, root) or _inside(root, out):
        raise QubaError(f"--output {str(out)!r} must lie outside --data-root {str(root)!r} (and not contain it)")
    man = manifest_for(root, manifest)
    names = resolve_dims(dims)
    suite = ImageNetSuite(root)
    wanted = [s for s in man.splits_for(names) if (root / s.folder).is_dir()]
    if not wanted:
        raise QubaError(f"{root} holds none of the split folders" + (f" the dimensions {', '.join(names)} read"
                                                                      if names else "") + " (docs/imagenet-layout.md)")
    splits = {s.name: suite.split(s.name) for s in wanted}  # a bad layout: one line, before any work
    fingerprint = _fingerprint(root, wanted, splits)
    if out.exists():
        prev = read_subset(out) if out.is_dir() else None
        same = prev is not None and (prev.get("seed"), prev.get("per_class"), prev.get("source_fingerprint"),
                                     sorted(prev.get("splits", {}))) == (seed, per_class, fingerprint,
                                                                          sorted(splits))
        if same:
            log(f"{out} already holds this subset ({per_class} per class, seed {seed}); nothing to do")
            return {"out": str(out), "splits": len(splits), "images": sum(v["images"] for v in prev["splits"].values()),
                    "linked": 0, "copied": 0, "status": "present"}
        raise QubaError(f"--output {str(out)!r} already exists" + (" and holds another subset" if prev else "")
                        + "; choose a new folder or remove it")
    import numpy as np
    from tqdm import tqdm

    expected = expectations(root, man)
    out.parent.mkdir(parents=True, exist_ok=True)
    _stale_partials(out)
    work = out.parent / f".{out.name}.partial.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    link = Linker()
    prov_splits = {}
    try:
        todo = {name: stratified_subset(sp.labels, per_class, seed) for name, sp in splits.items()}
        with tqdm(total=int(sum(len(i) for i in todo.values())), unit="img", desc="subset", disable=not progress,
                  file=sys.stderr, leave=False) as bar:
            for spec in wanted:
                sp, idx = splits[spec.name], todo[spec.name]
                made = set()
                for i in idx.tolist():
                    dst = work / spec.folder / sp.meta["path"][i]
                    if dst.parent not in made:
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        made.add(dst.parent)
                    link(sp.paths[i], dst)
                    bar.update(1)
                src_status = count_status(len(sp), int(len(np.unique(sp.labels))), expected[spec.name]) \
                    if spec.name in expected else {"complete": True}
                prov_splits[spec.name] = {"images": int(len(idx)), "classes": int(len(np.unique(sp.labels[idx]))),
                                          "per_class": per_class, "source_images": len(sp),
                                          "source_complete": bool(src_status["complete"])}
        gen = root / "imagenet-c" / "quba-generated.json"
        if gen.is_file() and (work / "imagenet-c").is_dir():
            shutil.copy2(gen, work / "imagenet-c" / gen.name)
        prov = {"format": FORMAT, "seed": seed, "per_class": per_class, "source_root": str(root.resolve()),
                "source_fingerprint": fingerprint, "created": _dt.datetime.now(_dt.timezone.utc)
                .isoformat(timespec="seconds"), "quba": _version(), "linked": link.linked, "copied": link.copied,
                "splits": prov_splits}
        described = described_splits(root, prov_splits)  # a root of one's own stays one in its subsets
        if described:
            prov["source_manifest"] = described
        (work / SUBSET_FILE).write_text(json.dumps(prov, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.rename(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = sum(v["images"] for v in prov_splits.values())
    incomplete = [k for k, v in prov_splits.items() if not v["source_complete"]]
    log(f"{out}: {n} images in {len(prov_splits)} split(s), {per_class} per class"
        + (f" ({link.linked} hard links, {link.copied} copies)" if link.copied else " (hard links)")
        + (f"; {len(incomplete)} source split(s) were incomplete, e.g. {incomplete[0]} (recorded)" if incomplete else ""))
    return {"out": str(out), "splits": len(prov_splits), "images": n, "linked": link.linked, "copied": link.copied,
            "status": "made"}


def _version() -> str:
    from quba import __version__

    return __version__


def _fingerprint(root: Path, wanted, splits) -> str:
    """sha256 over the relative path and size of every image of the chosen splits (and the generation
    record of generated folders): another root holding the same files gets the same fingerprint."""
    h = hashlib.sha256()
    for spec in wanted:
        sp = splits[spec.name]
        h.update(f"{spec.name}\n".encode())
        for rel, path in zip(sp.meta["path"].tolist(), sp.paths):
            with contextlib.suppress(OSError):
                h.update(f"{spec.folder}/{rel}:{os.stat(path).st_size}\n".encode())
    gen = root / "imagenet-c" / "quba-generated.json"
    if gen.is_file():
        h.update(gen.read_bytes())
    return "sha256:" + h.hexdigest()
