"""Week 5, the GAN losses and spectral normalisation: correct variants pass every hidden case, the known mistakes
fail with their diagnosis, the visible checks say the same, each named mistake differs from the right answer on the
cases (fixtures: tests/test_registry.py). The shared references themselves are checked against JAX in
``tests/test_gan_reference.py``."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, visible_tests

from autograder.cases import gan_reference as gan
from autograder.cases import w05_gan_losses as ref
from autograder.protocol import get_case, run_case
from dlfs.checks import week05 as visible

pytestmark = [
    pytest.mark.week05,
    pytest.mark.w05_gan_losses,
    pytest.mark.autograder,
    pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
]


def stub(*args, **kwargs):
    raise NotImplementedError()


def _sigmoid(a):
    """sigmoid through logaddexp: exp(-log(1 + e^-a)), never overflowing; keeps float32."""
    return np.exp(-np.logaddexp(0, -a))


def _scalar_sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def _softplus(v: float) -> float:
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


# ---- BCE: correct variants ---------------------------------------------------------------------------------------


def bce_logaddexp(s, y):
    """The definition with log(1 + e^a) = np.logaddexp(0, a); a dict for a cache."""
    loss = np.mean(y * np.logaddexp(0, -s) + (1 - y) * np.logaddexp(0, s))
    return float(loss), {"s": s, "y": y}


def bce_logaddexp_backward(dloss, cache):
    s, y = cache["s"], cache["y"]
    return dloss * (_sigmoid(s) - y) / s.size


def bce_loop(s, y):
    """Entry by entry with math, in float64; the cache holds float64 copies."""
    s64, y64 = np.array(s, dtype=np.float64), np.array(y, dtype=np.float64)
    total = sum(_softplus(a) - a * b for a, b in zip(s64.ravel().tolist(), y64.ravel().tolist()))
    return total / s64.size, (s64, y64)


def bce_loop_backward(dloss, cache):
    s, y = cache
    ds = np.empty(s.shape)
    for index in np.ndindex(s.shape):
        ds[index] = dloss * (_scalar_sigmoid(s[index]) - y[index]) / s.size
    return ds


def bce_where(s, y):
    """np.where on two branches, each stable on its side: the other branch overflows (a warning), the value is right."""
    per_entry = np.where(s > 0, s * (1 - y) + np.log1p(np.exp(-s)), np.log1p(np.exp(s)) - s * y)
    return per_entry.mean(), (s, y)


def bce_where_backward(dloss, cache):
    """1 / (1 + e^-s): e^1000 overflows to inf (a warning) and 1 / inf = 0 is the right value."""
    s, y = cache
    return dloss * (1 / (1 + np.exp(-s)) - y) / s.size


# ---- BCE: wrong variants -----------------------------------------------------------------------------------------


def bce_naive(s, y):
    p = 1 / (1 + np.exp(-s))
    return np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p)), (s, y)


def bce_clipped(s, y):
    """The naive formula kept finite with an epsilon: wrong by about 1000 at s = -1000."""
    p = np.clip(1 / (1 + np.exp(-s)), 1e-12, 1 - 1e-12)
    return np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p)), (s, y)


def bce_sum(s, y):
    return np.sum(np.logaddexp(0, s) - s * y), (s, y)


def bce_over_rows(s, y):
    return np.sum(np.logaddexp(0, s) - s * y) / s.shape[0], (s, y)


def bce_loss_only(s, y):
    return bce_logaddexp(s, y)[0]


def bce_in_place(s, y):
    """Clips the logits in place to 'avoid overflow'."""
    np.clip(s, -30, 30, out=s)
    return bce_logaddexp(s, y)


def _bce_backward(dloss, cache, *, mean=True, use_dloss=True, sign=1.0, rows=False):
    s, y = cache
    ds = sign * (_sigmoid(s) - y)
    if use_dloss:
        ds = dloss * ds
    if rows:
        return ds / s.shape[0]
    return ds / s.size if mean else ds


def bce_backward_no_mean(dloss, cache):
    return _bce_backward(dloss, cache, mean=False)


def bce_backward_no_dloss(dloss, cache):
    return _bce_backward(dloss, cache, use_dloss=False)


def bce_backward_bare(dloss, cache):
    return _bce_backward(dloss, cache, mean=False, use_dloss=False)


def bce_backward_sign(dloss, cache):
    return _bce_backward(dloss, cache, sign=-1.0)


def bce_backward_over_rows(dloss, cache):
    return _bce_backward(dloss, cache, rows=True)


def bce_backward_in_place(dloss, cache):
    """Turns the cached logits into probabilities in place: the caller's s changes."""
    s, y = cache
    s[...] = _sigmoid(s)
    return dloss * (s - y) / s.size


# ---- the GAN losses: correct variants ----------------------------------------------------------------------------


def discriminator_logaddexp(s_real, s_fake):
    loss = np.logaddexp(0, -s_real).mean() + np.logaddexp(0, s_fake).mean()
    return loss, (_sigmoid(s_real) - 1) / s_real.size, _sigmoid(s_fake) / s_fake.size


