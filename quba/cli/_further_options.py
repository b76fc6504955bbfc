"""Dimension options on the command line: `--option DIMENSION.KEY=VALUE` and its named aliases.

`--option` (repeatable) sets any option a dimension declares (quba's own and a plugin's:
quba/dimensions/options.py parses VALUE to the declared type); the named flags of the further
dimensions (`--reference-model`, `--teacher`, `--attribution`, `--grid-size`, `--grids`) are
aliases of it (`ALIASES`: the same options, the same result). `add_further_options(parser)` adds
them to every command that measures through the engine (evaluate, leaderboard, sweep; certify
adds its own aliases); `further_options(args)` turns them into the engine's `options`
({dimension: {key: value}}), checked before any work.
"""
from __future__ import annotations

import argparse

#: Named flags that are aliases of --option: (argparse dest, flag, ((dimension, key), ...)).
ALIASES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("reference_model", "--reference-model", (("negative_flip_rate", "reference_model"),)),
    ("teacher", "--teacher", (("teacher_agreement", "teacher"), ("explanation_similarity", "teacher"))),
    ("attribution", "--attribution", (("interpretability", "method"), ("explanation_similarity", "method"))),
    ("grid_size", "--grid-size", (("interpretability", "grid_size"),)),
    ("grids", "--grids", (("interpretability", "n_grids"),)),
)


def option_help() -> str:
    """The --option help, from the options the registered dimensions declare."""
    from quba.dimensions.options import declared

    keys = "; ".join(f"{d}: {' '.join(k)}" for d, k in declared().items())
    return ("set an option of a dimension (repeatable); VALUE is parsed to the option's declared type "
            f"(a number, true/false, text, a comma-separated list). DIM: KEY ... = {keys}; a plugin's "
            "own too (--plugin). The named flags are aliases of it")


def add_option_flag(p) -> None:
    p.add_argument("--option", metavar="DIM.KEY=VALUE", action="append", default=None, help=option_help())


def add_further_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dimension options (--option DIM.KEY=VALUE, and named aliases of it)")
    add_option_flag(g)
    g.add_argument("--reference-model", metavar="ID",
                   help="negative_flip_rate: the declared reference ('legacy') model the evaluated model "
                        "updates; both run on val once (cached) (= --option negative_flip_rate.reference_model=ID)")
    g.add_argument("--teacher", metavar="ID",
                   help="teacher_agreement / explanation_similarity: the teacher the evaluated model was "
                        "distilled from (= --option teacher_agreement.teacher=ID --option "
                        "explanation_similarity.teacher=ID)")
    g.add_argument("--attribution", metavar="METHOD",
                   help="interpretability: attribution method (auto = the model's own contribution map for "
                        "B-cos models and CoDA-Nets, else input_x_gradient; or gradient, grad_cam, "
                        "integrated_gradients, bcos, coda); "
                        "explanation_similarity: method for both models (default input_x_gradient) "
                        "(= --option interpretability.method=METHOD --option explanation_similarity.method=METHOD)")
    g.add_argument("--grid-size", type=int, metavar="N",
                   help="interpretability: N x N pointing-game grids (default 3) "
                        "(= --option interpretability.grid_size=N)")
    g.add_argument("--grids", type=int, metavar="G",
                   help="interpretability: number of grids (default 500; 100 on suite mini) "
                        "(= --option interpretability.n_grids=G)")


def alias_options(args, aliases) -> dict:
    """{dimension: {key: value}} of the named alias flags given in `args` (each checked as the
    option it sets; an error names the flag)."""
    from quba.dimensions.options import normalize
    from quba.errors import QubaError

    out: dict = {}
    for dest, flag, targets in aliases:
        value = getattr(args, dest, None)
        if value is None:
            continue
        for dim, key in targets:
            out.setdefault(dim, {})[key] = value
    try:
        return normalize(out)  # typed as declared (a list of --thresholds: a tuple) and checked
    except QubaError as exc:
        flags = [f for dest, f, targets in aliases if getattr(args, dest, None) is not None
                 and any(f"{d}.{k}" in str(exc) or f"{d}:" in str(exc) for d, k in targets)]
        raise QubaError(f"{' / '.join(flags) or 'option'}: {exc}") from None


def further_options(args, aliases=ALIASES) -> dict:
    """The engine's per-dimension `options` from parsed arguments: the named aliases and every
    --option, merged; an alias and an --option that set one option to different values: one
    QubaError line."""
    from quba.dimensions.options import parse_assignments
    from quba.errors import QubaError

    named = alias_options(args, aliases)
    given = parse_assignments(getattr(args, "option", None) or [])
    out = {dim: dict(opts) for dim, opts in named.items()}
    for dim, opts in given.items():
        for key, value in opts.items():
            old = out.get(dim, {}).get(key)
            if old is not None and old != value:
                flag = next(f for dest, f, targets in aliases if (dim, key) in targets
                            and getattr(args, dest, None) is not None)
                raise QubaError(f"{flag} {old} and --option {dim}.{key}={value} disagree; give one of them")
            out.setdefault(dim, {})[key] = value
    return out
