"""Output checks of a `Runner`, run on every batch so that nothing wrong is ever scored or cached:
logits of the right shape, class count and finiteness; a model that stays in eval mode; an error
of the model's own code or its preprocess as one line naming the model and the split.

Split out of quba/engine/runner.py (issue 20.5); `Runner` takes these methods from `OutputChecks`.
"""
from __future__ import annotations

import numpy as np

from quba.engine.device import is_out_of_memory
from quba.errors import ModelOutOfMemory, QubaError, model_exit_error


class OutputChecks:
    """The checking half of `quba.engine.runner.Runner` (a mixin: it reads the runner's model and suite)."""

    @staticmethod
    def _unreadable_message(split, index: int) -> str:
        paths = split.paths
        where = f"{paths[index]}" if paths is not None else f"image {index}"
        return (f"unreadable image in split {split.name!r}: {where}; fix or remove it, "
                "or drop --strict to skip and count unreadable images")

    def _check_eval(self, where: str) -> None:
        if self.model.module.training:
            raise QubaError(f"model {self.model.id!r} switched itself to train mode during {where}; "
                            "quba measures models in eval() mode only")

    def _expected_classes(self) -> int | None:
        """Logit columns the suite's label space (or the model's zero-shot head) implies."""
        names = self.suite.class_names
        n = len(names) if names is not None else None
        return n if n else self.model.num_classes

    def _checked_logits(self, z, expected: int | None, where: str, rows: int | None = None) -> np.ndarray:
        import torch

        mid = self.model.id
        if not torch.is_tensor(z) or z.ndim != 2:
            raise QubaError(f"model {mid!r} must return logits [batch, classes], "
                            f"got {type(z).__name__} {tuple(getattr(z, 'shape', ()))} on {where}")
        if rows is not None and z.shape[0] != rows:
            raise QubaError(f"model {mid!r} returned {z.shape[0]} rows of logits for a batch of {rows} images "
                            f"on {where}; it must return one row per image (nothing was recorded or cached for it)")
        head = self.model.num_classes
        if head and z.shape[1] != head:
            raise QubaError(f"model {mid!r} returned {z.shape[1]} classes on {where}, but its classification "
                            f"head has {head}; nothing was recorded for it")
        if expected and z.shape[1] != expected:
            raise QubaError(f"model {mid!r} returned {z.shape[1]} classes on {where}, but suite "
                            f"{self.suite.name!r} has {expected}; give a model with {expected} outputs "
                            "(nothing was recorded for it)")
        z = z.float().cpu().numpy()
        if not np.isfinite(z).all():
            bad = int(np.flatnonzero(~np.isfinite(z).all(axis=1))[0])
            raise QubaError(f"model {mid!r} returned non-finite logits (NaN or inf) on {where}, row {bad}; "
                            "nothing was recorded for it")
        return z

    def _model_errors(self, where: str):
        """One QubaError line for an exception raised by the model's own code."""
        import contextlib

        mid = self.model.id

        @contextlib.contextmanager
        def guard():
            try:
                yield
            except QubaError:
                raise
            except (SystemExit, KeyboardInterrupt) as exc:  # sys.exit() in the model; its own KeyboardInterrupt
                err = model_exit_error(exc, f"model {mid!r}", where)
                if err is None:
                    raise  # a real Ctrl-C
                raise err from None
            except Exception as exc:  # noqa: BLE001 - the user's model code: any error becomes one line
                if is_out_of_memory(exc):  # its own type: `quba sweep` retries it at half the batch
                    raise ModelOutOfMemory(f"out of memory in {where} of model {mid!r}; lower --batch-size") \
                        from None
                msg = (str(exc).strip().splitlines() or [""])[0][:300]
                raise QubaError(f"model {mid!r} raised {type(exc).__name__} in {where}: {msg}; fix the model "
                                "(nothing was recorded for it)") from None
        return guard()

    def _guarded(self, batches, key: str):
        """`batches`, with an error of the model's preprocess (raised here, or in a DataLoader worker,
        which wraps it in its traceback) as one line naming the model and the split."""
        from quba.suites.base import PreprocessError

        mid, it = self.model.id, iter(batches)
        while True:
            try:
                item = next(it)
            except StopIteration:
                return
            except PreprocessError as exc:
                lines = [ln for ln in str(exc).splitlines() if ln.strip()]
                what = lines[-1].split(": ", 1)[-1] if len(lines) > 1 else str(exc)  # a worker's: the last line
                raise QubaError(f"model {mid!r} on split {key!r}: {what}; fix the preprocess (nothing was "
                                "recorded for it)") from None
            except (SystemExit, KeyboardInterrupt) as exc:
                err = model_exit_error(exc, f"the preprocess of model {mid!r}", f"split {key!r}")
                if err is None:
                    raise
                raise err from None
            except QubaError:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. a DataLoader worker that died (os._exit in a preprocess)
                msg = (str(exc).strip().splitlines() or [""])[0][:300]
                raise QubaError(f"model {mid!r} on split {key!r}: reading its images failed ({type(exc).__name__}: "
                                f"{msg}); check its preprocess, or run with --loader-workers 0 to see more") from None
            yield item