def discriminator_loop(s_real, s_fake):
    """Python loops with math over each batch, in float64."""
    real, fake = np.asarray(s_real, dtype=np.float64), np.asarray(s_fake, dtype=np.float64)
    loss = sum(_softplus(-v) for v in real.ravel()) / real.size + sum(_softplus(v) for v in fake.ravel()) / fake.size
    ds_real = np.array([(_scalar_sigmoid(v) - 1) / real.size for v in real.ravel()]).reshape(real.shape)
    ds_fake = np.array([_scalar_sigmoid(v) / fake.size for v in fake.ravel()]).reshape(fake.shape)
    return loss, ds_real, ds_fake


def discriminator_weighted(s_real, s_fake):
    """One BCE over the concatenation with weights 1/n_real and 1/n_fake: the same as two means."""
    nr = s_real.size
    s = np.concatenate([s_real.ravel(), s_fake.ravel()])
    y = np.concatenate([np.ones(nr), np.zeros(s_fake.size)])
    w = np.concatenate([np.full(nr, 1 / nr), np.full(s_fake.size, 1 / s_fake.size)])
    loss = np.sum(w * (np.logaddexp(0, s) - s * y))
    ds = w * (_sigmoid(s) - y)
    return loss, ds[:nr].reshape(s_real.shape), ds[nr:].reshape(s_fake.shape)


def generator_logaddexp(s_fake):
    return np.logaddexp(0, -s_fake).mean(), (_sigmoid(s_fake) - 1) / s_fake.size


def generator_loop(s_fake):
    s = np.asarray(s_fake, dtype=np.float64)
    loss = sum(_softplus(-v) for v in s.ravel()) / s.size
    return loss, np.array([(_scalar_sigmoid(v) - 1) / s.size for v in s.ravel()]).reshape(s.shape)


def lsgan_discriminator_sums(s_real, s_fake):
    loss = np.sum((s_real - 1) ** 2) / (2 * s_real.size) + np.sum(s_fake * s_fake) / (2 * s_fake.size)
    return loss, (s_real - 1) / s_real.size, s_fake / s_fake.size


def lsgan_discriminator_loop(s_real, s_fake):
    real, fake = np.asarray(s_real, dtype=np.float64), np.asarray(s_fake, dtype=np.float64)
    loss = 0.5 * sum((v - 1) ** 2 for v in real.ravel()) / real.size + 0.5 * sum(v * v for v in fake.ravel()) / fake.size
    return loss, np.array([(v - 1) / real.size for v in real.ravel()]).reshape(real.shape), fake / fake.size


def lsgan_generator_sums(s_fake):
    return np.sum((s_fake - 1) ** 2) / (2 * s_fake.size), (s_fake - 1) / s_fake.size


def lsgan_generator_float64(s_fake):
    s = np.asarray(s_fake, dtype=np.float64)
    return float(0.5 * np.mean(np.square(s - 1))), (s - 1) / s.size


# ---- the GAN losses: wrong variants ------------------------------------------------------------------------------


def discriminator_naive(s_real, s_fake):
    d_real, d_fake = 1 / (1 + np.exp(-s_real)), 1 / (1 + np.exp(-s_fake))
    loss = -np.mean(np.log(d_real)) - np.mean(np.log(1 - d_fake))
    return loss, (d_real - 1) / s_real.size, d_fake / s_fake.size


def discriminator_swapped(s_real, s_fake):
    return discriminator_logaddexp(s_fake, s_real)[0], _sigmoid(s_real) / s_real.size, (_sigmoid(s_fake) - 1) / s_fake.size


def discriminator_concat(s_real, s_fake):
    s = np.concatenate([s_real.ravel(), s_fake.ravel()])
    y = np.concatenate([np.ones(s_real.size), np.zeros(s_fake.size)])
    loss = np.mean(np.logaddexp(0, s) - s * y)
    ds = (_sigmoid(s) - y) / s.size
    return loss, ds[: s_real.size].reshape(s_real.shape), ds[s_real.size :].reshape(s_fake.shape)


def discriminator_no_fake(s_real, s_fake):
    return np.logaddexp(0, -s_real).mean(), (_sigmoid(s_real) - 1) / s_real.size, np.zeros_like(s_fake)


def discriminator_sum(s_real, s_fake):
    return np.logaddexp(0, -s_real).sum() + np.logaddexp(0, s_fake).sum(), _sigmoid(s_real) - 1, _sigmoid(s_fake)


def discriminator_sign(s_real, s_fake):
    loss, dr, df = discriminator_logaddexp(s_real, s_fake)
    return loss, -dr, -df


def discriminator_pair_of_grads(s_real, s_fake):
    loss, dr, df = discriminator_logaddexp(s_real, s_fake)
    return loss, (dr, df)


def generator_naive(s_fake):
    d = 1 / (1 + np.exp(-s_fake))
    return -np.mean(np.log(d)), (d - 1) / s_fake.size


def generator_saturating(s_fake):
    return -np.logaddexp(0, s_fake).mean(), -_sigmoid(s_fake) / s_fake.size


def generator_fake_term(s_fake):
    return np.logaddexp(0, s_fake).mean(), _sigmoid(s_fake) / s_fake.size


def generator_sum(s_fake):
    return np.logaddexp(0, -s_fake).sum(), _sigmoid(s_fake) - 1


def generator_sign(s_fake):
    loss, ds = generator_logaddexp(s_fake)
    return loss, -ds


def generator_in_place(s_fake):
    s_fake -= 0.0 * s_fake + 1e-3  # "centres" the scores in place
    return generator_logaddexp(s_fake)


