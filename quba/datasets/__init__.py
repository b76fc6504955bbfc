"""The data of the imagenet suite on disk: what it is, getting it, proving it complete (`quba data`).

One function per command; the CLI (quba/cli/data.py) is a thin shell over them:

    list_datasets        the manifest (quba/data/datasets.json), with what a root already holds
    fetch                download, verify, extract and arrange the downloadable datasets
    prepare_imagenet_val sort the user's ImageNet validation images into val/<wnid>/
    generate_imagenet_c  ImageNet-C style folders generated from val (the suite's generate mode, on disk)
    check                per split: images and classes against the expected counts, damaged and stray files
    subset               a fixed stratified N-per-class subset of the whole family, with its provenance

`quba evaluate` runs the cheap part of `check` before measuring (`completeness_hook`) and keeps
how the root was made in each record (`data_provenance`). Docs: docs/data.md.
"""
from __future__ import annotations

__all__ = ["list_datasets", "fetch", "prepare_imagenet_val", "generate_imagenet_c", "check", "subset",
           "load_manifest", "completeness_hook", "data_provenance"]


def list_datasets(names=None, *, manifest=None, root=None) -> list[dict]:
    """The datasets of the manifest (all, or `names`/groups) as dicts: name, title, dimensions,
    downloadable, source (URL), size (bytes, None when unpublished), files (name, size, sha256, md5,
    checksum: published | recorded | first download), splits (name, folder, images, classes),
    images, terms, citation, note, how. With `root`, a file fetched into it carries the sha256 and
    size recorded there."""
    from quba.datasets.fetching import file_url, read_state
    from quba.datasets.manifest import manifest_for

    man = manifest_for(root, manifest)
    sets = man.resolve(names) if names else list(man.datasets.values())
    state = read_state(root) if root is not None else {"files": {}}
    out = []
    for d in sets:
        files = []
        for f in d.files:
            rec = state["files"].get(f"{d.name}/{f.name}", {})
            checksum = "published" if f.published_checksum else ("recorded" if rec.get("sha256")
                                                                 else "first download")
            files.append({"name": f.name, "url": file_url(d, f) if d.downloadable else None,
                          "size": f.size if f.size is not None else rec.get("size"),
                          "sha256": f.sha256 or rec.get("sha256"), "md5": f.md5, "checksum": checksum,
                          "checksum_source": f.checksum_source,
                          "fetched": bool(rec.get("extracted"))})
        size = None if any(x["size"] is None for x in files) else sum(x["size"] for x in files)
        out.append({"name": d.name, "title": d.title, "dimensions": list(d.dimensions), "downloadable": d.downloadable,
                    "source": d.homepage, "size": size if d.downloadable else None, "files": files,
                    "splits": [{"name": s.name, "folder": s.folder, "images": s.images, "classes": s.classes,
                                "per_class": s.per_class, "counts_source": s.counts_source} for s in d.splits],
                    "images": d.images, "terms": d.terms, "citation": d.citation, "note": d.note, "how": d.how})
    return out


def __getattr__(name):  # the command functions import lazily (no torch at `import quba.datasets`)
    import importlib

    where = {"fetch": "fetching", "prepare_imagenet_val": "prepare", "generate_imagenet_c": "generate",
             "check": "completeness", "subset": "subsets", "load_manifest": "manifest",
             "completeness_hook": "completeness", "data_provenance": "completeness"}
    if name in where:
        return getattr(importlib.import_module(f"quba.datasets.{where[name]}"), name)
    raise AttributeError(f"module 'quba.datasets' has no attribute {name!r}")
