"""`--protocol paper`: the QUBA authors' adversarial pipeline, reproduced as they ran it.

quba's own protocol (quba/engine/attacks.py; docs/metrics.md#adversarial-robustness) attacks
images in [0, 1] pixel space with the model in eval() mode. The published
leaderboard was measured otherwise (visinf/beyond-accuracy: `eval.py`,
`helper/benchmarks.py:test_adversarial_robustness`, `helper/generate_data.py:load_dataset`,
`quba_constants.py`, torchattacks 3.5.1, `helper/models/model_wrappers.py`):

1. The attacks run on what the dataloader's transform produces: normalised
   tensors ``z = (x − mean) / std`` for standard models; for B-cos models
   (``BCOS_TRANSFORM`` = Resize, CenterCrop, ToTensor, ``bcos`` AddInverse,
   no Normalize) the 6-channel ``[x, 1 − x]`` tensor, whose two halves the
   attack perturbs independently. ε = 8/255 and α = 2/255 are in those units
   and every step clamps to [0, 1] (torchattacks' pixel-range clamp).
2. torchattacks PGD (ε 8/255, α 2/255, 10 steps, uniform random start from
   the global generator, mean cross-entropy) and FGSM (ε 8/255).
3. The model wrapper overrides ``eval()``/``train()`` without calling
   ``nn.Module``'s, so the wrapper's own ``training`` flag stays True;
   torchattacks records it, puts the network in eval() for the attack and then
   calls ``train()`` "to restore" it. Every clean and adversarial forward pass
   after the first attack therefore runs in **train mode** (batch statistics,
   running statistics updated, dropout on), the attacks themselves in eval mode
   with the drifting running statistics.
4. Per attack, relative accuracy = adversarial / clean accuracy, both counted
   in that same loop (train mode); PGD runs first over the whole split, then
   FGSM; the dimension is ``gmean(pgd_rel, fgsm_rel)``.
5. The ImageNet loader is ``DataLoader(shuffle=True)``, seeded only through
   ``torch.manual_seed(args.seed)`` at the start of ``main()``: every pass over
   it draws two numbers from the global generator (the iterator's base seed,
   then the sampler's seed) and permutes the images with a generator seeded by
   the second. Under train mode the order decides the batches, so it decides
   the value.

Options (`PaperOptions`; part of the cache key and of each dimension's setup):

- ``order``: ``shuffled`` (default: the authors' seeded loader, the draws above,
  made from the global generator seeded with ``--seed``) or ``suite`` (the
  suite's order, no draws).
- ``train_mode``: ``attack`` (default: the side effect stays inside the
  dimension, as ``eval.py --adv_rob`` alone; the model's weights and mode are
  restored afterwards) or ``all`` (as the README's one call with all nine
  flags: ``benchmark()`` measures accuracy first — one loader pass, eval
  mode — then the attacks, then corruption robustness, OOD robustness,
  calibration error and class balance with the network left in train mode, and
  object focus and shape bias in eval mode again (``test_object_focus`` calls
  ``model.eval()``) but with the running statistics the train-mode passes
  left). Under ``all`` the whole sequence runs once, passes in eval.py's order
  (`AFTER`), every output cached; each dimension reads the first pass of its
  own (calibration's ACE pass, class balance's accuracy pass: the authors'
  second pass over val, reshuffled, is run for its effect on the generator and
  the running statistics but not kept).

Batches of `--batch-size` (theirs: 32), float32. The network after the
transform is `attack_space(module)`; mean/std come from the module's
``mean``/``std`` buffers (none: identity).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from quba.errors import QubaError

#: the four outputs of the authors' adversarial loops, in the order they produce them
ATTACKS = ("paper_pgd_clean", "paper_pgd", "paper_fgsm_clean", "paper_fgsm")
#: prefix of the outputs of a dimension measured after the attacks in the one-call run (train_mode all)
AFTER_PREFIX = "paper_after_"
#: torchattacks 3.5.1 defaults as the authors called them: PGD(model), FGSM(model, eps=8/255)
DEFAULTS = {"eps": 8 / 255, "alpha": 2 / 255, "steps": 10}
#: the dimensions whose quba protocol differs from the paper's (placement warns for these)
PROTOCOL_DIMENSIONS = ("adversarial_robustness",)
PROTOCOLS = ("quba", "paper")
ORDERS = ("shuffled", "suite")
TRAIN_MODES = ("attack", "all")
#: eval.py benchmark() after the attacks, in its order: (dimension, network mode, passes over its clean
#: split). Train mode until test_object_focus calls model.eval(). Calibration (ACE, then ECE) and class
#: balance (accuracies, then confidences) pass over the loader twice.
AFTER = (("corruption_robustness", "train", 1), ("ood_robustness", "train", 1), ("calibration_error", "train", 2),
         ("class_balance", "train", 2), ("object_focus", "eval", 1), ("shape_bias", "eval", 1))
AFTER_DIMENSIONS = tuple(d for d, _, _ in AFTER)


@dataclass(frozen=True)
class PaperOptions:
    """How the authors' run is reproduced (module docstring, "Options")."""

    order: str = "shuffled"
    train_mode: str = "attack"