def lsgan_discriminator_no_half(s_real, s_fake):
    return np.mean((s_real - 1) ** 2) + np.mean(s_fake**2), 2 * (s_real - 1) / s_real.size, 2 * s_fake / s_fake.size


def lsgan_discriminator_swapped(s_real, s_fake):
    loss = 0.5 * np.mean(s_real**2) + 0.5 * np.mean((s_fake - 1) ** 2)
    return loss, s_real / s_real.size, (s_fake - 1) / s_fake.size


def lsgan_discriminator_concat(s_real, s_fake):
    diff = np.concatenate([s_real.ravel() - 1, s_fake.ravel()])
    d = diff / diff.size
    return 0.5 * np.mean(diff**2), d[: s_real.size].reshape(s_real.shape), d[s_real.size :].reshape(s_fake.shape)


def lsgan_discriminator_sign(s_real, s_fake):
    loss, dr, df = lsgan_discriminator_sums(s_real, s_fake)
    return loss, -dr, -df


def lsgan_generator_no_half(s_fake):
    return np.mean((s_fake - 1) ** 2), 2 * (s_fake - 1) / s_fake.size


def lsgan_generator_target_zero(s_fake):
    return 0.5 * np.mean(s_fake**2), s_fake / s_fake.size


def lsgan_generator_sign(s_fake):
    return 0.5 * np.mean((s_fake - 1) ** 2), (1 - s_fake) / s_fake.size


def lsgan_generator_float16(s_fake):
    s = s_fake.astype(np.float16)
    return 0.5 * np.mean((s - 1) ** 2), (s - 1) / s.size


# ---- spectral norm: correct variants -----------------------------------------------------------------------------


def sn_norm_of_Wv(W, u, n_iters=1):
    """sigma = |M v|, equal to u^T M v once u = M v / |M v|; u normalised first (its scale never matters)."""
    M = W.reshape(len(W), -1)
    u = u / np.linalg.norm(u)
    for _ in range(n_iters):
        v = M.T @ u
        v = v / np.linalg.norm(v)
        Mv = M @ v
        sigma = np.linalg.norm(Mv)
        u = Mv / sigma
    return W / sigma, sigma, u


def sn_tensordot(W, u, n_iters=1):
    """No reshape: v has the shape W.shape[1:]; contract W's first axis with u, the others with v. Keeps float32."""
    rest = tuple(range(1, W.ndim))
    for _ in range(n_iters):
        v = np.tensordot(u, W, axes=(0, 0))
        v = v / math.sqrt(float(np.sum(v * v)))
        u = np.tensordot(W, v, axes=(rest, tuple(range(v.ndim))))
        u = u / math.sqrt(float(np.sum(u * u)))
    sigma = float(u @ np.tensordot(W, v, axes=(rest, tuple(range(v.ndim)))))
    return W / sigma, sigma, u


def sn_loops(W, u, n_iters=1):
    """Python loops over rows and columns, in float64."""
    M = np.asarray(W, dtype=np.float64).reshape(len(W), -1)
    rows, cols = M.shape
    u = [float(x) for x in u]
    for _ in range(n_iters):
        v = [sum(M[i, j] * u[i] for i in range(rows)) for j in range(cols)]
        length = math.sqrt(sum(x * x for x in v))
        v = [x / length for x in v]
        u = [sum(M[i, j] * v[j] for j in range(cols)) for i in range(rows)]
        length = math.sqrt(sum(x * x for x in u))
        u = [x / length for x in u]
    sigma = sum(u[i] * M[i, j] * v[j] for i in range(rows) for j in range(cols))
    return np.asarray(W, dtype=np.float64) / sigma, sigma, np.array(u)


# ---- spectral norm: wrong variants -------------------------------------------------------------------------------


def _sn(W, u, n_iters=1, *, norm_u=True, norm_v=True, swap=False, extra=0, once=False):
    M = W.reshape(len(W), -1)
    for _ in range(1 if once else n_iters + extra):
        if swap:
            v = M @ u
            v = v / np.linalg.norm(v)
            u = M.T @ v
        else:
            v = M.T @ u
            if norm_v:
                v = v / np.linalg.norm(v)
            u = M @ v
        if norm_u:
            u = u / np.linalg.norm(u)
    sigma = u @ M @ v
    return W / sigma, sigma, u


def sn_u_not_normalised(W, u, n_iters=1):
    return _sn(W, u, n_iters, norm_u=False)


def sn_v_not_normalised(W, u, n_iters=1):
    return _sn(W, u, n_iters, norm_v=False)


def sn_swapped(W, u, n_iters=1):
    return _sn(W, u, n_iters, swap=True)


def sn_ignores_n_iters(W, u, n_iters=1):
    return _sn(W, u, n_iters, once=True)


def sn_extra_iteration(W, u, n_iters=1):
    return _sn(W, u, n_iters, extra=1)


def sn_sigma_squared(W, u, n_iters=1):
    W_sn, sigma, u = _sn(W, u, n_iters)
    return W / sigma**2, sigma, u


def sn_frobenius(W, u, n_iters=1):
    sigma = np.linalg.norm(W)
    return W / sigma, sigma, u


def sn_svd(W, u, n_iters=1):
    _, _, u = _sn(W, u, n_iters)
    sigma = np.linalg.svd(W.reshape(len(W), -1), compute_uv=False)[0]
    return W / sigma, sigma, u


