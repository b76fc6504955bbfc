"""`quba data generate imagenet-c`: write ImageNet-C style folders generated from `<root>/val`.

Every image goes through exactly the code of the suite's generate mode
(`ImageNetSuite(root, corruptions="generate")`, quba/suites/imagenet.py): resize to 256, centre
crop 224, the `imagecorruptions` function seeded by `imagenet_c_seed(seed, corruption, severity,
val position)`. Files are written losslessly (PNG), so a generated folder read back gives the
same pixels as generating on the fly. `--per-class N` takes the images `--subset N` takes from
val (`stratified_subset`, seed 0), so `quba evaluate --subset N` on the generated folders measures
what the generate mode measures.

Each file is written to a temporary name and renamed, so a run that is killed resumes where it
stopped (finished files are kept, the rest is made). The run's parameters and the images each
split must hold are written first to `<root>/imagenet-c/quba-generated.json` (what `quba data
check` and the records read). Worker processes come from a forkserver, never a plain fork after
OpenCV or torch ran (that hung: issue 23.1).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
from pathlib import Path

from quba.datasets.common import read_record, root_folder, worker_context, worker_init
from quba.errors import QubaError
from quba.numbers import check_int

GENERATED = "quba-generated.json"
FORMAT = 1
#: images per worker task at most (each image is decoded once for all its corruptions); fewer when
#: there are too few images to keep every worker busy
CHUNK = 4


def read_generated(root) -> dict | None:
    """The provenance of generated ImageNet-C folders under `root`, or None."""
    return read_record(Path(root) / "imagenet-c" / GENERATED, "splits", "generation record",
                       "delete it with the generated folders and generate them again")


def _check_names(corruptions, severities):
    from quba.errors import closest
    from quba.metrics.robustness import IMAGENET_C_CORRUPTIONS, SEVERITIES

    cs = list(IMAGENET_C_CORRUPTIONS) if not corruptions else []
    for c in corruptions or ():
        for part in str(c).split(","):
            part = part.strip()
            if not part:
                continue
            if part not in IMAGENET_C_CORRUPTIONS:
                raise QubaError(f"unknown corruption {part!r}{closest(part, IMAGENET_C_CORRUPTIONS)}; "
                                f"corruptions: {', '.join(IMAGENET_C_CORRUPTIONS)}")
            cs.append(part)
    ss = []
    for s in severities or SEVERITIES:
        try:
            v = int(s)
        except (TypeError, ValueError):
            v = -1
        if v not in SEVERITIES:
            raise QubaError(f"severity {s!r} is not one of {', '.join(map(str, SEVERITIES))}")
        ss.append(v)
    if not cs:
        raise QubaError("no corruption named")
    return list(dict.fromkeys(cs)), sorted(set(ss))


def render(task) -> tuple[int, list[str]]:
    """Worker: ([(val position, val path, [(corruption, severity, output path)])], seed)
    -> (files written, unreadable val paths)."""
    from PIL import Image

    from quba.suites.imagenet import imagenet_c_base, imagenet_c_corrupt, imagenet_c_seed

    items, seed = task
    written, unreadable = 0, []
    for index, path, outputs in items:
        try:
            with Image.open(path) as im:  # as the suite's dataset reads it
                img = im.convert("RGB")
                img.load()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            unreadable.append(path)
            continue
        base = imagenet_c_base(img)
        for name, severity, out in outputs:
            pic = imagenet_c_corrupt(base, name, severity, imagenet_c_seed(seed, name, severity, index))
            out = Path(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
            try:
                pic.save(tmp, format="PNG")
                os.replace(tmp, out)
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            written += 1
    return written, unreadable


def generate_imagenet_c(root, *, per_class: int | None = None, corruptions=None, severities=None, workers: int = 0,
                        seed: int = 0, progress: bool = True, log=None) -> dict:
    """Generate ImageNet-C style folders `<root>/imagenet-c/<corruption>/<severity>/<wnid>/*.png` from
    `<root>/val`. per_class: the images `--subset N` takes (None: all of val). workers: processes
    (0: this one). seed: the suite seed (`ImageNetSuite(root, seed=...)`). Running it again makes
    only what is missing. Returns {splits, images_per_split, written, kept, unreadable, record}."""
    from quba.engine.runner import stratified_subset
    from quba.paths import atomic_write_text
    from quba.suites.base import SplitInfo
    from quba.suites.imagenet import ImageNetSuite

    log = log or (lambda line: print(line, file=sys.stderr))
    per_class = check_int(per_class, "--per-class", 1, allow_none=True)
    workers = check_int(workers, "--workers", 0)
    seed = check_int(seed, "--seed", 0)
    cs, ss = _check_names(corruptions, severities)
    root = root_folder(root)
    suite = ImageNetSuite(root, seed=seed)
    val = suite.split("val")  # one QubaError line when val is missing or not sorted
    import numpy as np

    chosen = stratified_subset(val.labels, per_class) if per_class else np.arange(len(val))
    from quba.datasets.completeness import count_status, expectations

    val_exp = expectations(root).get("val")  # generated from an incomplete val: incomplete too
    val_complete = bool(count_status(len(val), int(len(np.unique(val.labels))), val_exp)["complete"]) \
        if val_exp else True
    out_root = root / "imagenet-c"
    record = read_generated(root) or {"format": FORMAT, "seed": seed, "image_format": "png", "splits": {}}
    if record.get("seed") != seed:
        raise QubaError(f"{out_root} was generated with --seed {record.get('seed')}; use that seed, or remove the "
                        "generated folders to generate them with another")
    planned = {}
    for c in cs:
        for s in ss:
            split = SplitInfo.corrupted(c, s).name
            folder = out_root / c / str(s)
            before = record["splits"].get(split)
            if before is None and folder.exists():
                raise QubaError(f"{folder} exists but was not generated by quba (a downloaded ImageNet-C?); "
                                "generating into it would mix the two: move it away or leave out "
                                f"--corruptions {c}")
            if before is not None and _larger(before.get("per_class"), per_class):
                raise QubaError(f"{folder} was generated with --per-class {before.get('per_class') or 'all'}, more "
                                f"than {per_class or 'all'}; keep it, or remove it to generate fewer")
            planned[split] = {"per_class": per_class, "images": int(len(chosen)),
                              "classes": int(len(np.unique(val.labels[chosen]))), "source_complete": val_complete}
    record["splits"].update(planned)
    record.update(format=FORMAT, updated=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                  source="val", subset_seed=0)
    out_root.mkdir(exist_ok=True)
    atomic_write_text(out_root / GENERATED, json.dumps(record, indent=1, sort_keys=True) + "\n")

    tasks, kept = [], 0
    for i in chosen.tolist():
        rel = Path(val.meta["path"][i])
        outputs = []
        for c in cs:
            for s in ss:
                out = out_root / c / str(s) / rel.parent / (rel.stem + ".png")
                if out.exists():
                    kept += 1
                else:
                    outputs.append((c, s, str(out)))
        if outputs:
            tasks.append((i, val.paths[i], outputs))
    _clean_temps(out_root, cs, ss)
    total = sum(len(t[2]) for t in tasks)
    log(f"generating {total} images ({len(cs)} corruption(s) x {len(ss)} severities x {len(chosen)} val images"
        + (f"; {kept} already there" if kept else "") + ")")
    written, unreadable = _run(tasks, seed, workers, total, progress)
    if unreadable:
        record = read_generated(root) or record
        record["unreadable_val"] = sorted(set(record.get("unreadable_val", [])) | {str(p) for p in unreadable})
        for split in planned:
            record["splits"][split]["images"] = planned[split]["images"] - len(set(unreadable))
        atomic_write_text(out_root / GENERATED, json.dumps(record, indent=1, sort_keys=True) + "\n")
        log(f"{len(set(unreadable))} val image(s) could not be read and have no corrupted copies, e.g. {unreadable[0]}")
    return {"splits": len(planned), "images_per_split": int(len(chosen)), "written": written, "kept": kept,
            "unreadable": sorted(set(unreadable)), "record": str(out_root / GENERATED)}


def _larger(before, now) -> bool:
    """Whether an earlier per-class count covers more images than `now` (None: all)."""
    if before is None:
        return now is not None
    return now is not None and before > now


def _clean_temps(out_root: Path, cs, ss) -> None:
    """Remove the temporary files of a killed run (`.<name>.<pid>.tmp`)."""
    for c in cs:
        for s in ss:
            folder = out_root / c / str(s)
            if not folder.is_dir():
                continue
            for d in os.scandir(folder):
                if d.is_dir():
                    for f in os.scandir(d.path):
                        if f.name.startswith(".") and f.name.endswith(".tmp"):
                            with contextlib.suppress(OSError):
                                os.unlink(f.path)


def _run(tasks, seed: int, workers: int, total: int, progress: bool):
    from tqdm import tqdm

    written, unreadable = 0, []
    size = max(1, min(CHUNK, -(-len(tasks) // max(workers, 1))))  # a few images: spread over the workers
    chunks = [(tasks[k:k + size], seed) for k in range(0, len(tasks), size)]
    with tqdm(total=total, unit="img", desc="imagenet-c", disable=not progress, file=sys.stderr, leave=False) as bar:
        if workers <= 0 or len(chunks) <= 1:
            for ch in chunks:
                n, bad = render(ch)
                written += n
                unreadable += bad
                bar.update(sum(len(t[2]) for t in ch[0]))
            return written, unreadable
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers, mp_context=worker_context(), initializer=worker_init) as pool:
            futures = {pool.submit(render, ch): sum(len(t[2]) for t in ch[0]) for ch in chunks}
            for fut in as_completed(futures):
                n, bad = fut.result()
                written += n
                unreadable += bad
                bar.update(futures[fut])
    return written, unreadable