def check_protocol(protocol: str | None) -> str:
    p = str(protocol or "quba").strip().lower()
    if p not in PROTOCOLS:
        raise QubaError(f"unknown protocol {protocol!r}; use quba (default) or paper")
    return p


def check_options(protocol: str, order=None, train_mode=None) -> PaperOptions | None:
    """The paper protocol's options, validated; None under the quba protocol (where giving one is an error)."""
    if protocol != "paper":
        given = [f for f, v in (("--paper-order", order), ("--paper-train-mode", train_mode)) if v is not None]
        if given:
            raise QubaError(f"{given[0]} goes with --protocol paper (the authors' pipeline); add --protocol paper "
                            "or drop it")
        return None
    o = str(order or "shuffled").strip().lower()
    t = str(train_mode or "attack").strip().lower()
    if o not in ORDERS:
        raise QubaError(f"unknown --paper-order {order!r}; use shuffled (default: the authors' seeded loader) or suite")
    if t not in TRAIN_MODES:
        raise QubaError(f"unknown --paper-train-mode {train_mode!r}; use attack (default) or all (the authors' "
                        "one-call run)")
    return PaperOptions(o, t)


def options_of(opts) -> PaperOptions:
    """The PaperOptions in an engine options dict (defaults when absent)."""
    return check_options("paper", (opts or {}).get("paper_order"), (opts or {}).get("paper_train_mode"))


def is_paper(attack) -> bool:
    return isinstance(attack, str) and attack.startswith("paper_")


def request_params(opts) -> tuple:
    """SplitRequest.params of every paper-protocol request: the options, so they key the cache."""
    return tuple(sorted(asdict(options_of(opts)).items()))


def setup(name: str, opts) -> dict:
    """What the paper protocol adds to a dimension's setup in the record (empty where it does not
    touch the dimension): the protocol, its options and the batch size (batch statistics)."""
    if str((opts or {}).get("protocol") or "quba") != "paper":
        return {}
    o = options_of(opts)
    if name in PROTOCOL_DIMENSIONS or (o.train_mode == "all" and name in AFTER_DIMENSIONS):
        return {"protocol": "paper", "paper": {**asdict(o), "batch_size": int(opts.get("batch_size", 256))}}
    return {}