def sn_not_reshaped(W, u, n_iters=1):
    M = W.reshape(len(W), -1)
    _, sigma, u = _sn(W, u, n_iters)
    return M / sigma, sigma, u


def sn_old_u(W, u, n_iters=1):
    W_sn, sigma, _ = _sn(W, u, n_iters)
    return W_sn, sigma, u


def sn_returned_v(W, u, n_iters=1):
    W_sn, sigma, _ = _sn(W, u, n_iters)
    return W_sn, sigma, _last_v(W.reshape(len(W), -1), u, n_iters)


def _last_v(M, u, n_iters):
    for _ in range(n_iters):
        v = M.T @ u
        v = v / np.linalg.norm(v)
        u = M @ v
        u = u / np.linalg.norm(u)
    return v


def sn_in_place(W, u, n_iters=1):
    u /= np.linalg.norm(u)
    return _sn(W, u, n_iters)


def sn_sigma_array(W, u, n_iters=1):
    """sigma as the (1, 1) product of 2-D arrays: one number, accepted."""
    W_sn, sigma, u_new = _sn(W, u, n_iters)
    return W_sn, np.array([[sigma]]), u_new


def _other_top_vector(W, u_new, scale):
    """Where the largest singular value is repeated: another vector of the top left singular subspace."""
    M = W.reshape(len(W), -1)
    left, values, _ = np.linalg.svd(M)
    if len(values) < 2 or not np.isclose(values[0], values[1], rtol=1e-9):
        return u_new
    top = left[:, values >= values[0] * (1 - 1e-9)]
    other = top @ (top.T @ np.roll(u_new, 1))
    return scale * other / np.linalg.norm(other)


def sn_other_top_vector(W, u, n_iters=1):
    """Right: with a repeated largest singular value, any unit vector of its left subspace will do as u_new."""
    W_sn, sigma, u_new = gan.spectral_norm(W, u, n_iters)
    return W_sn, sigma, _other_top_vector(W, u_new, 1.0)


def sn_top_vector_too_long(W, u, n_iters=1):
    """Wrong only where the largest singular value is repeated: a top singular vector of length 2."""
    W_sn, sigma, u_new = gan.spectral_norm(W, u, n_iters)
    return W_sn, sigma, _other_top_vector(W, u_new, 2.0)


# ---- the hidden cases ----------------------------------------------------------------------------------------------

BCE_BACKWARDS = [
    Together(bce_logaddexp_backward, bce_logaddexp),
    Together(bce_loop_backward, bce_loop),
    Together(bce_where_backward, bce_where),
    Together(gan.bce_with_logits_backward, gan.bce_with_logits_forward),
]
DISCRIMINATORS = [discriminator_logaddexp, discriminator_loop, discriminator_weighted, gan.discriminator_loss]
GENERATORS = [generator_logaddexp, generator_loop, gan.generator_loss]
SPECTRAL = [sn_norm_of_Wv, sn_tensordot, sn_loops, sn_sigma_array, sn_other_top_vector, gan.spectral_norm]

CORRECT = {
    "w05_bce_forward": [bce_logaddexp, bce_loop, bce_where, gan.bce_with_logits_forward],
    "w05_bce_backward": BCE_BACKWARDS,
    "w05_discriminator_loss": DISCRIMINATORS,
    "w05_discriminator_loss_stable": DISCRIMINATORS,
    "w05_generator_loss": GENERATORS,
    "w05_generator_loss_stable": GENERATORS,
    "w05_lsgan_discriminator_loss": [lsgan_discriminator_sums, lsgan_discriminator_loop, gan.lsgan_discriminator_loss],
    "w05_lsgan_generator_loss": [lsgan_generator_sums, lsgan_generator_float64, gan.lsgan_generator_loss],
    "w05_spectral_norm_one_step": SPECTRAL,
    "w05_spectral_norm_converged": SPECTRAL,
    "w05_spectral_norm_conv": SPECTRAL,
}

