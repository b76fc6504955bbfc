"""The dataset manifest: what each dataset of the imagenet suite is, where it comes from, what a
download is checked against and how many images each of its splits must hold.

The shipped manifest is data, `quba/data/datasets.json` (schema in docs/data.md#the-manifest);
`--manifest FILE` adds datasets or overrides fields of shipped ones (a dataset named in FILE
replaces the shipped entry's keys it names; `files` and `splits` are replaced as a whole).
Split names and folders may carry `{placeholders}` expanded over the dataset's `expand` lists
(ImageNet-C's 15 corruptions x 5 severities are one entry).
"""
from __future__ import annotations

import copy
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from quba.errors import QubaError, closest
from quba.paths import data_file

SHIPPED = "datasets.json"
#: The --manifest a data root was fetched with, kept in the root (`<root>/.quba-data/manifest.json`):
#: later checks and evaluations of that root expect what it says.
ROOT_MANIFEST = "manifest.json"
SCHEMA = 1
_HEX = {"sha256": 64, "md5": 32}
_FILE_KEYS = {"name", "size", "sha256", "md5", "extract_to", "members", "exclude", "arrange", "unpacked_bytes",
              "checksum_source"}
_SPLIT_KEYS = {"folder", "images", "classes", "per_class", "counts_source"}
_DATASET_KEYS = {"title", "dimensions", "homepage", "downloadable", "base_url", "how", "terms", "citation", "note",
                 "files", "expand", "splits"}
#: How an archive's tree is rearranged after extraction (quba.datasets.extract.ARRANGE).
ARRANGE_RULES = ("mvh-sessions",)


@dataclass(frozen=True)
class FileSpec:
    """One archive of a dataset."""
    name: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    extract_to: str = "."
    members: tuple[str, ...] = ()  # extract only members under these prefixes (empty: all)
    exclude: tuple[str, ...] = ()
    arrange: str | None = None
    unpacked_bytes: int | None = None
    checksum_source: str | None = None

    @property
    def published_checksum(self) -> bool:
        return bool(self.sha256 or self.md5)


