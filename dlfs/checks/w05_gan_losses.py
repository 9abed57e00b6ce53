"""Week 5, the GAN losses and spectral normalisation: the visible checks, and the probe of the hidden case that
drives the BCE pair (the backward gets the cache of the student's own forward).

The contracts: ``bce_with_logits_forward(s, y) -> (loss, cache)`` and ``bce_with_logits_backward(dloss, cache)
-> ds``; ``discriminator_loss(s_real, s_fake)`` and ``lsgan_discriminator_loss(s_real, s_fake) -> (loss,
ds_real, ds_fake)``; ``generator_loss(s_fake)`` and ``lsgan_generator_loss(s_fake) -> (loss, ds_fake)``;
``spectral_norm(W, u, n_iters=1) -> (W_sn, sigma, u_new)``. A loss is one number (the mean), each gradient has
the shape of its input, and no function changes its inputs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, call, check_array, check_unchanged, fixture, passed, stored_mistakes, unpack
from dlfs.grading import probe, record

__all__ = [
    "bce_with_logits_forward",
    "bce_with_logits_backward",
    "discriminator_loss",
    "generator_loss",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "spectral_norm",
]

BCE_HINT = (
    "loss = mean of max(s, 0) - s * y + log1p(exp(-|s|)) over ALL entries: never log(sigmoid(s)), which is "
    "log(0) = -inf at s = -1000."
)
BCE_BACKWARD_HINT = "ds = dloss * (sigmoid(s) - y) / s.size, with s and y from the forward's cache, and the shape of s."
DISCRIMINATOR_HINT = (
    "loss = mean softplus(-s_real) + mean softplus(s_fake), each mean over its own batch (real against 1, fake "
    "against 0); ds_real = (sigmoid(s_real) - 1) / s_real.size, ds_fake = sigmoid(s_fake) / s_fake.size."
)
GENERATOR_HINT = (
    "the non-saturating loss is mean softplus(-s_fake), the BCE of the fakes against the label 1; "
    "ds_fake = (sigmoid(s_fake) - 1) / s_fake.size."
)
LSGAN_D_HINT = (
    "loss = 0.5 * mean (s_real - 1)**2 + 0.5 * mean s_fake**2; ds_real = (s_real - 1) / s_real.size, "
    "ds_fake = s_fake / s_fake.size."
)
LSGAN_G_HINT = "loss = 0.5 * mean (s_fake - 1)**2; ds_fake = (s_fake - 1) / s_fake.size."
SPECTRAL_NORM_HINT = (
    "with M = W.reshape(W.shape[0], -1), repeat n_iters times: v = M.T @ u, v /= norm(v), u = M @ v, "
    "u /= norm(u); then sigma = u @ M @ v and W_sn = W / sigma (W's shape); return the last u."
)


# ---- helpers shared with the hidden cases ----------------------------------------------------------------------


def one_number(name: str, value: Any, hint: str = "", what: str = "the loss") -> np.float64:
    """``value`` (the loss, or sigma) as one float64, or a failure saying that it must be one finite number."""
    tail = f" Hint: {hint}" if hint else ""
    if value is None:
        raise CheckFailed(f"{name}: {what} is None; return it as a number.")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"{name}: {what} must be a number; got {type(value).__name__}.") from err
    if array.size != 1:
        raise CheckFailed(f"{name}: {what} must be one number; got an array of shape {array.shape}.")
    number = np.float64(array.reshape(()))
    if not math.isfinite(number):
        raise CheckFailed(f"{name}: {what} is {number}, not a finite number.{tail}")
    return number


def _name(fn: Callable, default: str) -> str:
    return getattr(fn, "__name__", default)


def _overflow_note(caught: list) -> str:
    """A note for the pass line when NumPy warned (an overflow in a branch that np.where then dropped, say)."""
    texts = sorted({str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)})
    if not texts:
        return ""
    return (
        f" (note: NumPy warned '{texts[0]}' on the way; the values are right, but computing with exp(-|s|) avoids "
        "the overflow altogether)"
    )


def _quiet_call(fn: Callable, *args: Any) -> tuple[Any, list]:
    """``call(fn, *args)`` with NumPy's overflow, division and invalid-value warnings collected, not printed."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn", invalid="warn"):
        warnings.simplefilter("always")
        result = call(fn, *args)
    return result, list(caught)


# ---- the probe of the BCE backward case --------------------------------------------------------------------------


