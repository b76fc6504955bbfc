"""Archives for the `quba data` tests, built in the internal layouts of the real releases, with
colour-coded PNG images (imagenet_fixture: the image says which class the model should predict).

    imagenet_r_tar()      imagenet-r/<wnid>/*.png (+ imagenet-r/README.txt, as the release has)
    imagenet_c_tar()      <corruption>/<severity>/<wnid>/ILSVRC2012_val_*.png (blur.tar)
    mvh_tar(name)         edge|silhouette|cue-conflict: <name>/<category>/*.png;
                          sketch|stylized: <name>/dnn/session-1/NNNN_ske_dnn_0_<category>_00_*.png
    bg_tar()              bg_challenge/<variation>/val/<NN_class>/*.png (also original/, fg_mask/)
    val_tar()             flat ILSVRC2012_val_<n>.png, with its labels (one WNID per image)
    devkit_tar()          ILSVRC2012_devkit_t12/data/{meta.mat, ILSVRC2012_validation_ground_truth.txt};
                          accept_devkit() lets torchvision take it (it checks the official md5)
    hostile archives      sparse_tar(), and tar_bytes/zip_bytes with any members
    user_manifest()       a --manifest pointing the datasets at a local server, with sizes and sha256
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile

import numpy as np
from PIL import Image

from imagenet_fixture import colour_of, in9_index, sixteen_index
from quba.metrics.decisions import canonical_wnids, imagenet_r_wnids

WNIDS = ("n01440764", "n02085620", "n15075141")
CATEGORIES = ("bear", "bird", "truck")
BG_CLASSES = (0, 1, 8)
BLUR = ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur")


def png(k: int, size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), colour_of(k), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(seed: int = 0, size: int = 32) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _index(w: str) -> int:
    return canonical_wnids().index(w)


def tar_bytes(entries: dict, gz: bool = False, links: dict | None = None) -> bytes:
    """A tar of {path: bytes}; links: {path: (kind 'sym'|'hard'|'chr', target)}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE}[kind]
            info.linkname = target if kind != "chr" else ""
            if kind == "chr":
                info.devmajor, info.devminor = 1, 3
            tar.addfile(info)
    return buf.getvalue()


