"""Week 2, the losses (softmax cross-entropy, mean squared error, binary cross-entropy on logits): the
visible checks. Their hidden cases need only calls (the default probe). Every loss returns
``(loss, dscores)``: the mean loss as one number and its gradient with respect to the first argument."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, check_unchanged, fixture, passed, stored_mistakes, unpack

__all__ = ["softmax_cross_entropy", "mse_loss", "binary_cross_entropy_with_logits"]

SOFTMAX_CE_HINT = ("loss = mean over the rows of logsumexp(logits_i) - logits_i[y_i], with each row's max subtracted "
                   "before np.exp; dlogits = (softmax - one_hot(y)) / N.")
MSE_HINT = "loss = mean of (pred - target)**2 over ALL entries; dpred = 2 * (pred - target) / pred.size."
BCE_HINT = ("loss = mean of max(z, 0) - z * y + log(1 + exp(-|z|)) (never log(sigmoid(z)), which is log(0) = -inf "
            "for z around -1000); dlogits = (sigmoid(z) - y) / z.size, with a sigmoid that does not overflow.")


def scalar_loss(name: str, value: object, hint: str) -> np.float64:
    """The loss as one float64, or a failure saying it must be one finite number."""
    if value is None:
        raise CheckFailed(f"{name}: the loss is None; return (loss, gradient).")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"{name}: the loss must be a number; got {type(value).__name__}.") from err
    if array.size != 1:
        raise CheckFailed(f"{name}: the loss must be one number (the mean); got an array of shape {array.shape}.")
    loss = np.float64(array.reshape(()))
    if not math.isfinite(loss):
        raise CheckFailed(f"{name}: the loss is {loss}, not a finite number. Hint: {hint}")
    return loss


def _check_loss(fn: Callable, fixture_name: str, arguments: tuple[str, str], grad: str, hint: str) -> None:
    a = fixture(fixture_name)
    name = getattr(fn, "__name__", "your function")
    args = [a[k] for k in arguments]
    loss, dscores = unpack(name, call(fn, *args), "loss", grad)
    fresh = fixture(fixture_name)
    for k, arg in zip(arguments, args):
        check_unchanged(name, fresh[k], arg, k)
    check_array(f"{name}: loss", scalar_loss(f"{name}", loss, hint), a["expected_loss"], rtol=1e-7,
                mistakes=stored_mistakes(a, suffix="_loss"), hint=hint)
    check_array(f"{name}: {grad}", dscores, a["expected_grad"], rtol=1e-6, atol=1e-12,
                mistakes=stored_mistakes(a, suffix="_grad"), hint=hint)


def softmax_cross_entropy(fn: Callable) -> None:
    """Check ``softmax_cross_entropy(logits, y)`` on stored logits, one row of which is around 1000."""
    _check_loss(fn, "w02_losses_softmax_ce", ("logits", "y"), "dlogits", SOFTMAX_CE_HINT)
    passed(f"{getattr(fn, '__name__', 'softmax_cross_entropy')}: loss and dlogits match, also for logits around 1000")


def mse_loss(fn: Callable) -> None:
    """Check ``mse_loss(pred, target)`` on stored (4, 3) predictions."""
    _check_loss(fn, "w02_losses_mse", ("pred", "target"), "dpred", MSE_HINT)
    passed(f"{getattr(fn, '__name__', 'mse_loss')}: loss and dpred match")


def binary_cross_entropy_with_logits(fn: Callable) -> None:
    """Check ``binary_cross_entropy_with_logits(logits, y)`` on stored logits including -1000 and +1000."""
    _check_loss(fn, "w02_losses_bce", ("logits", "y"), "dlogits", BCE_HINT)
    passed(f"{getattr(fn, '__name__', 'binary_cross_entropy_with_logits')}: loss and dlogits match, "
           "also for logits of +-1000")