def _missing_forward(*args: Any) -> None:
    raise TypeError("no forward function was passed to check(...): check(case, backward, forward)")


@probe("w05_bce_backward")
def _bce_backward_probe(backward: Callable, forward: Callable | None = None, *, inputs: dict) -> dict:
    """``check("w05_bce_backward", bce_with_logits_backward, bce_with_logits_forward)``: per problem, the
    forward on (s, y), then the backward on (dloss, the forward's cache). Records the forward's loss (or what it
    returned instead of a pair), the backward's result, and which inputs either call changed."""
    forward = forward or _missing_forward
    answers = []
    for s, y, dloss in inputs["problems"]:
        s_arg, y_arg = s.copy(), y.copy()
        result = record(forward, s_arg, y_arg)
        pair = isinstance(result, tuple) and len(result) == 2
        entry: dict = {"loss": result[0] if pair else result, "pair": pair}
        if pair:
            entry["ds"] = record(backward, dloss, result[1])
        entry["changed"] = [
            name for name, before, after in (("s", s, s_arg), ("y", y, y_arg)) if not np.array_equal(before, after)
        ]
        answers.append(entry)
    return {"problems": answers}


# ---- visible checks -----------------------------------------------------------------------------------------------


def _arguments(a: dict, names: tuple[str, ...]) -> list[np.ndarray]:
    return [a[k].copy() for k in names]


def _unchanged(name: str, a: dict, names: tuple[str, ...], args: list[np.ndarray]) -> None:
    for key, arg in zip(names, args):
        check_unchanged(name, a[key], arg, key)


def _check_loss_fn(fn: Callable, fixture_name: str, arguments: tuple[str, ...], parts: tuple[str, ...], hint: str) -> str:
    """Call a loss on a stored problem; check the loss, then each gradient; return the pass line's note."""
    a = fixture(fixture_name)
    name = _name(fn, "your loss")
    args = _arguments(a, arguments)
    result, caught = _quiet_call(fn, *args)
    loss, *grads = unpack(name, result, "loss", *parts)
    _unchanged(name, a, arguments, args)
    check_array(
        f"{name}: loss",
        one_number(name, loss, hint),
        a["expected_loss"],
        rtol=1e-7,
        atol=1e-12,
        mistakes=stored_mistakes(a, "_loss"),
        hint=hint,
    )
    for part, got in zip(parts, grads):
        check_array(
            f"{name}: {part}",
            got,
            a[f"expected_{part}"],
            rtol=1e-6,
            atol=1e-12,
            mistakes=stored_mistakes(a, f"_{part}"),
            hint=hint,
        )
    return _overflow_note(caught)


def bce_with_logits_forward(fn: Callable) -> None:
    """Check the mean BCE of stored logits (2, 4), with entries of -1000 and +1000 and soft labels."""
    a = fixture("w05_gan_losses_bce_forward")
    name = _name(fn, "bce_with_logits_forward")
    args = _arguments(a, ("s", "y"))
    result, caught = _quiet_call(fn, *args)
    loss, _ = unpack(name, result, "loss", "cache")
    _unchanged(name, a, ("s", "y"), args)
    check_array(
        f"{name}: loss",
        one_number(name, loss, BCE_HINT),
        a["expected_loss"],
        rtol=1e-7,
        atol=1e-12,
        mistakes=stored_mistakes(a, "_loss"),
        hint=BCE_HINT,
    )
    passed(f"{name}: the loss matches on logits of shape {a['s'].shape}, also at +-1000{_overflow_note(caught)}")


def bce_with_logits_backward(backward: Callable, forward: Callable) -> None:
    """Check ds on stored logits (3, 2) with dloss = 1.5, on the cache of the student's forward. Call as
    ``checks.bce_with_logits_backward(bce_with_logits_backward, bce_with_logits_forward)``."""
    a = fixture("w05_gan_losses_bce_backward")
    name, fname = _name(backward, "bce_with_logits_backward"), _name(forward, "bce_with_logits_forward")
    args = _arguments(a, ("s", "y"))
    loss, cache = unpack(fname, call(forward, *args), "loss", "cache")
    check_array(
        f"{fname} (whose cache the backward uses)",
        one_number(fname, loss, BCE_HINT),
        a["expected_loss"],
        rtol=1e-7,
        atol=1e-12,
        hint="fix the forward first: " + BCE_HINT,
    )
    dloss = float(a["dloss"])
    ds, caught = _quiet_call(backward, dloss, cache)
    _unchanged(name, a, ("s", "y"), args)
    check_array(
        f"{name}: ds",
        ds,
        a["expected_ds"],
        rtol=1e-6,
        atol=1e-12,
        mistakes=stored_mistakes(a, "_ds"),
        hint=BCE_BACKWARD_HINT,
    )
    passed(f"{name}: ds matches with dloss = {dloss} on logits of shape {a['s'].shape}{_overflow_note(caught)}")