def route(name: str, request, opts):
    """The request a dimension's own request becomes under the paper protocol: its attack outputs
    carry the protocol's options (`request_params`: they key the cache), and under train mode all a
    dimension eval.py measures after the attacks reads that run's outputs (`AFTER_PREFIX` + its name)."""
    if str((opts or {}).get("protocol") or "quba") != "paper" or request.model is not None:
        return request
    from quba.dimensions import SplitRequest

    if is_paper(request.attack):
        return SplitRequest(request.split, request.attack, request_params(opts), None, request.outputs)
    if name in AFTER_DIMENSIONS and request.attack is None and options_of(opts).train_mode == "all":
        return SplitRequest(request.split, AFTER_PREFIX + name, request_params(opts), None, request.outputs)
    return request


def params(request, seed: int, batch_size: int) -> dict:
    """Cache-relevant parameters: train-mode batch statistics depend on the batch size, the random
    start and the loader order on the seed, and all outputs come from one pass over the split."""
    return {**DEFAULTS, **dict(request.params), "protocol": "paper", "seed": int(seed),
            "batch_size": int(batch_size), "version": 2}


def normalisation(module):
    """(mean, std) tensors [1, C, 1, 1] of a module that normalises inside, else (None, None)."""
    import torch

    mean, std = getattr(module, "mean", None), getattr(module, "std", None)
    if torch.is_tensor(mean) and torch.is_tensor(std):
        return mean.detach(), std.detach()
    return None, None


def normalised_network(module):
    """z -> logits: the part of `module` after its input normalisation."""
    inner = getattr(module, "forward_normalised", None)
    if callable(inner):
        return inner
    mean, std = normalisation(module)
    if mean is None:
        return module
    return lambda z: module(mean + std * z)


def attack_space(module):
    """(transform, network): what the authors' dataloader transform makes of [0, 1] images, and the
    network that takes it. B-cos (a module with ``encode``/``forward_encoded``, or quba's catalog
    wrapper with ``add_inverse``): ``[x, 1 − x]`` (quba_constants.py BCOS_TRANSFORM ends in
    ``bcos.data.transforms.AddInverse``: ``torch.cat([x, 1 - x], dim=-3)``) and the 6-channel
    network; else ``(x − mean) / std`` and the network after the normalisation."""
    import torch

    encode, encoded = getattr(module, "encode", None), getattr(module, "forward_encoded", None)
    if callable(encode) and callable(encoded):
        return encode, encoded
    mean, std = normalisation(module)
    inner = getattr(module, "model", None)
    if getattr(module, "add_inverse", False) is True and isinstance(inner, torch.nn.Module):
        def add_inverse(x):
            z = (x - mean) / std if mean is not None else x
            return torch.cat([z, 1 - z], dim=1)

        return add_inverse, inner
    return (lambda x: (x - mean) / std if mean is not None else x), normalised_network(module)


def loader_order(n: int) -> np.ndarray:
    """The permutation one pass over ``DataLoader(dataset of n, shuffle=True)`` takes, drawn from the
    global generator as torch does: `_BaseDataLoaderIter.__init__` draws the base seed, then
    `RandomSampler.__iter__` a seed for its own generator, which permutes the images."""
    import torch

    torch.empty((), dtype=torch.int64).random_()  # the iterator's _base_seed
    seed = int(torch.empty((), dtype=torch.int64).random_().item())
    gen = torch.Generator()
    gen.manual_seed(seed)
    return torch.randperm(n, generator=gen).numpy() if n else np.zeros(0, np.int64)


def _pgd(f, images, labels, eps, alpha, steps):
    """torchattacks 3.5.1 PGD.forward (random start from the global generator)."""
    import torch
    from torch import nn

    images = images.clone().detach()
    labels = labels.clone().detach()
    loss = nn.CrossEntropyLoss()
    adv = images.clone().detach()
    adv = adv + torch.empty_like(adv).uniform_(-eps, eps)
    adv = torch.clamp(adv, min=0, max=1).detach()
    for _ in range(int(steps)):
        adv.requires_grad = True
        cost = loss(f(adv), labels)
        grad = torch.autograd.grad(cost, adv, retain_graph=False, create_graph=False)[0]
        adv = adv.detach() + alpha * grad.sign()
        delta = torch.clamp(adv - images, min=-eps, max=eps)
        adv = torch.clamp(images + delta, min=0, max=1).detach()
    return adv