def zip_bytes(entries: dict, symlinks: dict | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            zi = zipfile.ZipInfo(name)
            zi.external_attr = (0o120777 << 16)
            zf.writestr(zi, target)
    return buf.getvalue()


def big_member_tar(size: int = 40 << 20) -> bytes:
    """A tar.gz of a few kB whose one member unpacks to `size` bytes of zeros."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("imagenet-r/n01443537/huge.png")
        info.size = size

        class Zeros(io.RawIOBase):
            def __init__(self):
                self.left = size

            def readable(self):
                return True

            def readinto(self, b):
                n = min(len(b), self.left)
                b[:n] = bytes(n)
                self.left -= n
                return n

        tar.addfile(info, io.BufferedReader(Zeros(), 1 << 20))
    return buf.getvalue()


def sparse_tar(real_size: int = 1 << 30, name: str = "imagenet-r/n01443537/sparse.png") -> bytes:
    """A tar of ~2 kB holding an old-GNU sparse member that unpacks to `real_size` bytes (512 stored).
    tarfile cannot write one, so the header is made by hand (GNU tar's format: type 'S', sparse map
    at offset 386, real size at 483)."""
    info = tarfile.TarInfo(name)
    info.size = 512
    info.mode = 0o644
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))

    def octal(n: int, width: int = 12) -> bytes:
        return (b"%0*o" % (width - 1, n)) + b"\0"

    header[156:157] = b"S"
    header[386:398] = octal(real_size - 512)  # one stored region, at the end
    header[398:410] = octal(512)
    header[482:483] = b"\0"  # no extension headers
    header[483:495] = octal(real_size)
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + b"x" * 512 + bytes(1024)


def imagenet_r_tar(wnids=None, n: int = 2) -> tuple[bytes, dict]:
    wnids = list(wnids or imagenet_r_wnids()[:2])
    entries = {f"imagenet-r/{w}/art_{i}.png": png(_index(w)) for w in wnids for i in range(n)}
    entries["imagenet-r/README.txt"] = b"ImageNet-R\n"
    return tar_bytes(entries), {"images": n * len(wnids), "classes": len(wnids)}


def imagenet_c_tar(corruptions=BLUR, severities=(1, 2, 3, 4, 5), wnids=WNIDS, n: int = 2) -> tuple[bytes, dict]:
    entries = {f"{c}/{s}/{w}/ILSVRC2012_val_{_index(w):05d}{i:03d}.png": png(_index(w))
               for c in corruptions for s in severities for w in wnids for i in range(n)}
    return tar_bytes(entries), {"images": n * len(wnids), "classes": len(wnids)}


def mvh_tar(name: str, categories=CATEGORIES, n: int = 2, fmt: str = "tar.gz") -> tuple[bytes, dict]:
    entries = {}
    if name == "cue-conflict":
        for shape in categories:
            for texture in categories:
                entries[f"cue-conflict/{shape}/{shape}1-{texture}2.png"] = png(sixteen_index(shape))
        counts = {"images": len(categories) ** 2, "classes": len(categories)}
    elif name in ("sketch", "stylized"):
        t = 0
        for c in categories:
            for i in range(n):
                t += 1
                entries[f"{name}/dnn/session-1/{t:04d}_{name[:3]}_dnn_0_{c}_00_{c}-{i}.png"] = png(sixteen_index(c))
        counts = {"images": n * len(categories), "classes": len(categories)}
    else:
        entries = {f"{name}/{c}/{c}{i + 1}.png": png(sixteen_index(c)) for c in categories for i in range(n)}
        counts = {"images": n * len(categories), "classes": len(categories)}
    data = zip_bytes(entries) if fmt == "zip" else tar_bytes(entries, gz=True)
    return data, counts


def bg_tar(classes=BG_CLASSES, n: int = 2) -> tuple[bytes, dict]:
    from quba.suites.imagenet import BG_CLASS_FOLDERS

    entries = {}
    for kind in ("mixed_same", "mixed_rand", "original"):
        for c in classes:
            for i in range(n):
                entries[f"bg_challenge/{kind}/val/{BG_CLASS_FOLDERS[c]}/{kind}_{i}.png"] = png(in9_index(c))
    entries["bg_challenge/fg_mask/val/00_dog/mask_0.npy"] = b"\x93NUMPY"
    return tar_bytes(entries, gz=True), {"images": n * len(classes), "classes": len(classes)}


def val_tar(wnids=WNIDS, n: int = 2) -> tuple[bytes, list[str]]:
    """The val archive: flat ILSVRC2012_val_<k>.png, image k of class wnids[(k-1) % len]; and its labels."""
    labels, entries = [], {}
    for k in range(1, n * len(wnids) + 1):
        w = wnids[(k - 1) % len(wnids)]
        labels.append(w)
        entries[f"ILSVRC2012_val_{k:08d}.png"] = png(_index(w))
    return tar_bytes(entries), labels


def devkit_tar(wnids, truth) -> bytes:
    """ILSVRC2012_devkit_t12.tar.gz in the release's layout: data/meta.mat, whose synsets are the leaf
    classes `wnids` with ILSVRC2012_ID 1, 2, ... in that order (the release's IDs are in no WNID order)
    followed by a non-leaf synset, as the release lists its 860 after the 1,000 leaves; and the val
    ground truth, one 1-based ILSVRC2012_ID per image (`truth`)."""
    import scipy.io as sio

    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
              "num_train_images"]
    leaves = [(i + 1, w, f"class {i}", "gloss", 0, np.zeros(0), 0, 1300) for i, w in enumerate(wnids)]
    parent = (len(leaves) + 1, "n00001740", "entity", "gloss", 2, np.array([1, 2]), 18, 0)
    rows = np.array(leaves + [parent], dtype=[(f, "O") for f in fields])
    buf = io.BytesIO()
    sio.savemat(buf, {"synsets": rows})
    return tar_bytes({"ILSVRC2012_devkit_t12/data/meta.mat": buf.getvalue(),
                      "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt":
                          "".join(f"{t}\n" for t in truth).encode()}, gz=True)


def accept_devkit(monkeypatch, path) -> None:
    """Let torchvision's devkit parser take the devkit at `path`: it accepts only the md5 of the official
    file (`torchvision.datasets.imagenet.ARCHIVE_META`), which no test archive can have."""
    import torchvision.datasets.imagenet as tvi

    monkeypatch.setitem(tvi.ARCHIVE_META, "devkit", ("ILSVRC2012_devkit_t12.tar.gz",
                                                     hashlib.md5(open(path, "rb").read()).hexdigest()))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def user_manifest(path, base_url: str, archives: dict, counts: dict, val_counts: dict | None = None,
                  publish: bool = True) -> dict:
    """Write a --manifest that points the datasets of `archives` ({dataset: (file name, bytes)}) at
    `base_url` with their sizes and sha256 (publish=False: no checksum, as the model-vs-human
    release), and expects `counts` ({split: {"images", "classes"}}) in their splits."""
    from quba.datasets.manifest import load_manifest

    shipped = load_manifest()
    datasets = {}
    for name, (fname, data) in archives.items():
        ds = shipped.get(name)
        f0 = next((f for f in ds.files if f.name == fname), ds.files[0])  # its members, links, arrangement
        entry = {"name": fname, "extract_to": f0.extract_to, "members": list(f0.members),
                 "exclude": list(f0.exclude)}
        if f0.arrange:
            entry["arrange"] = f0.arrange
        if publish:
            entry.update(size=len(data), sha256=sha256(data))
        datasets[name] = {"base_url": base_url, "files": [entry], "splits": {}}
        if name == "imagenet-c":
            datasets[name]["expand"] = {"corruption": list(BLUR), "severity": ["1", "2", "3", "4", "5"]}
        for s in ds.splits:
            if s.name in counts:
                datasets[name]["splits"][s.name] = {"folder": s.folder, **counts[s.name]}
        if name == "imagenet-c":
            c = next(iter(counts[k] for k in counts if k.startswith("corruption/")))
            datasets[name]["splits"] = {"corruption/{corruption}/{severity}": {
                "folder": "imagenet-c/{corruption}/{severity}", **c}}
    if val_counts is not None:
        datasets["imagenet-val"] = {"splits": {"val": {"folder": "val", **val_counts}}}
    man = {"schema": 1, "datasets": datasets}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(man, fh, indent=1)
    return man
