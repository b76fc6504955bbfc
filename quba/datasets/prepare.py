"""`quba data prepare imagenet-val`: sort the user's own ImageNet validation images into val/<wnid>/.

The labels come from the ILSVRC 2012 devkit, parsed by torchvision
(`torchvision.datasets.imagenet.parse_devkit_archive`: it checks the devkit's md5, reads
data/meta.mat with scipy and data/ILSVRC2012_validation_ground_truth.txt), or from a labels
file (one WNID per line in image order, or `image,WNID ...` lines such as Kaggle's
LOC_val_solution.csv). Image `ILSVRC2012_val_<n>.JPEG` gets the n-th label, so a partial copy is
sorted correctly too; other names get the labels in sorted-name order.

The images come from ILSVRC2012_img_val.tar (extracted safely, straight into the class
folders) or from a folder of extracted images (hard-linked where the filesystem allows, else
copied; the source is left as it is). The sorted tree is built in a work folder inside the data
root and renamed to `<root>/val` when complete.
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

from quba.datasets.common import STATE_DIR, Linker, drop_work_dir, is_image, root_folder, work_dir
from quba.datasets.download import FetchError
from quba.errors import QubaError
from quba.paths import atomic_write_text

_VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})")
_WNID = re.compile(r"^n\d{8}$")
#: What the last `prepare_imagenet_val` into a root made (so that running it again does nothing).
MARKER = "prepared-val.json"


def _marker(root: Path) -> dict | None:
    try:
        return json.loads((root / STATE_DIR / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def devkit_labels(devkit) -> list[str]:
    """The WNIDs of the 50,000 validation images in order, from the devkit (torchvision's parser)."""
    devkit = Path(devkit).expanduser()
    if not devkit.is_file():
        raise QubaError(f"--devkit {str(devkit)!r} does not exist; give ILSVRC2012_devkit_t12.tar.gz (from "
                        "image-net.org) or --labels FILE")
    try:
        import scipy.io  # noqa: F401 - torchvision reads the devkit's meta.mat with it
    except ImportError:
        raise QubaError("reading the devkit needs scipy (pip install scipy)") from None
    from torchvision.datasets.imagenet import load_meta_file, parse_devkit_archive

    with tempfile.TemporaryDirectory(prefix="quba-devkit-") as tmp:
        try:
            parse_devkit_archive(tmp, str(devkit.resolve()))
            _, wnids = load_meta_file(tmp)
        except RuntimeError as exc:
            if "corrupted" in str(exc) or "not present" in str(exc):
                raise QubaError(f"--devkit {str(devkit)!r} is not the official ILSVRC2012_devkit_t12.tar.gz "
                                "(torchvision checks its md5 fa75699e90414af021442c21a62c3abf); give that file, or "
                                "--labels FILE") from None
            raise QubaError(f"--devkit {str(devkit)!r} cannot be parsed ({exc})") from None
        except (OSError, KeyError, ValueError, IndexError) as exc:
            raise QubaError(f"--devkit {str(devkit)!r} cannot be parsed ({exc.__class__.__name__}: {exc})") from None
    return [str(w) for w in wnids]


def read_labels(path):
    """A labels file: a list of WNIDs (line i: image i) or a dict {image name or stem: WNID}."""
    path = Path(path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise QubaError(f"--labels {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QubaError(f"cannot read --labels {str(path)!r} ({exc.__class__.__name__})") from None
    positional: list[str] = []
    named: dict[str, str] = {}
    for n, line in enumerate(lines, 1):
        fields = [f for f in re.split(r"[,\s]+", line.strip()) if f]
        if not fields:
            continue
        if len(fields) == 1 and _WNID.match(fields[0]):
            positional.append(fields[0])
            continue
        wnid = next((f for f in fields[1:] if _WNID.match(f)), None)
        if wnid is None:
            if n == 1:
                continue  # a header line (ImageId,PredictionString)
            raise QubaError(f"--labels {str(path)!r} line {n}: no WNID (nXXXXXXXX) in {line.strip()!r}; expected "
                            "'WNID' or 'IMAGE,WNID ...' lines")
        named[fields[0]] = wnid
    if positional and named:
        raise QubaError(f"--labels {str(path)!r} mixes bare WNID lines with 'IMAGE,WNID' lines; use one form")
    if not positional and not named:
        raise QubaError(f"--labels {str(path)!r} holds no labels")
    return positional or named


class _Labeller:
    """WNID of an image name, from positional labels (ILSVRC numbering, else sorted order) or by name."""

    def __init__(self, labels, known: set[str]):
        self.labels = labels
        bad = sorted({w for w in (labels if isinstance(labels, list) else labels.values()) if w not in known})
        if bad:
            raise QubaError(f"labels name {len(bad)} WNID(s) that are not ImageNet-1k classes, e.g. {bad[0]}")

    def __call__(self, name: str, position: int | None = None) -> str:
        base = os.path.basename(name)
        if isinstance(self.labels, dict):
            for key in (base, os.path.splitext(base)[0]):
                if key in self.labels:
                    return self.labels[key]
            raise FetchError(f"image {base!r} has no label; the labels cover {len(self.labels)} images")
        m = _VAL_NAME.search(base)
        if m:
            i = int(m.group(1)) - 1
        elif position is not None:
            i = position
        else:
            raise FetchError(f"member {name!r} is not an ILSVRC2012_val_NNNNNNNN image; the archive is not "
                             "ILSVRC2012_img_val.tar")
        if not 0 <= i < len(self.labels):
            raise FetchError(f"image {base!r} is number {i + 1}, but the labels cover {len(self.labels)} images")
        return self.labels[i]


def prepare_imagenet_val(source, root, *, devkit=None, labels=None, manifest=None, progress: bool = True,
                         log=None) -> dict:
    """Sort the validation images `source` (ILSVRC2012_img_val.tar or a folder of the extracted images)
    into `<root>/val/<wnid>/`, labelled by `devkit` (ILSVRC2012_devkit_t12.tar.gz) or `labels` (a
    file, or a list/dict as `read_labels` returns). manifest: a --manifest FILE describing the root
    (e.g. a val of your own that is not ImageNet's 50,000 images), kept in it as `quba data fetch
    --manifest` keeps one. Returns {images, classes, linked, copied, val}. Running it again on a
    root whose val/ is already complete does nothing (but keep a manifest given)."""
    from quba.datasets.manifest import keep_root_manifest, load_manifest
    from quba.metrics.decisions import canonical_wnids

    log = log or (lambda line: print(line, file=sys.stderr))
    if (devkit is None) == (labels is None):
        raise QubaError("give the labels once: --devkit ILSVRC2012_devkit_t12.tar.gz or --labels FILE")
    source = Path(source).expanduser()
    if not source.exists():
        raise QubaError(f"--from {str(source)!r} does not exist; give ILSVRC2012_img_val.tar or the folder of "
                        "extracted validation images")
    if manifest is not None:
        load_manifest(manifest)  # a bad one is one line before anything is written
    root = root_folder(root, must_exist=False)
    val = root / "val"
    if val.exists():
        n = sum(1 for d in val.iterdir() if d.is_dir() for f in d.iterdir() if is_image(f.name))
        done = _marker(root)
        if done and done.get("images") == n and done.get("source") == str(source.resolve()):
            log(f"{val} already holds the {n} images of {source.name}, sorted; nothing to do")
            if manifest is not None:
                keep_root_manifest(root, manifest)
            return {**done, "linked": 0, "copied": 0, "val": str(val), "status": "present"}
        raise QubaError(f"{val} already exists ({n} sorted images); move it away to prepare val again")
    if isinstance(labels, (list, dict)):
        lab = labels
    elif labels is not None:
        lab = read_labels(labels)
    else:
        lab = devkit_labels(devkit)
    labeller = _Labeller(lab, set(canonical_wnids()))
    root.mkdir(parents=True, exist_ok=True)
    work = work_dir(root, "imagenet-val")
    linker = Linker()
    try:
        if source.is_dir():
            _from_folder(source, work, labeller, linker, progress)
        else:
            _from_archive(source, work, labeller, progress)
        classes = [d for d in work.iterdir() if d.is_dir()]
        n = sum(1 for d in classes for _ in d.iterdir())
        if n == 0:
            raise QubaError(f"--from {str(source)!r} holds no images")
        os.rename(work, val)
    finally:
        drop_work_dir(work)
    summary = {"images": n, "classes": len(classes), "source": str(source.resolve())}
    atomic_write_text(root / STATE_DIR / MARKER, json.dumps(summary, indent=1) + "\n")
    if manifest is not None:
        keep_root_manifest(root, manifest)
    log(f"{val}: {n} images in {len(classes)} classes" + (" (hard links)" if linker.linked and not linker.copied
                                                           else " (copies)" if linker.copied else ""))
    return {"images": n, "classes": len(classes), "linked": linker.linked, "copied": linker.copied, "val": str(val),
            "status": "prepared"}


def _from_archive(archive: Path, work: Path, labeller: _Labeller, progress: bool) -> None:
    from quba.datasets.extract import safe_extract

    def place(rel: str) -> str | None:
        if not is_image(os.path.basename(rel)):
            return None
        return f"{labeller(rel)}/{os.path.basename(rel)}"

    safe_extract(archive, work, place=place, progress=progress, desc=f"sorting {archive.name}")


def _from_folder(folder: Path, work: Path, labeller: _Labeller, linker: Linker, progress: bool) -> None:
    names = sorted(e.name for e in os.scandir(folder) if e.is_file() and is_image(e.name))
    if not names:
        subs = [e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")]
        hint = (f"; it holds {len(subs)} folders -- if they are already one per WNID, use them as <root>/val "
                "directly") if subs else ""
        raise QubaError(f"--from {str(folder)!r} holds no images{hint}")
    from tqdm import tqdm

    for pos, name in enumerate(tqdm(names, desc="sorting val", unit="img", disable=not progress, file=sys.stderr,
                                    leave=False)):
        wnid = labeller(name, pos)
        (work / wnid).mkdir(exist_ok=True)
        linker(folder / name, work / wnid / name)