@dataclass(frozen=True)
class SplitSpec:
    """What one split folder must hold."""
    name: str
    folder: str
    images: int
    classes: int
    per_class: int | None
    dataset: str
    counts_source: str | None = None


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    dimensions: tuple[str, ...]
    downloadable: bool
    splits: tuple[SplitSpec, ...]
    files: tuple[FileSpec, ...] = ()
    base_url: str | None = None
    homepage: str | None = None
    how: str | None = None
    terms: str | None = None
    citation: str | None = None
    note: str | None = None

    @property
    def size(self) -> int | None:
        """Total download size, or None when a file's size is not published."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(sizes)

    @property
    def images(self) -> int:
        return sum(s.images for s in self.splits)


@dataclass
class Manifest:
    datasets: dict[str, Dataset]
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def names(self) -> list[str]:
        return list(self.datasets)

    def get(self, name: str) -> Dataset:
        if name not in self.datasets:
            raise QubaError(f"unknown dataset {name!r}{closest(name, list(self.datasets) + list(self.groups))}; "
                            f"datasets: {', '.join(self.datasets)} (quba data list)")
        return self.datasets[name]

    def resolve(self, names) -> list[Dataset]:
        """Datasets by name or group ('model-vs-human', 'all'), in manifest order, each once."""
        if isinstance(names, str):
            names = [names]
        wanted: list[str] = []
        for n in names:
            for part in str(n).split(","):
                part = part.strip()
                if not part:
                    continue
                if part in self.groups:
                    wanted += list(self.groups[part])
                else:
                    wanted.append(self.get(part).name)
        if not wanted:
            raise QubaError(f"no dataset named; choose from {', '.join(self.datasets)} or a group "
                            f"({', '.join(self.groups)})")
        return [self.datasets[n] for n in self.datasets if n in set(wanted)]

    def splits(self) -> dict[str, SplitSpec]:
        """Every split of every dataset, by split name."""
        return {s.name: s for d in self.datasets.values() for s in d.splits}

    def split(self, name: str) -> SplitSpec | None:
        return self.splits().get(name)

    def datasets_for(self, dims) -> list[Dataset]:
        """The datasets the dimensions `dims` read (canonical names)."""
        dims = set(dims)
        return [d for d in self.datasets.values() if dims & set(d.dimensions)]

    def splits_for(self, dims=None) -> list[SplitSpec]:
        """The splits the dimensions read (None: every split), in manifest order."""
        sets = self.datasets.values() if dims is None else self.datasets_for(dims)
        return [s for d in sets for s in d.splits]


def _bad(where: str, problem: str) -> QubaError:
    return QubaError(f"manifest {where}: {problem} (schema: docs/data.md#the-manifest)")


def _known_keys(raw: dict, known: frozenset | set, where: str) -> None:
    """Refuse keys the manifest format does not define (a typo would otherwise be ignored)."""
    unknown = set(raw) - set(known)
    if unknown:
        raise _bad(where, f"unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")


def _int_or_none(v, where, key):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise _bad(where, f"{key} must be a whole number >= 0 or null, got {v!r}")
    return v


def _plain_name(v: str, where: str) -> str:
    if not isinstance(v, str) or not v or "/" in v or "\\" in v or v in (".", "..") or v.startswith("."):
        raise _bad(where, f"file name {v!r} must be a plain file name (no folders, not hidden)")
    return v


def _rel_path(v, where: str, key: str) -> str:
    if not isinstance(v, str) or not v:
        raise _bad(where, f"{key} must be a non-empty relative path, got {v!r}")
    p = Path(v)
    if p.is_absolute() or ".." in p.parts or v.startswith("~"):
        raise _bad(where, f"{key} {v!r} must stay inside the data root (relative, no '..')")
    return v


def _file_spec(raw, where: str) -> FileSpec:
    if not isinstance(raw, dict):
        raise _bad(where, "each entry of 'files' must be an object")
    _known_keys(raw, _FILE_KEYS, where)
    name = _plain_name(raw.get("name"), where)
    where = f"{where} file {name!r}"
    hashes = {}
    for algo, n in _HEX.items():
        v = raw.get(algo)
        if v is not None and (not isinstance(v, str) or not re.fullmatch(f"[0-9a-fA-F]{{{n}}}", v)):
            raise _bad(where, f"{algo} must be {n} hexadecimal digits, got {v!r}")
        hashes[algo] = v.lower() if v else None
    arrange = raw.get("arrange")
    if arrange is not None and arrange not in ARRANGE_RULES:
        raise _bad(where, f"arrange must be one of {', '.join(ARRANGE_RULES)}, got {arrange!r}")
    lists = {}
    for key in ("members", "exclude"):
        v = raw.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise _bad(where, f"{key} must be a list of archive paths")
        lists[key] = tuple(_rel_path(x, where, key) for x in v)
    return FileSpec(name=name, size=_int_or_none(raw.get("size"), where, "size"), sha256=hashes["sha256"],
                    md5=hashes["md5"], extract_to=_rel_path(raw.get("extract_to", "."), where, "extract_to"),
                    members=lists["members"], exclude=lists["exclude"], arrange=arrange,
                    unpacked_bytes=_int_or_none(raw.get("unpacked_bytes"), where, "unpacked_bytes"),
                    checksum_source=raw.get("checksum_source"))


def _expand(template: str, expand: dict) -> list[tuple[str, dict]]:
    keys = [k for k in expand if "{" + k + "}" in template]
    if not keys:
        return [(template, {})]
    out = []
    for combo in itertools.product(*(expand[k] for k in keys)):
        values = dict(zip(keys, combo))
        out.append((template.format(**values), values))
    return out


def _splits(name: str, raw: dict, where: str) -> tuple[SplitSpec, ...]:
    splits = raw.get("splits")
    if not isinstance(splits, dict) or not splits:
        raise _bad(where, "'splits' must be a non-empty object {split name: {folder, images, classes}}")
    expand = raw.get("expand") or {}
    if not isinstance(expand, dict) or not all(isinstance(v, list) and v for v in expand.values()):
        raise _bad(where, "'expand' must map placeholder names to non-empty lists")
    expand = {k: [str(x) for x in v] for k, v in expand.items()}
    out = []
    for template, spec in splits.items():
        sw = f"{where} split {template!r}"
        if not isinstance(spec, dict):
            raise _bad(sw, "must be an object {folder, images, classes}")
        _known_keys(spec, _SPLIT_KEYS, sw)
        for key in ("images", "classes"):
            if _int_or_none(spec.get(key), sw, key) is None or spec[key] < 1:
                raise _bad(sw, f"{key} must be a whole number >= 1")
        per_class = _int_or_none(spec.get("per_class"), sw, "per_class")
        try:
            pairs = _expand(template, expand)
        except KeyError as exc:
            raise _bad(sw, f"placeholder {exc} has no list under 'expand'") from None
        for split_name, values in pairs:
            folder = _rel_path(str(spec.get("folder", "")).format(**values), sw, "folder")
            out.append(SplitSpec(name=split_name, folder=folder, images=spec["images"], classes=spec["classes"],
                                 per_class=per_class, dataset=name, counts_source=spec.get("counts_source")))
    return tuple(out)


def _dataset(name: str, raw: dict, where: str) -> Dataset:
    where = f"{where} dataset {name!r}"
    if not isinstance(raw, dict):
        raise _bad(where, "must be an object")
    _known_keys(raw, _DATASET_KEYS, where)
    dims = raw.get("dimensions", [])
    if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims):
        raise _bad(where, "'dimensions' must be a list of dimension names")
    downloadable = raw.get("downloadable", bool(raw.get("files")))
    files_raw = raw.get("files", [])
    if not isinstance(files_raw, list):
        raise _bad(where, "'files' must be a list")
    files = tuple(_file_spec(f, where) for f in files_raw)
    base = raw.get("base_url")
    if downloadable:
        if not files:
            raise _bad(where, "a downloadable dataset needs 'files'")
        if not isinstance(base, str) or not re.match(r"^https?://", base):
            raise _bad(where, f"base_url must be an http(s) URL, got {base!r}")
    return Dataset(name=name, title=str(raw.get("title") or name), dimensions=tuple(dims),
                   downloadable=bool(downloadable), splits=_splits(name, raw, where), files=files, base_url=base,
                   homepage=raw.get("homepage"), how=raw.get("how"), terms=raw.get("terms"),
                   citation=raw.get("citation"), note=raw.get("note"))


def _read(path: Path, what: str) -> dict:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QubaError(f"{what} {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QubaError(f"cannot read {what} {str(path)!r} ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise QubaError(f"{what} {str(path)!r} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), dict):
        raise _bad(str(path), "the top level must be an object with 'datasets': {name: {...}}")
    if raw.get("schema", SCHEMA) != SCHEMA:
        raise _bad(str(path), f"schema {raw.get('schema')!r} is not {SCHEMA}, the one this quba reads")
    return raw


def load_manifest(extra=None) -> Manifest:
    """The shipped manifest, with the datasets of `extra` (a path; --manifest FILE) added or merged in."""
    shipped = _read(data_file(SHIPPED), "the shipped manifest")
    raw_sets = copy.deepcopy(shipped["datasets"])
    groups = dict(shipped.get("groups", {}))
    sources = [str(data_file(SHIPPED))]
    if extra is not None:
        user = _read(Path(extra).expanduser(), "--manifest")
        for name, entry in user["datasets"].items():
            if not isinstance(entry, dict):
                raise _bad(str(extra), f"dataset {name!r} must be an object")
            raw_sets[name] = {**raw_sets.get(name, {}), **entry}
        groups.update(user.get("groups", {}))
        sources.append(str(extra))
    where = " + ".join(Path(s).name for s in sources)
    datasets = {}
    for name, raw in raw_sets.items():
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise _bad(where, f"dataset name {name!r} must be letters, digits, '-', '_' or '.'")
        datasets[name] = _dataset(name, raw, where)
    seen: dict[str, str] = {}
    for d in datasets.values():
        for s in d.splits:
            if s.name in seen:
                raise _bad(where, f"split {s.name!r} belongs to both {seen[s.name]!r} and {d.name!r}")
            seen[s.name] = d.name
    for g, members in groups.items():
        bad = [m for m in members if m not in datasets]
        if bad:
            raise _bad(where, f"group {g!r} names unknown dataset(s) {', '.join(bad)}")
    return Manifest(datasets=datasets, groups={g: tuple(m) for g, m in groups.items()}, sources=tuple(sources))


def root_manifest_path(root) -> Path:
    from quba.datasets.common import STATE_DIR

    return Path(root) / STATE_DIR / ROOT_MANIFEST


def keep_root_manifest(root, manifest) -> None:
    """Keep a --manifest FILE in the data root (`root_manifest_path`), where `quba data check`,
    `subset`, `generate` and `quba evaluate` read it: the root is then expected to hold what it says."""
    from quba.paths import atomic_write_bytes

    dest = root_manifest_path(root)
    data = Path(manifest).expanduser().read_bytes()
    if not dest.is_file() or dest.read_bytes() != data:
        atomic_write_bytes(dest, data)


def manifest_for(root=None, manifest=None) -> Manifest:
    """The manifest for a data root: `manifest` (a Manifest or a --manifest path) when given, else the
    one the root was fetched with (`root_manifest_path`), else the shipped one."""
    if isinstance(manifest, Manifest):
        return manifest
    if manifest is None and root is not None and root_manifest_path(root).is_file():
        manifest = root_manifest_path(root)
    return load_manifest(manifest)