def _fgsm(f, images, labels, eps):
    """torchattacks 3.5.1 FGSM.forward."""
    import torch
    from torch import nn

    images = images.clone().detach()
    labels = labels.clone().detach()
    images.requires_grad = True
    cost = nn.CrossEntropyLoss()(f(images), labels)
    grad = torch.autograd.grad(cost, images, retain_graph=False, create_graph=False)[0]
    return torch.clamp(images + eps * grad.sign(), min=0, max=1).detach()


def _after_plan(runner, request_opts: PaperOptions):
    """[(dimension, mode, [(split, outputs kind, shuffled, kept)])]: the passes eval.py makes after the
    attacks (`AFTER`), over the splits quba's dimensions read. A dimension this suite cannot serve is
    left out (the authors' run would have stopped there)."""
    from quba import dimensions as D
    from quba.dimensions.options import HookOptions
    from quba.suites.base import role_splits

    suite = runner.suite
    clean = role_splits(suite, "clean")[0]
    plan = []
    for name, mode, repeats in AFTER:
        try:
            reqs = D.get(name).needs(suite, HookOptions({"protocol": "quba", "seed": runner.seed}, name))
        except QubaError:
            continue
        passes = []
        for r in reqs:
            if r.split == clean:
                passes += [(r.split, r.outputs, True, i == 0) for i in range(repeats)]
            else:  # ImageNet-C and modelvshuman loaders: shuffle=False; ImageNet-R and the bg challenge: shuffled
                shuffled = name == "object_focus" or suite.split_info(r.split).variant == "rendition"
                passes.append((r.split, r.outputs, shuffled, True))
        plan.append((name, mode, passes))
    return plan