def discriminator_loss(fn: Callable) -> None:
    """Check the discriminator's loss and gradients on stored scores: 6 real (with -1000 and +1000), 4 fake."""
    note = _check_loss_fn(fn, "w05_gan_losses_discriminator", ("s_real", "s_fake"), ("ds_real", "ds_fake"), DISCRIMINATOR_HINT)
    passed(
        f"{_name(fn, 'discriminator_loss')}: loss, ds_real and ds_fake match (batches of 6 and 4, scores of "
        f"+-1000 included){note}"
    )


def generator_loss(fn: Callable) -> None:
    """Check the non-saturating generator loss and its gradient on stored scores (6, 1) with -1000 and +1000."""
    note = _check_loss_fn(fn, "w05_gan_losses_generator", ("s_fake",), ("ds_fake",), GENERATOR_HINT)
    passed(f"{_name(fn, 'generator_loss')}: loss and ds_fake match, scores of +-1000 included{note}")


def lsgan_discriminator_loss(fn: Callable) -> None:
    """Check the least-squares discriminator loss and gradients on stored scores: 5 real, 3 fake."""
    _check_loss_fn(fn, "w05_gan_losses_lsgan_discriminator", ("s_real", "s_fake"), ("ds_real", "ds_fake"), LSGAN_D_HINT)
    passed(f"{_name(fn, 'lsgan_discriminator_loss')}: loss, ds_real and ds_fake match (batches of 5 and 3)")


def lsgan_generator_loss(fn: Callable) -> None:
    """Check the least-squares generator loss and its gradient on stored scores (4, 1)."""
    _check_loss_fn(fn, "w05_gan_losses_lsgan_generator", ("s_fake",), ("ds_fake",), LSGAN_G_HINT)
    passed(f"{_name(fn, 'lsgan_generator_loss')}: loss and ds_fake match")


SPECTRAL_NORM_PROBLEMS = (("mat", "W of shape (5, 3), n_iters=1"), ("conv", "a conv weight (4, 2, 3, 3), n_iters=20"))


def spectral_norm(fn: Callable) -> None:
    """Check spectral_norm on a stored matrix (5, 3) with one iteration from a stored u, then on a stored conv
    weight (4, 2, 3, 3) with 20 iterations."""
    a = fixture("w05_gan_losses_spectral_norm")
    name = _name(fn, "spectral_norm")
    for key, label in SPECTRAL_NORM_PROBLEMS:
        where = f"{name} on {label}"
        W, u = a[f"W_{key}"].copy(), a[f"u_{key}"].copy()
        result = call(fn, W, u, n_iters=int(a[f"n_iters_{key}"]))
        W_sn, sigma, u_new = unpack(name, result, "W_sn", "sigma", "u_new")
        check_unchanged(where, a[f"W_{key}"], W, "W")
        check_unchanged(where, a[f"u_{key}"], u, "u")
        check_array(
            f"{where}: sigma",
            one_number(where, sigma, SPECTRAL_NORM_HINT, "sigma"),
            a[f"expected_sigma_{key}"],
            rtol=1e-7,
            mistakes=stored_mistakes(a, f"_sigma_{key}"),
            hint=SPECTRAL_NORM_HINT,
        )
        check_array(
            f"{where}: W_sn",
            W_sn,
            a[f"expected_W_sn_{key}"],
            rtol=1e-7,
            atol=1e-12,
            mistakes=stored_mistakes(a, f"_W_sn_{key}"),
            hint=SPECTRAL_NORM_HINT,
        )
        check_array(
            f"{where}: u_new",
            u_new,
            a[f"expected_u_new_{key}"],
            rtol=1e-6,
            atol=1e-10,
            mistakes=stored_mistakes(a, f"_u_new_{key}"),
            hint=SPECTRAL_NORM_HINT,
        )
    passed(f"{name}: W_sn, sigma and u_new match after one iteration on a (5, 3) matrix and 20 on a conv weight")