NOT_FINITE = "not a finite number"
WRONG = [
    ("w05_bce_forward", stub, "bce_with_logits_forward|stub is not implemented yet"),
    ("w05_bce_forward", bce_naive, f"{NOT_FINITE}.*never log\\(sigmoid\\(s\\)\\)"),
    ("w05_bce_forward", bce_clipped, "values are wrong.*log1p"),
    ("w05_bce_forward", bce_sum, "SUM over the entries"),
    ("w05_bce_forward", bce_over_rows, r"divides by s.shape\[0\] only"),
    ("w05_bce_forward", bce_loss_only, r"must return a tuple \(loss, cache\)"),
    ("w05_bce_forward", bce_in_place, "changed its input `s` in place"),
    ("w05_bce_backward", Together(stub, bce_logaddexp), "stub is not implemented yet"),
    (
        "w05_bce_backward",
        Together(bce_logaddexp_backward, stub),
        "cache of your bce_with_logits_forward, which is not implemented yet",
    ),
    ("w05_bce_backward", Together(bce_where_backward, bce_clipped), "fix the forward first"),
    ("w05_bce_backward", Together(bce_logaddexp_backward, bce_loss_only), r"must return the pair \(loss, cache\)"),
    ("w05_bce_backward", Together(bce_backward_no_mean, bce_loop), "s.size times too large"),
    ("w05_bce_backward", Together(bce_backward_no_dloss, bce_loop), "ignores dloss"),
    ("w05_bce_backward", Together(bce_backward_bare, bce_loop), "your ds is sigmoid"),
    ("w05_bce_backward", Together(bce_backward_sign, bce_loop), "wrong sign"),
    ("w05_bce_backward", Together(bce_backward_over_rows, bce_loop), r"divides by s.shape\[0\] only"),
    ("w05_bce_backward", Together(bce_backward_in_place, bce_where), "changed its input `s` in place"),
    ("w05_discriminator_loss", stub, "not implemented yet"),
    ("w05_discriminator_loss", discriminator_swapped, "labels are swapped"),
    ("w05_discriminator_loss", discriminator_concat, "one mean over the real and fake"),
    ("w05_discriminator_loss", discriminator_no_fake, "no fake term"),
    ("w05_discriminator_loss", discriminator_sum, "sums over the batches"),
    ("w05_discriminator_loss", discriminator_sign, "gradients have the wrong sign"),
    ("w05_discriminator_loss", discriminator_pair_of_grads, r"must return a tuple \(loss, ds_real, ds_fake\)"),
    ("w05_discriminator_loss_stable", discriminator_naive, NOT_FINITE),
    ("w05_discriminator_loss_stable", discriminator_swapped, "labels are swapped"),
    ("w05_discriminator_loss_stable", stub, "not implemented yet"),
    ("w05_generator_loss", stub, "not implemented yet"),
    ("w05_generator_loss", generator_saturating, "the generator trained on the saturating loss"),
    ("w05_generator_loss", generator_fake_term, "the sign flipped"),
    ("w05_generator_loss", generator_sum, "sums over the batch"),
    ("w05_generator_loss", generator_sign, "ds_fake has the wrong sign"),
    ("w05_generator_loss", generator_in_place, "changed its input `s_fake` in place"),
    ("w05_generator_loss_stable", generator_naive, NOT_FINITE),
    ("w05_generator_loss_stable", generator_saturating, "the generator trained on the saturating loss"),
    ("w05_generator_loss_stable", stub, "not implemented yet"),
    ("w05_lsgan_discriminator_loss", stub, "not implemented yet"),
    ("w05_lsgan_discriminator_loss", lsgan_discriminator_no_half, "twice the right ones"),
    ("w05_lsgan_discriminator_loss", lsgan_discriminator_swapped, "targets are swapped"),
    ("w05_lsgan_discriminator_loss", lsgan_discriminator_concat, "one mean over the real and fake"),
    ("w05_lsgan_discriminator_loss", lsgan_discriminator_sign, "wrong sign"),
    ("w05_lsgan_generator_loss", stub, "not implemented yet"),
    ("w05_lsgan_generator_loss", lsgan_generator_no_half, "twice the right ones"),
    ("w05_lsgan_generator_loss", lsgan_generator_target_zero, "pushes its scores to 0"),
    ("w05_lsgan_generator_loss", lsgan_generator_sign, "wrong sign"),
    ("w05_lsgan_generator_loss", lsgan_generator_float16, "values are wrong"),
    ("w05_spectral_norm_one_step", stub, "not implemented yet"),
    ("w05_spectral_norm_one_step", sn_u_not_normalised, "your u is not normalised"),
    ("w05_spectral_norm_one_step", sn_v_not_normalised, "your v is not normalised"),
    ("w05_spectral_norm_one_step", sn_swapped, "products are in the wrong order"),
    ("w05_spectral_norm_one_step", sn_ignores_n_iters, "ONE iteration whatever n_iters"),
    ("w05_spectral_norm_one_step", sn_extra_iteration, "n_iters \\+ 1 iterations"),
    ("w05_spectral_norm_one_step", sn_sigma_squared, "W / sigma\\*\\*2"),
    ("w05_spectral_norm_one_step", sn_frobenius, "Frobenius norm"),
    ("w05_spectral_norm_one_step", sn_svd, "exact largest singular value"),
    ("w05_spectral_norm_one_step", sn_old_u, "u_new is the u you were given"),
    ("w05_spectral_norm_one_step", sn_returned_v, "u_new is the last v"),
    ("w05_spectral_norm_one_step", sn_in_place, "changed its input `u` in place"),
    ("w05_spectral_norm_converged", sn_ignores_n_iters, "ONE iteration whatever n_iters"),
    ("w05_spectral_norm_converged", sn_frobenius, "Frobenius norm"),
    ("w05_spectral_norm_converged", sn_u_not_normalised, "your u is not normalised"),
    ("w05_spectral_norm_converged", sn_top_vector_too_long, r"unit vector of the top singular subspace .*\|u\| = 2"),
    ("w05_spectral_norm_converged", stub, "not implemented yet"),
    ("w05_spectral_norm_conv", sn_not_reshaped, "shape of the matrix view"),
    ("w05_spectral_norm_conv", sn_returned_v, "u_new is the last v"),
    ("w05_spectral_norm_conv", sn_sigma_squared, "W / sigma\\*\\*2"),
    ("w05_spectral_norm_conv", stub, "not implemented yet"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w05_gan_losses", CORRECT, WRONG)


def test_a_swapped_product_on_a_non_square_matrix_says_where_to_look():
    """v = M @ u cannot run on a (5, 3) matrix: the ValueError comes with the recipe."""
    W = np.random.default_rng(0).normal(size=(5, 3))
    with pytest.raises(ValueError):
        sn_swapped(W, np.ones(5))
    inputs, _ = get_case("w05_spectral_norm_one_step").build()
    assert inputs["calls"][0].args[0].shape == (4, 4)  # first, so that the swapped products get their name
    with pytest.raises(AssertionError, match=r"raised ValueError: .*Hint: with M = W.reshape"):
        run_case("w05_spectral_norm_one_step", _non_square_swapped)


def _non_square_swapped(W, u, n_iters=1):
    if W.shape[0] == W.shape[1]:
        return gan.spectral_norm(W, u, n_iters)
    return sn_swapped(W, u, n_iters)


def test_the_stable_cases_hold_logits_of_1000_and_float32():
    for case_id in ("w05_bce_forward", "w05_discriminator_loss_stable", "w05_generator_loss_stable"):
        inputs, _ = get_case(case_id).build()
        arrays = [a for call in inputs["calls"] for a in call.args]
        assert max(float(np.abs(a).max()) for a in arrays) >= 1000.0, case_id
        assert any(a.dtype == np.float32 for a in arrays), case_id


# ---- each named mistake differs from the right answer on the cases --------------------------------------------------


def _differs(outputs: dict, right: dict) -> set[str]:
    found = set()
    for part, by_name in outputs.items():
        want = np.asarray(right[part])
        for name, out in by_name.items():
            out = np.asarray(out)
            if out.shape != want.shape or not np.allclose(out, want, rtol=1e-6, atol=1e-12):
                found.add(name)
    return found


LOSS_CASES = [
    (
        "w05_bce_forward",
        lambda s, y: {"loss": gan.bce_with_logits_forward(s, y)[0]},
        ref.bce_forward_mistakes,
        ref.BCE_FORWARD_MISTAKES,
    ),
    (
        "w05_discriminator_loss",
        lambda a, b: dict(zip(("loss", "ds_real", "ds_fake"), gan.discriminator_loss(a, b))),
        ref.discriminator_mistakes,
        ref.DISCRIMINATOR_MISTAKES,
    ),
    (
        "w05_generator_loss",
        lambda a: dict(zip(("loss", "ds_fake"), gan.generator_loss(a))),
        ref.generator_mistakes,
        ref.GENERATOR_MISTAKES,
    ),
    (
        "w05_lsgan_discriminator_loss",
        lambda a, b: dict(zip(("loss", "ds_real", "ds_fake"), gan.lsgan_discriminator_loss(a, b))),
        ref.lsgan_discriminator_mistakes,
        ref.LSGAN_D_MISTAKES,
    ),
    (
        "w05_lsgan_generator_loss",
        lambda a: dict(zip(("loss", "ds_fake"), gan.lsgan_generator_loss(a))),
        ref.lsgan_generator_mistakes,
        ref.LSGAN_G_MISTAKES,
    ),
]


@pytest.mark.parametrize(("case_id", "right", "mistakes", "messages"), LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_mistakes_differ_from_the_reference_on_the_case(case_id, right, mistakes, messages):
    inputs, _ = get_case(case_id).build()
    named = set()
    for call in inputs["calls"]:
        named |= _differs(mistakes(*call.args), right(*call.args))
    assert named == set(messages)


def test_bce_backward_mistakes_differ_from_the_reference_on_the_case():
    inputs, _ = get_case("w05_bce_backward").build()
    named = set()
    for s, y, dloss in inputs["problems"]:
        right = {"ds": gan.bce_with_logits_backward(dloss, gan.bce_with_logits_forward(s, y)[1])}
        named |= _differs(ref.bce_backward_mistakes(s, y, dloss), right)
    assert named == set(ref.BCE_BACKWARD_MISTAKES)


def test_spectral_norm_mistakes_differ_from_the_reference_on_the_cases():
    named = set()
    for case_id in ("w05_spectral_norm_one_step", "w05_spectral_norm_converged", "w05_spectral_norm_conv"):
        inputs, _ = get_case(case_id).build()
        for call in inputs["calls"]:
            W, u = call.args
            n_iters = call.kwargs.get("n_iters", 1)
            right = dict(zip(("W_sn", "sigma", "u_new"), gan.spectral_norm(W, u, n_iters)))
            named |= _differs(ref.spectral_norm_mistakes(W, u, n_iters), right)
    assert named == set(ref.SPECTRAL_NORM_MISTAKES)


def test_mistake_outputs_are_those_mistakes():
    """The formulas behind the named outputs, against the wrong variants above written as a student would."""
    rng = np.random.default_rng(3)
    s, y, dloss = rng.normal(size=(3, 4)), rng.uniform(size=(3, 4)), 1.7
    cache = (s, y)
    wrong = ref.bce_backward_mistakes(s, y, dloss)["ds"]
    for name, fn in [
        ("no_mean", bce_backward_no_mean),
        ("no_dloss", bce_backward_no_dloss),
        ("bare", bce_backward_bare),
        ("sign", bce_backward_sign),
        ("over_rows", bce_backward_over_rows),
    ]:
        np.testing.assert_allclose(wrong[name], fn(dloss, cache), rtol=1e-12, err_msg=name)
    real, fake = rng.normal(size=(5, 1)), rng.normal(size=(3, 1))
    outputs = ref.discriminator_mistakes(real, fake)
    for name, fn in [
        ("swapped", discriminator_swapped),
        ("concat_mean", discriminator_concat),
        ("no_fake", discriminator_no_fake),
        ("sum", discriminator_sum),
        ("sign", discriminator_sign),
    ]:
        got = dict(zip(("loss", "ds_real", "ds_fake"), fn(real, fake)))
        for part, value in got.items():
            if name in outputs[part]:
                np.testing.assert_allclose(outputs[part][name], value, rtol=1e-12, err_msg=f"{name} {part}")
    outputs = ref.lsgan_discriminator_mistakes(real, fake)
    for name, fn in [
        ("no_half", lsgan_discriminator_no_half),
        ("swapped", lsgan_discriminator_swapped),
        ("concat_mean", lsgan_discriminator_concat),
        ("sign", lsgan_discriminator_sign),
    ]:
        for part, value in zip(("loss", "ds_real", "ds_fake"), fn(real, fake)):
            if name in outputs[part]:
                np.testing.assert_allclose(outputs[part][name], value, rtol=1e-12, err_msg=f"{name} {part}")
    for fns, mistakes in [
        (
            {"saturating": generator_saturating, "fake_term": generator_fake_term, "sum": generator_sum, "sign": generator_sign},
            ref.generator_mistakes,
        ),
        (
            {"no_half": lsgan_generator_no_half, "target_zero": lsgan_generator_target_zero, "sign": lsgan_generator_sign},
            ref.lsgan_generator_mistakes,
        ),
    ]:
        outputs = mistakes(fake)
        for name, fn in fns.items():
            for part, value in zip(("loss", "ds_fake"), fn(fake)):
                if name in outputs[part]:
                    np.testing.assert_allclose(outputs[part][name], value, rtol=1e-12, err_msg=f"{name} {part}")


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (4, 2, 3, 3)], ids=str)
@pytest.mark.parametrize("n_iters", [1, 3])
def test_spectral_norm_mistake_outputs_are_those_mistakes(shape, n_iters):
    rng = np.random.default_rng(sum(shape) + n_iters)
    W, u = rng.normal(size=shape), rng.normal(size=shape[0])
    outputs = ref.spectral_norm_mistakes(W, u, n_iters)
    variants = {
        "u_not_normalised": sn_u_not_normalised,
        "v_not_normalised": sn_v_not_normalised,
        "sigma_squared": sn_sigma_squared,
        "frobenius": sn_frobenius,
        "svd": sn_svd,
        "extra_iteration": sn_extra_iteration,
        "old_u": sn_old_u,
        "returned_v": sn_returned_v,
    }
    if shape[0] == int(np.prod(shape[1:])):
        variants["swapped"] = sn_swapped
    if n_iters > 1:
        variants["one_iteration"] = sn_ignores_n_iters
    if len(shape) > 2:
        variants["not_reshaped"] = sn_not_reshaped
    for name, fn in variants.items():
        for part, value in zip(("W_sn", "sigma", "u_new"), fn(W, u.copy(), n_iters)):
            if name in outputs[part]:
                np.testing.assert_allclose(outputs[part][name], value, rtol=1e-10, err_msg=f"{name} {part}")


def test_with_spectrum_makes_the_singular_values_asked_for():
    rng = np.random.default_rng(4)
    for shape, values in [((8, 6), [3, 2, 1.5, 1, 0.5, 0.1]), ((6, 6), [2, 2, 1, 0.5, 0.3, 0.1]), ((3, 5), [4, 1, 0.2])]:
        np.testing.assert_allclose(np.linalg.svd(ref.with_spectrum(rng, shape, values), compute_uv=False), values, rtol=1e-12)


def test_the_top_vector_check_accepts_any_unit_vector_of_a_repeated_top_subspace():
    rng = np.random.default_rng(6)
    W = ref.with_spectrum(rng, (5, 5), [2, 2, 1, 0.5, 0.1])
    left = np.linalg.svd(W)[0]
    mixed = 0.6 * left[:, 0] - 0.8 * left[:, 1]
    ref.check_top_vector("spectral_norm", mixed, W, 2.0)
    with pytest.raises(AssertionError, match="unit vector"):
        ref.check_top_vector("spectral_norm", 0.6 * left[:, 0] - 0.8 * left[:, 2], W, 2.0)
    with pytest.raises(AssertionError, match=r"shape \(5,\)"):
        ref.check_top_vector("spectral_norm", mixed[:, None], W, 2.0)


# ---- visible checks ------------------------------------------------------------------------------------------------

VISIBLE_CORRECT = [
    (visible.bce_with_logits_forward, bce_logaddexp),
    (visible.bce_with_logits_forward, bce_loop),
    (visible.bce_with_logits_forward, bce_where),
    (visible.bce_with_logits_backward, Together(bce_logaddexp_backward, bce_logaddexp)),
    (visible.bce_with_logits_backward, Together(bce_loop_backward, bce_loop)),
    (visible.discriminator_loss, discriminator_logaddexp),
    (visible.discriminator_loss, discriminator_loop),
    (visible.discriminator_loss, discriminator_weighted),
    (visible.generator_loss, generator_logaddexp),
    (visible.generator_loss, generator_loop),
    (visible.lsgan_discriminator_loss, lsgan_discriminator_sums),
    (visible.lsgan_discriminator_loss, lsgan_discriminator_loop),
    (visible.lsgan_generator_loss, lsgan_generator_sums),
    (visible.lsgan_generator_loss, lsgan_generator_float64),
    (visible.spectral_norm, sn_norm_of_Wv),
    (visible.spectral_norm, sn_tensordot),
    (visible.spectral_norm, sn_loops),
]

VISIBLE_WRONG = [
    (visible.bce_with_logits_forward, stub, "not implemented yet"),
    (visible.bce_with_logits_forward, bce_naive, "not a finite number.*log1p"),
    (visible.bce_with_logits_forward, bce_sum, "SUM over the entries"),
    (visible.bce_with_logits_forward, bce_over_rows, r"s.shape\[0\] only"),
    (visible.bce_with_logits_forward, bce_in_place, "changed its input `s`"),
    (visible.bce_with_logits_forward, bce_loss_only, r"must return a tuple \(loss, cache\)"),
    (visible.bce_with_logits_backward, Together(stub, bce_loop), "not implemented yet"),
    (visible.bce_with_logits_backward, Together(bce_loop_backward, stub), "not implemented yet"),
    (visible.bce_with_logits_backward, Together(bce_where_backward, bce_clipped), "fix the forward first"),
    (visible.bce_with_logits_backward, Together(bce_backward_no_mean, bce_loop), "s.size times too large"),
    (visible.bce_with_logits_backward, Together(bce_backward_no_dloss, bce_loop), "ignores dloss"),
    (visible.bce_with_logits_backward, Together(bce_backward_bare, bce_loop), "your ds is sigmoid"),
    (visible.bce_with_logits_backward, Together(bce_backward_sign, bce_loop), "wrong sign"),
    (visible.bce_with_logits_backward, Together(bce_backward_over_rows, bce_loop), r"s.shape\[0\] only"),
    (visible.bce_with_logits_backward, Together(bce_backward_in_place, bce_where), "changed its input `s`"),
    (visible.discriminator_loss, stub, "not implemented yet"),
    (visible.discriminator_loss, discriminator_naive, "not a finite number"),
    (visible.discriminator_loss, discriminator_swapped, "labels are swapped"),
    (visible.discriminator_loss, discriminator_concat, "one mean over the real and fake"),
    (visible.discriminator_loss, discriminator_no_fake, "no fake term"),
    (visible.discriminator_loss, discriminator_sum, "sums over the batches"),
    (visible.discriminator_loss, discriminator_sign, "wrong sign"),
    (visible.generator_loss, stub, "not implemented yet"),
    (visible.generator_loss, generator_naive, "not a finite number"),
    (visible.generator_loss, generator_saturating, "the generator trained on the saturating loss"),
    (visible.generator_loss, generator_fake_term, "the sign flipped"),
    (visible.generator_loss, generator_sum, "sums over the batch"),
    (visible.generator_loss, generator_sign, "wrong sign"),
    (visible.generator_loss, generator_in_place, "changed its input `s_fake`"),
    (visible.lsgan_discriminator_loss, stub, "not implemented yet"),
    (visible.lsgan_discriminator_loss, lsgan_discriminator_no_half, "twice the right ones"),
    (visible.lsgan_discriminator_loss, lsgan_discriminator_swapped, "targets are swapped"),
    (visible.lsgan_discriminator_loss, lsgan_discriminator_concat, "one mean over the real and fake"),
    (visible.lsgan_discriminator_loss, lsgan_discriminator_sign, "wrong sign"),
    (visible.lsgan_generator_loss, stub, "not implemented yet"),
    (visible.lsgan_generator_loss, lsgan_generator_no_half, "twice the right ones"),
    (visible.lsgan_generator_loss, lsgan_generator_target_zero, "pushes its scores to 0"),
    (visible.lsgan_generator_loss, lsgan_generator_sign, "wrong sign"),
    (visible.spectral_norm, stub, "not implemented yet"),
    (visible.spectral_norm, sn_u_not_normalised, "your u is not normalised"),
    (visible.spectral_norm, sn_v_not_normalised, "your v is not normalised"),
    (visible.spectral_norm, sn_sigma_squared, r"W / sigma\*\*2"),
    (visible.spectral_norm, sn_frobenius, "Frobenius norm"),
    (visible.spectral_norm, sn_svd, "exact largest singular value"),
    (visible.spectral_norm, sn_ignores_n_iters, "ONE iteration"),
    (visible.spectral_norm, sn_extra_iteration, r"n_iters \+ 1"),
    (visible.spectral_norm, sn_not_reshaped, "shape of the matrix view"),
    (visible.spectral_norm, sn_old_u, "the u you were given"),
    (visible.spectral_norm, sn_returned_v, "the last v"),
    (visible.spectral_norm, sn_in_place, "changed its input `u`"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)


@pytest.mark.parametrize(
    ("check", "fns"),
    [
        (visible.bce_with_logits_forward, (bce_where,)),
        (visible.bce_with_logits_backward, (bce_where_backward, bce_where)),
    ],
    ids=["forward", "backward"],
)
def test_visible_pass_notes_an_overflow_on_the_way(check, fns, capsys):
    """Right values computed through an overflow pass, with a note saying so; the stable form gets no note."""
    check(*fns)
    out = capsys.readouterr().out
    assert out.startswith("\u2713") and re.search(r"note: NumPy warned '.*overflow", out)
    visible.bce_with_logits_forward(bce_logaddexp)
    assert "note" not in capsys.readouterr().out