def run(runner, request, split):
    """Run the authors' pipeline once (the attack loops, and under train mode all everything eval.py
    measures after them); cache every output; return the one `request` asks for."""
    import time

    import torch

    from quba.dimensions import SplitRequest
    from quba.engine.cache import CachedOutputs
    from quba.engine.outputs import softmax

    from quba.suites.base import role_splits

    module = runner.model.module
    runner._prepare()
    split = runner.split(role_splits(runner.suite, "clean")[0])  # the attacks' split, whichever output was asked
    opts = PaperOptions(**{k: v for k, v in request.params if k in PaperOptions.__dataclass_fields__})
    p = params(request, runner.seed, runner.batch_size)
    encode, f = attack_space(module)
    shuffled = opts.order == "shuffled"
    state = {k: v.detach().clone() for k, v in module.state_dict(keep_vars=True).items()}
    was_training = module.training
    acc: dict = {}
    skipped: dict = {}
    passes: dict = {}
    t0 = time.perf_counter()
    devices = [runner.device] if runner.device.type == "cuda" else []
    runner._bucket = None  # counted here, per output
    expected = runner._expected_classes()

    def keep(name, split_obj, logits, idx, logits_too=True):
        z = runner._checked_logits(logits.detach(), expected, f"{name} of split {split_obj.name!r}", rows=len(idx))
        a = acc.setdefault((split_obj.name, name), {"idx": [], "preds": [], "dec": [], "logits": [], "split": split_obj,
                                                    "with_logits": logits_too})
        a["idx"].append(idx)
        a["preds"].append(z.argmax(axis=1))
        a["dec"].append(np.asarray(split_obj.decision.predict(softmax(z))))
        if logits_too:
            a["logits"].append(z.astype(np.float32))

    def batches(split_obj, shuffle):
        indices = runner.indices(split_obj)
        if shuffle and shuffled:
            indices = indices[loader_order(len(indices))]
        for x, idx, skip in runner._batches(split_obj, indices):
            skipped.setdefault(split_obj.name, set()).update(int(i) for i in skip)
            if x is not None:
                yield encode(x.float()), idx

    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(runner.seed)  # eval.py: torch.manual_seed(args.seed) before anything runs
            module.eval()  # eval.py benchmark(): model.eval()
            if opts.train_mode == "all" and shuffled:
                loader_order(len(runner.indices(split)))  # benchmark(): the accuracy pass comes first
            labels_all = np.asarray(split.labels)
            for attack in ("pgd", "fgsm"):  # eval.py: PGD over the split, then FGSM
                for z, idx in batches(split, True):
                    y = torch.as_tensor(labels_all[idx], dtype=torch.long, device=runner.device)
                    module.eval()  # torchattacks _change_model_mode: eval for the attack
                    try:
                        z_adv = _pgd(f, z, y, p["eps"], p["alpha"], p["steps"]) if attack == "pgd" else \
                            _fgsm(f, z, y, p["eps"])
                    except RuntimeError as exc:
                        from quba.engine.attacks import not_differentiable

                        raise not_differentiable(runner.model.id, exc) from None
                    module.train()  # _recover_model_mode(given_training=True): the wrapper never left train
                    n = len(idx)
                    passes[(split.name, f"paper_{attack}")] = passes.get((split.name, f"paper_{attack}"), 0) + \
                        n * (int(p["steps"]) if attack == "pgd" else 1)
                    with torch.enable_grad():  # the authors' loop runs these with autograd on (no numerical effect)
                        keep(f"paper_{attack}_clean", split, f(z), idx)
                        keep(f"paper_{attack}", split, f(z_adv), idx)
            if opts.train_mode == "all":
                for name, mode, plan in _after_plan(runner, opts):
                    module.train(mode == "train")  # test_object_focus: model.eval() (the inner network)
                    for split_name, kind, shuffle, kept in plan:
                        split_obj = split if split_name == split.name else runner.split(split_name)
                        for z, idx in batches(split_obj, shuffle):
                            with torch.no_grad():  # benchmark() wraps these in torch.no_grad()
                                logits = f(z)
                            if kept:
                                keep(AFTER_PREFIX + name, split_obj, logits, idx, kind == "logits")
    finally:
        with torch.no_grad():
            module.load_state_dict(state)
        module.train(was_training)
        module.eval()
    seconds = time.perf_counter() - t0
    wanted = None
    for (split_name, name), a in acc.items():
        index = np.concatenate(a["idx"]) if a["idx"] else np.zeros(0, np.int64)
        order = np.argsort(index, kind="stable")  # cached in the split's order, like every other output
        logits = np.concatenate(a["logits"])[order] if a["logits"] else None
        labels = np.asarray(a["split"].labels)
        out = CachedOutputs(
            index=index[order], labels=labels[index[order]].astype(np.int64),
            preds=np.concatenate(a["preds"])[order] if a["preds"] else np.zeros(0, np.int64),
            decisions=np.concatenate(a["dec"])[order] if a["dec"] else np.zeros(0, np.int64),
            logits=logits if a["with_logits"] else None,
            skipped=np.asarray(sorted(skipped.get(split_name, ())), dtype=np.int64),
            info={"passes": passes.get((split_name, name), 0) + len(index), "seconds": seconds,
                  "device": str(runner.device), "protocol": "paper"},
        )
        req = SplitRequest(split_name, name, request.params, request.model, "logits" if a["with_logits"] else "decisions")
        runner.save(runner.cache_fields(req), out, req.key)
        runner.attack_passes[req.key] = runner.attack_passes.get(req.key, 0) + out.info["passes"]
        runner.seconds[req.key] = seconds
        if split_name == request.split and name == request.attack:
            wanted = out
    if wanted is None:  # a dimension this suite cannot serve was asked for
        raise QubaError(f"the paper protocol's one-call run produced no {request.attack!r} outputs on "
                        f"split {request.split!r}")
    return wanted
