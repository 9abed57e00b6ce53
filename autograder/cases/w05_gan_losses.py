"""Week 5, the GAN losses and spectral normalisation: known mistakes, hidden cases, fixtures.

The references are the week's shared trusted ones (``autograder/cases/gan_reference.py``, imported here, checked
against JAX in ``tests/test_gan_reference.py``), all float64. With s a discriminator's logit, D = sigmoid(s) and
softplus(a) = log(1 + e^a) (so -log D = softplus(-s) and -log(1 - D) = softplus(s)):

    bce_with_logits_forward(s, y):  loss = mean over all n entries of max(s, 0) - s y + log(1 + e^-|s|)
    bce_with_logits_backward(dloss, cache):  ds = dloss (sigmoid(s) - y) / n
    discriminator_loss:        mean softplus(-s_real) + mean softplus(s_fake), each mean over its own batch;
                               ds_real = (sigmoid(s_real) - 1) / n_real, ds_fake = sigmoid(s_fake) / n_fake
    generator_loss:            mean softplus(-s_fake) (non-saturating); ds_fake = (sigmoid(s_fake) - 1) / n
    lsgan_discriminator_loss:  1/2 mean (s_real - 1)^2 + 1/2 mean s_fake^2; ds = (s_real - 1) / n_r, s_fake / n_f
    lsgan_generator_loss:      1/2 mean (s_fake - 1)^2; ds_fake = (s_fake - 1) / n
    spectral_norm(W, u, n_iters):  M = W.reshape(W.shape[0], -1); n_iters times v = M^T u / |M^T u|,
                               u = M v / |M v|; sigma = u^T M v (= |M v|); W_sn = W / sigma.

Every gradient is compared with the reference (the named mistakes) and, on the small float64 problems of each
case, with centred differences of the reference loss (``autograder.gradcheck``). float32 inputs get float32
tolerances. Spectral norm: one iteration is compared exactly; after many iterations sigma must be the largest
singular value of ``np.linalg.svd`` to 1e-8; with a repeated largest singular value the top singular vector is
not unique, so there sigma, W_sn and "u_new is a unit vector with |M^T u_new| = sigma" are judged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from autograder.cases.gan_reference import (
    bce_with_logits_backward,
    bce_with_logits_forward,
    discriminator_loss,
    generator_loss,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    sigmoid,
    softplus,
    spectral_norm,
)
from autograder.fixtures import stored
from autograder.gradcheck import numerical_gradient
from autograder.protocol import Answers, Context, case, mistakes_on
from dlfs.checks import CheckFailed, check_array
from dlfs.checks.w05_gan_losses import (
    BCE_BACKWARD_HINT,
    BCE_HINT,
    DISCRIMINATOR_HINT,
    GENERATOR_HINT,
    LSGAN_D_HINT,
    LSGAN_G_HINT,
    SPECTRAL_NORM_HINT,
    one_number,
)
from dlfs.grading import Call, Raised

BCE_FORWARD_MISTAKES = {
    "sum": "your loss is the SUM over the entries: the loss is their mean (divide by s.size).",
    "over_rows": "your loss divides by s.shape[0] only: average over ALL entries, i.e. divide by s.size.",
}
BCE_BACKWARD_MISTAKES = {
    "no_mean": "your ds is s.size times too large: the loss is a mean, so divide dloss * (sigmoid(s) - y) by s.size.",
    "no_dloss": "your ds ignores dloss: the chain rule multiplies by the upstream gradient, ds = dloss * (sigmoid(s) "
    "- y) / s.size.",
    "bare": "your ds is sigmoid(s) - y: multiply by dloss (the chain rule) and divide by s.size (the mean).",
    "sign": "your ds has the wrong sign: d/ds of softplus(s) - s y is sigmoid(s) - y, so ds = dloss * (sigmoid(s) - y) / s.size.",
    "over_rows": "your ds divides by s.shape[0] only: the mean runs over ALL entries, so divide by s.size.",
}
DISCRIMINATOR_MISTAKES = {
    "swapped": "your labels are swapped (real scored against 0, fake against 1): the discriminator's loss is mean "
    "softplus(-s_real) + mean softplus(s_fake).",
    "concat_mean": "you took one mean over the real and fake scores together: each batch is averaged on its own, "
    "mean softplus(-s_real) + mean softplus(s_fake) (one mean over both halves the loss and the gradients when the "
    "batches have the same size).",
    "no_fake": "your loss has no fake term: add mean softplus(s_fake), the BCE of the fakes against the label 0.",
    "sum": "your loss sums over the batches: average each batch (divide by s_real.size and s_fake.size).",
    "sign": "your gradients have the wrong sign: ds_real = (sigmoid(s_real) - 1) / n_real, ds_fake = sigmoid(s_fake) / n_fake.",
}
GENERATOR_MISTAKES = {
    "saturating": "the generator trained on the saturating loss mean log(1 - D(G(z))) = -mean softplus(s_fake): its "
    "gradient -sigmoid(s) / n vanishes when the discriminator rejects the fakes (s << 0). Minimise the "
    "non-saturating -mean log D(G(z)) = mean softplus(-s_fake) instead.",
    "fake_term": "your loss is the discriminator's fake term mean softplus(s_fake) (the sign flipped): the generator "
    "wants its fakes labelled real, mean softplus(-s_fake).",
    "sum": "your loss sums over the batch: take the mean (divide by s_fake.size).",
    "sign": "your ds_fake has the wrong sign: d/ds softplus(-s) = sigmoid(s) - 1, so ds_fake = (sigmoid(s_fake) - 1) / n.",
}
LSGAN_D_MISTAKES = {
    "no_half": "your loss and gradients are twice the right ones: the least-squares losses carry a factor 1/2, "
    "0.5 * mean (s_real - 1)**2 + 0.5 * mean s_fake**2.",
    "swapped": "your targets are swapped (real towards 0, fake towards 1): the discriminator pushes real scores to 1 "
    "and fake scores to 0.",
    "concat_mean": "you took one mean over the real and fake scores together: each batch is averaged on its own.",
    "sign": "your gradients have the wrong sign: ds_real = (s_real - 1) / n_real, ds_fake = s_fake / n_fake.",
}
LSGAN_G_MISTAKES = {
    "no_half": "your loss and gradient are twice the right ones: the loss is 0.5 * mean (s_fake - 1)**2.",
    "target_zero": "your generator pushes its scores to 0, the discriminator's target for fakes: the generator's "
    "target is 1, 0.5 * mean (s_fake - 1)**2.",
    "sign": "your ds_fake has the wrong sign: ds_fake = (s_fake - 1) / n.",
}
SPECTRAL_NORM_MISTAKES = {
    "u_not_normalised": "your u is not normalised: after u = M @ v divide by its norm, otherwise sigma = u @ M @ v "
    "comes out as sigma**2 and the u you return is sigma times too long.",
    "v_not_normalised": "your v is not normalised: divide v = M.T @ u by its norm before u = M @ v; otherwise "
    "sigma = u @ M @ v is scaled by |M.T @ u|.",
    "swapped": "your products are in the wrong order (v = M @ u, u = M.T @ v): v lives in the input space, "
    "v = M.T @ u, and u in the output space, u = M @ v.",
    "sigma_squared": "your W_sn is W / sigma**2: spectral normalisation divides W by sigma once.",
    "frobenius": "your sigma is the Frobenius norm of W (the root of the sum of squares): spectral normalisation "
    "divides by the LARGEST SINGULAR VALUE, estimated by power iteration.",
    "svd": "your sigma is the exact largest singular value (np.linalg.svd): spectral_norm estimates it with n_iters "
    "steps of power iteration from the given u (cheap, one step per training step), so return that estimate.",
    "one_iteration": "your result is that of ONE iteration whatever n_iters is: repeat the two steps n_iters times.",
    "extra_iteration": "your result is that of n_iters + 1 iterations: repeat the two steps exactly n_iters times.",
    "not_reshaped": "your W_sn has the shape of the matrix view (W.shape[0], rest): return W / sigma with W's shape.",
    "old_u": "your u_new is the u you were given: return the u of the last iteration (it is the next call's start).",
    "returned_v": "your u_new is the last v: return u, the left vector (shape (W.shape[0],)).",
}


# ---- what the known mistakes output ------------------------------------------------------------------------------


def _f64(*arrays):
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


def bce_forward_mistakes(s, y) -> dict[str, dict[str, np.ndarray]]:
    """The loss of each known forward mistake."""
    (s,) = _f64(s)
    loss, _ = bce_with_logits_forward(s, y)
    rows = s.shape[0] if s.ndim else 1
    return {"loss": {"sum": np.float64(loss * s.size), "over_rows": np.float64(loss * s.size / rows)}}


def bce_backward_mistakes(s, y, dloss: float) -> dict[str, dict[str, np.ndarray]]:
    """The ds of each known backward mistake (dloss is never 0 in the cases)."""
    (s,) = _f64(s)
    ds = bce_with_logits_backward(dloss, bce_with_logits_forward(s, y)[1])
    n, rows = s.size, s.shape[0] if s.ndim else 1
    return {"ds": {"no_mean": ds * n, "no_dloss": ds / dloss, "bare": ds * n / dloss, "sign": -ds, "over_rows": ds * n / rows}}


def discriminator_mistakes(s_real, s_fake) -> dict[str, dict[str, np.ndarray]]:
    s_real, s_fake = _f64(s_real, s_fake)
    nr, nf = s_real.size, s_fake.size
    loss, dr, df = discriminator_loss(s_real, s_fake)
    real, fake = softplus(-s_real).sum(), softplus(s_fake).sum()
    both = nr + nf
    return {
        "loss": {
            "swapped": np.float64(softplus(s_real).mean() + softplus(-s_fake).mean()),
            "concat_mean": np.float64((real + fake) / both),
            "no_fake": np.float64(real / nr),
            "sum": np.float64(real + fake),
        },
        "ds_real": {"swapped": sigmoid(s_real) / nr, "concat_mean": dr * nr / both, "sum": dr * nr, "sign": -dr},
        "ds_fake": {
            "swapped": (sigmoid(s_fake) - 1) / nf,
            "concat_mean": df * nf / both,
            "no_fake": 0 * df,
            "sum": df * nf,
            "sign": -df,
        },
    }


def generator_mistakes(s_fake) -> dict[str, dict[str, np.ndarray]]:
    (s,) = _f64(s_fake)
    loss, ds = generator_loss(s)
    n = s.size
    return {
        "loss": {
            "saturating": np.float64(-softplus(s).mean()),
            "fake_term": np.float64(softplus(s).mean()),
            "sum": np.float64(loss * n),
        },
        "ds_fake": {"saturating": -sigmoid(s) / n, "fake_term": sigmoid(s) / n, "sum": ds * n, "sign": -ds},
    }


def lsgan_discriminator_mistakes(s_real, s_fake) -> dict[str, dict[str, np.ndarray]]:
    s_real, s_fake = _f64(s_real, s_fake)
    nr, nf = s_real.size, s_fake.size
    loss, dr, df = lsgan_discriminator_loss(s_real, s_fake)
    both = nr + nf
    squares = np.sum((s_real - 1) ** 2) + np.sum(s_fake**2)
    return {
        "loss": {
            "no_half": np.float64(2 * loss),
            "swapped": np.float64(0.5 * np.mean(s_real**2) + 0.5 * np.mean((s_fake - 1) ** 2)),
            "concat_mean": np.float64(0.5 * squares / both),
        },
        "ds_real": {"no_half": 2 * dr, "swapped": s_real / nr, "concat_mean": dr * nr / both, "sign": -dr},
        "ds_fake": {"no_half": 2 * df, "swapped": (s_fake - 1) / nf, "concat_mean": df * nf / both, "sign": -df},
    }


def lsgan_generator_mistakes(s_fake) -> dict[str, dict[str, np.ndarray]]:
    (s,) = _f64(s_fake)
    loss, ds = lsgan_generator_loss(s)
    return {
        "loss": {"no_half": np.float64(2 * loss), "target_zero": np.float64(0.5 * np.mean(s**2))},
        "ds_fake": {"no_half": 2 * ds, "target_zero": s / s.size, "sign": -ds},
    }


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a)


def spectral_norm_mistakes(W, u, n_iters: int = 1) -> dict[str, dict[str, np.ndarray]]:
    """Per output ("sigma", "W_sn", "u_new"), what the known mistakes give. The reference's last u is
    u_k = M v_k / |M v_k| and sigma = |M v_k|, so a u left unnormalised is sigma u_k (and its sigma sigma^2), and
    an unnormalised v_k = M^T u_{k-1} multiplies sigma by |M^T u_{k-1}|."""
    W, u = _f64(W, u)
    M = W.reshape(W.shape[0], -1)
    W_sn, sigma, u_new = spectral_norm(W, u, n_iters)
    u_prev = spectral_norm(W, u, n_iters - 1)[2] if n_iters > 1 else u
    v_last = _unit(M.T @ u_prev)
    found: dict[str, dict[str, np.ndarray]] = {"sigma": {}, "W_sn": {}, "u_new": {}}

    def put(name: str, s: float | None = None, w: np.ndarray | None = None, un: np.ndarray | None = None) -> None:
        for part, value in (("sigma", None if s is None else np.float64(s)), ("W_sn", w), ("u_new", un)):
            if value is not None:
                found[part][name] = value

    put("u_not_normalised", sigma**2, un=sigma * u_new)  # its W / sigma**2 is named by its sigma first
    stretched = sigma * np.linalg.norm(M.T @ u_prev)
    put("v_not_normalised", stretched, W / stretched)
    if M.shape[0] == M.shape[1]:
        left = u
        for _ in range(n_iters):
            right = _unit(M @ left)
            left = _unit(M.T @ right)
        crossed = left @ M @ right
        put("swapped", crossed, W / crossed, left)
    put("sigma_squared", w=W / sigma**2)
    frobenius = np.linalg.norm(M)
    put("frobenius", frobenius, W / frobenius)
    top = np.linalg.svd(M, compute_uv=False)[0]
    put("svd", top, W / top)
    if n_iters > 1:
        once = spectral_norm(W, u, 1)
        put("one_iteration", once[1], once[0], once[2])
    more = spectral_norm(W, u, n_iters + 1)
    put("extra_iteration", more[1], more[0], more[2])
    if W.ndim > 2:
        put("not_reshaped", w=M / sigma)
    put("old_u", un=u)
    put("returned_v", un=v_last)
    return found


# ---- the loss cases ------------------------------------------------------------------------------------------------


def _tolerances(arrays, kind: str) -> tuple[float, float]:
    """(rtol, atol) of a loss ("loss") or a gradient ("grad"); float32 inputs get float32 tolerances."""
    single = any(np.asarray(a).dtype == np.float32 for a in arrays)
    if kind == "loss":
        return (1e-5, 1e-6) if single else (1e-7, 1e-12)
    return (1e-4, 1e-7) if single else (1e-6, 1e-12)


def _label(names: tuple[str, ...], args: tuple, extra: str = "") -> str:
    """The shapes of the arguments, float32 when they are, and how large the logits get when that matters."""
    shapes = ", ".join(f"{n} of shape {np.shape(a)}" for n, a in zip(names, args))
    kind = " (float32)" if any(np.asarray(a).dtype == np.float32 for a in args) else ""
    largest = max((float(np.abs(np.asarray(a, dtype=np.float64)).max()) for a in args if np.size(a)), default=0.0)
    scale = f" with |logits| up to {largest:.0f}" if largest >= 100 else ""
    return shapes + kind + scale + (f", {extra}" if extra else "")


def check_numeric(
    name: str, reference: Callable, args: tuple, position: int, got: np.ndarray, hint: str, scale: float = 1.0
) -> None:
    """``got`` against centred differences of ``scale * reference(*args)[0]`` in args[position]."""
    point = [np.array(a, dtype=np.float64) for a in args]

    def loss(x: np.ndarray) -> float:
        return scale * reference(*point[:position], x, *point[position + 1 :])[0]

    numeric = numerical_gradient(loss, point[position].copy())
    atol = 1e-8 * max(1.0, float(np.abs(numeric).max()))
    check_array(f"{name} against centred differences of the loss", got, numeric, rtol=1e-5, atol=atol, hint=hint)


def loss_case(
    problems: list[tuple],
    reference: Callable,
    mistakes: Callable,
    messages: dict[str, str],
    arguments: tuple[str, ...],
    parts: tuple[str, ...],
    hint: str,
    summary: str,
    numeric: int = 2,
    returns: tuple[str, ...] | None = None,
):
    """Each problem (a tuple of arrays) against the reference: the loss (one finite number), then each gradient
    in ``parts`` (named mistakes); the first ``numeric`` problems' gradients also against centred differences.
    ``returns`` names what the function returns (default: the loss, then ``parts``)."""
    returns = returns or ("loss", *parts)

    def judge(answers: Answers, context: Context) -> str:
        for i, args in enumerate(problems):
            label = _label(arguments, args)
            name = f"{context.name} on {label}"
            loss, *grads = answers.parts(answers.result(i, label, arguments), *returns)
            want, wrong = reference(*args), mistakes(*args)
            rtol, atol = _tolerances(args, "loss")
            check_array(
                f"{name}: loss",
                one_number(name, answers.value(loss, label), hint),
                np.float64(want[0]),
                rtol=rtol,
                atol=atol,
                mistakes=mistakes_on(wrong["loss"], messages),
                hint=hint,
            )
            rtol, atol = _tolerances(args, "grad")
            for position, (part, got) in enumerate(zip(parts, grads)):
                got = answers.value(got, label)
                check_array(
                    f"{name}: {part}",
                    got,
                    want[1 + position],
                    rtol=rtol,
                    atol=atol,
                    mistakes=mistakes_on(wrong[part], messages),
                    hint=hint,
                )
                if i < numeric:
                    check_numeric(f"{name}: {part}", reference, args, position, got, hint)
        return summary

    return {"calls": [Call(args) for args in problems]}, judge


def _scores(rng: np.random.Generator, shape: tuple, scale: float = 2.0, dtype=np.float64) -> np.ndarray:
    return (scale * rng.normal(size=shape)).astype(dtype)


#: Logits where a naive formula breaks: exp(1000) overflows, log(sigmoid(-1000)) = log(0); 745 is where e^-s
#: underflows to 0 in float64; 40 where 1 - sigmoid(s) rounds to 0.
EXTREMES = np.array([-1000.0, 1000.0, -745.0, 745.0, -40.0, 40.0, -10.0, 0.0])


def _bce_problems(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    def hard(shape):
        return rng.integers(0, 2, size=shape).astype(np.float64)

    stable = np.concatenate([EXTREMES, [1000.0, -1000.0]])
    problems = [
        (_scores(rng, (4, 1)), hard((4, 1))),
        (_scores(rng, (3, 4)), rng.uniform(size=(3, 4))),
        (_scores(rng, (1, 1)), hard((1, 1))),
        (_scores(rng, (5,)), rng.uniform(size=5)),
        (stable, np.array([0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5, 0.0, 1.0])),
        (_scores(rng, (2, 5), scale=400.0), hard((2, 5))),
        (_scores(rng, (64, 1)), hard((64, 1))),
    ]
    s32 = _scores(rng, (6, 3), scale=60.0, dtype=np.float32)
    return problems + [(s32, rng.uniform(size=(6, 3)).astype(np.float32))]


@case("w05_bce_forward")
def bce_forward_case(rng: np.random.Generator):
    """The mean BCE of logits against hard and soft targets: (4, 1), (3, 4) soft, N = 1, (5,) soft, logits of
    +-1000, +-745, +-40 (a naive log(sigmoid) gives inf or nan there), (2, 5) spread by 400, (64, 1), float32
    spread by 60 (exp overflows float32 above 88)."""
    problems = _bce_problems(rng)
    return loss_case(
        problems,
        bce_with_logits_forward,
        bce_forward_mistakes,
        BCE_FORWARD_MISTAKES,
        ("s", "y"),
        (),
        BCE_HINT,
        f"the loss agrees with the reference on {len(problems)} problems, logits of +-1000 and float32 included",
        numeric=0,
        returns=("loss", "cache"),
    )


@case("w05_bce_backward")
def bce_backward_case(rng: np.random.Generator):
    """ds on the cache of the student's own forward, with dloss = 2.5, -0.5, 1, 1.3, ...: the problems of the
    forward case, the first three also against centred differences. Called as
    check("w05_bce_backward", bce_with_logits_backward, bce_with_logits_forward)."""
    dlosses = [2.5, -0.5, 1.0, 1.3, 0.75, -2.0, 1.0, 2.0]
    problems = [(s, y, d) for (s, y), d in zip(_bce_problems(rng), dlosses)]

    def judge(answers: Answers, context: Context) -> str:
        backward, forward = context.name, "bce_with_logits_forward"
        got_all = answers["problems"]
        if not isinstance(got_all, list) or len(got_all) != len(problems):
            raise CheckFailed(f"{backward}: the answers do not hold one entry per problem (was the test cell changed?).")
        for i, ((s, y, dloss), got) in enumerate(zip(problems, got_all)):
            label = _label(("s",), (s,), f"dloss = {dloss}")
            if not isinstance(got, dict) or not {"loss", "pair", "changed"} <= set(got):
                raise CheckFailed(f"{backward}: the answers are not what the probe records (was the test cell changed?).")
            loss = got["loss"]
            if isinstance(loss, Raised):
                what = (
                    "is not implemented yet: write the forward first"
                    if loss.type == "NotImplementedError"
                    else f"raised {loss.type}: {loss.message} (on {label}); fix the forward first"
                )
                raise CheckFailed(f"{backward} is checked on the cache of your {forward}, which {what}.")
            if not got["pair"]:
                raise CheckFailed(f"{forward} on {label} must return the pair (loss, cache): the backward needs the cache.")
            want_loss, cache = bce_with_logits_forward(s, y)
            rtol, atol = _tolerances((s,), "loss")
            check_array(
                f"{forward} on {label} (its cache is what {backward} gets)",
                one_number(f"{forward} on {label}", Answers(None, forward).value(loss, label), BCE_HINT),
                np.float64(want_loss),
                rtol=rtol,
                atol=atol,
                hint="fix the forward first: " + BCE_HINT,
            )
            for argument in got["changed"]:
                raise CheckFailed(
                    f"{backward} or {forward} changed its input `{argument}` in place (on {label}); work on new arrays."
                )
            ds = Answers(None, backward).value(got.get("ds"), label)
            rtol, atol = _tolerances((s,), "grad")
            check_array(
                f"{backward} on {label}: ds",
                ds,
                bce_with_logits_backward(dloss, cache),
                rtol=rtol,
                atol=atol * max(1.0, abs(dloss)),
                hint=BCE_BACKWARD_HINT,
                mistakes=mistakes_on(bce_backward_mistakes(s, y, dloss)["ds"], BCE_BACKWARD_MISTAKES),
            )
            if i < 3:
                check_numeric(
                    f"{backward} on {label}: ds", bce_with_logits_forward, (s, y), 0, ds, BCE_BACKWARD_HINT, scale=dloss
                )
        return (
            f"ds agrees with the reference on {len(problems)} problems (dloss of 2.5, -0.5, 1, ..., logits of "
            "+-1000, float32) and with centred differences on 3"
        )

    return {"problems": problems}, judge


def _pairs(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(s_real, s_fake): equal and different batch sizes, N = 1, 1-D scores, a batch of 64 and 32."""
    return [
        (_scores(rng, (8, 1)), _scores(rng, (8, 1))),
        (_scores(rng, (5, 1)), _scores(rng, (3, 1))),
        (_scores(rng, (1, 1)), _scores(rng, (1, 1))),
        (_scores(rng, (6,)), _scores(rng, (4,))),
        (_scores(rng, (64, 1), 3.0), _scores(rng, (32, 1), 3.0)),
    ]


def _singles(rng: np.random.Generator) -> list[tuple[np.ndarray]]:
    return [
        (_scores(rng, shape, scale),)
        for shape, scale in [((8, 1), 2.0), ((1, 1), 2.0), ((5,), 2.0), ((32, 1), 3.0), ((3, 1), 0.5)]
    ]


@case("w05_discriminator_loss")
def discriminator_loss_case(rng: np.random.Generator):
    """Loss, ds_real and ds_fake for batches of 8 and 8 (one mean over both would halve everything), 5 and 3,
    1 and 1, 1-D scores (6,) and (4,), 64 and 32; the first two against centred differences too."""
    problems = _pairs(rng)
    return loss_case(
        problems,
        discriminator_loss,
        discriminator_mistakes,
        DISCRIMINATOR_MISTAKES,
        ("s_real", "s_fake"),
        ("ds_real", "ds_fake"),
        DISCRIMINATOR_HINT,
        f"loss and gradients agree with the reference on {len(problems)} pairs of batches",
    )


@case("w05_discriminator_loss_stable")
def discriminator_loss_stable_case(rng: np.random.Generator):
    """Scores of +-1000, +-745, +-40 in both batches (softplus must not overflow), scores spread by 400, and
    float32 scores spread by 60."""
    problems = [
        (EXTREMES[:, None], -EXTREMES[:6, None] + 0.5),
        (_scores(rng, (4, 1), 400.0), _scores(rng, (5, 1), 400.0)),
        (_scores(rng, (16, 1), 60.0, np.float32), _scores(rng, (12, 1), 60.0, np.float32)),
    ]
    return loss_case(
        problems,
        discriminator_loss,
        discriminator_mistakes,
        DISCRIMINATOR_MISTAKES,
        ("s_real", "s_fake"),
        ("ds_real", "ds_fake"),
        DISCRIMINATOR_HINT,
        "loss and gradients are right for scores of +-1000 and in float32",
        numeric=0,
    )


@case("w05_generator_loss")
def generator_loss_case(rng: np.random.Generator):
    """The non-saturating loss and ds_fake for (8, 1), N = 1, (5,), (32, 1) and (3, 1); the first two against
    centred differences too."""
    problems = _singles(rng)
    return loss_case(
        problems,
        generator_loss,
        generator_mistakes,
        GENERATOR_MISTAKES,
        ("s_fake",),
        ("ds_fake",),
        GENERATOR_HINT,
        f"loss and ds_fake agree with the reference on {len(problems)} batches",
    )


@case("w05_generator_loss_stable")
def generator_loss_stable_case(rng: np.random.Generator):
    """Scores of +-1000, +-745, +-40 and -10 (where the saturating loss has no gradient left), scores spread by
    400, and float32 scores spread by 60."""
    problems = [(EXTREMES[:, None],), (_scores(rng, (6, 1), 400.0),), (_scores(rng, (16, 1), 60.0, np.float32),)]
    return loss_case(
        problems,
        generator_loss,
        generator_mistakes,
        GENERATOR_MISTAKES,
        ("s_fake",),
        ("ds_fake",),
        GENERATOR_HINT,
        "loss and ds_fake are right for scores of +-1000 and in float32",
        numeric=0,
    )


@case("w05_lsgan_discriminator_loss")
def lsgan_discriminator_loss_case(rng: np.random.Generator):
    """Loss, ds_real and ds_fake on the batches of the discriminator case plus float32; the first two against
    centred differences too."""
    problems = _pairs(rng) + [(_scores(rng, (16, 1), 3.0, np.float32), _scores(rng, (12, 1), 3.0, np.float32))]
    return loss_case(
        problems,
        lsgan_discriminator_loss,
        lsgan_discriminator_mistakes,
        LSGAN_D_MISTAKES,
        ("s_real", "s_fake"),
        ("ds_real", "ds_fake"),
        LSGAN_D_HINT,
        f"loss and gradients agree with the reference on {len(problems)} pairs of batches, float32 included",
    )


@case("w05_lsgan_generator_loss")
def lsgan_generator_loss_case(rng: np.random.Generator):
    """Loss and ds_fake on the batches of the generator case plus float32; the first two against centred
    differences too."""
    problems = _singles(rng) + [(_scores(rng, (16, 1), 3.0, np.float32),)]
    return loss_case(
        problems,
        lsgan_generator_loss,
        lsgan_generator_mistakes,
        LSGAN_G_MISTAKES,
        ("s_fake",),
        ("ds_fake",),
        LSGAN_G_HINT,
        f"loss and ds_fake agree with the reference on {len(problems)} batches, float32 included",
    )


# ---- the spectral-norm cases ---------------------------------------------------------------------------------------


def _orthonormal(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def with_spectrum(rng: np.random.Generator, shape: tuple[int, int], values) -> np.ndarray:
    """A matrix of the given shape whose singular values are ``values`` (as many as min(shape))."""
    m, n = shape
    core = np.zeros(shape)
    core[np.arange(len(values)), np.arange(len(values))] = values
    return _orthonormal(rng, m) @ core @ _orthonormal(rng, n).T


def sn_problem(W: np.ndarray, u: np.ndarray, n_iters: int | None, label: str, mode: str = "exact") -> dict:
    """One call; ``n_iters`` None calls without it (the default, 1). mode: "exact" (the reference after n_iters),
    "svd" (sigma must be the largest singular value), "repeated" (sigma, W_sn, and u_new a top singular vector)."""
    return {"W": W, "u": u, "n_iters": n_iters, "label": label, "mode": mode}


def _sn_tolerances(W: np.ndarray) -> dict[str, tuple[float, float]]:
    if W.dtype == np.float32:
        return {"sigma": (1e-5, 0.0), "W_sn": (1e-5, 1e-6), "u_new": (1e-4, 1e-5)}
    return {"sigma": (1e-8, 0.0), "W_sn": (1e-8, 1e-12), "u_new": (1e-7, 1e-10)}


def sn_case(problems: list[dict], summary: str):
    """Each problem's (W_sn, sigma, u_new): sigma first (named mistakes), then W_sn, then u_new."""

    def judge(answers: Answers, context: Context) -> str:
        for i, p in enumerate(problems):
            W, u, label, mode = p["W"], p["u"], p["label"], p["mode"]
            n_iters = p["n_iters"] or 1
            raw = answers["results"][i]
            if isinstance(raw, Raised) and raw.type != "NotImplementedError":
                raise CheckFailed(f"{context.name} on {label} raised {raw.type}: {raw.message}. Hint: {SPECTRAL_NORM_HINT}")
            result = answers.result(i, label, ("W", "u"))
            W_sn, sigma, u_new = answers.parts(result, "W_sn", "sigma", "u_new")
            name = f"{context.name} on {label}"
            want_W_sn, want_sigma, want_u = spectral_norm(W, u, n_iters)
            wrong = {k: mistakes_on(v, SPECTRAL_NORM_MISTAKES) for k, v in spectral_norm_mistakes(W, u, n_iters).items()}
            tol = _sn_tolerances(W)
            matrix = np.asarray(W, dtype=np.float64).reshape(W.shape[0], -1)
            top = np.linalg.svd(matrix, compute_uv=False)[0]
            hint = SPECTRAL_NORM_HINT
            if mode != "exact":
                want_sigma, want_W_sn = top, np.asarray(W, dtype=np.float64) / top
                hint = (
                    f"after {n_iters} iterations the estimate has converged: sigma must be the largest singular "
                    f"value, np.linalg.svd(W.reshape(W.shape[0], -1))[1][0] = {top:.12g}. " + SPECTRAL_NORM_HINT
                )
            sigma = one_number(name, answers.value(sigma, label), hint, "sigma")
            check_array(f"{name}: sigma", sigma, np.float64(want_sigma), rtol=tol["sigma"][0], hint=hint, mistakes=wrong["sigma"])
            check_array(
                f"{name}: W_sn",
                answers.value(W_sn, label),
                want_W_sn,
                rtol=tol["W_sn"][0],
                atol=tol["W_sn"][1],
                mistakes=wrong["W_sn"],
                hint=hint,
            )
            u_new = answers.value(u_new, label)
            if mode == "repeated":
                check_top_vector(name, u_new, matrix, top)
            else:
                check_array(
                    f"{name}: u_new",
                    u_new,
                    want_u,
                    rtol=tol["u_new"][0],
                    atol=tol["u_new"][1],
                    mistakes=wrong["u_new"],
                    hint=hint,
                )
        return summary

    calls = [Call((p["W"], p["u"]), {} if p["n_iters"] is None else {"n_iters": p["n_iters"]}) for p in problems]
    return {"calls": calls}, judge


def check_top_vector(name: str, u_new, matrix: np.ndarray, top: float) -> None:
    """With a repeated largest singular value any unit u in its left singular subspace is right:
    |u_new| = 1 and |M^T u_new| = sigma_max."""
    got = np.asarray(u_new) if isinstance(u_new, np.ndarray | list | tuple) else None
    if got is None or got.shape != (matrix.shape[0],) or not np.issubdtype(got.dtype, np.number):
        raise CheckFailed(
            f"{name}: u_new must be an array of shape {(matrix.shape[0],)} (the last u); got "
            f"{type(u_new).__name__}{'' if got is None else f' of shape {got.shape}'}."
        )
    got = got.astype(np.float64)
    length, reach = float(np.linalg.norm(got)), float(np.linalg.norm(matrix.T @ got))
    if not (abs(length - 1) <= 1e-7 and abs(reach - top) <= 1e-7 * top):
        raise CheckFailed(
            f"{name}: u_new must be a unit vector of the top singular subspace (|u| = 1 and "
            f"|M^T u| = sigma = {top:.6g}); yours has |u| = {length:.6g} and |M^T u| = {reach:.6g}. "
            f"Hint: {SPECTRAL_NORM_HINT}"
        )


def _u(rng: np.random.Generator, n: int, dtype=np.float64) -> np.ndarray:
    return rng.normal(size=n).astype(dtype)


@case("w05_spectral_norm_one_step")
def spectral_norm_one_step_case(rng: np.random.Generator):
    """One, two and three iterations from a given (not unit) u, compared exactly with the reference: W square
    (4, 4) first (where the products in the wrong order still run, so that they are named), (5, 3), (3, 5), one
    column (6, 1) with the default n_iters, one row (1, 4), (7, 4) with n_iters=2 and (4, 6) with n_iters=3."""
    problems = []
    for shape, n_iters in [((4, 4), 1), ((5, 3), 1), ((3, 5), 1), ((6, 1), None), ((1, 4), 1), ((7, 4), 2), ((4, 6), 3)]:
        W = rng.normal(size=shape)
        shown = "the default n_iters" if n_iters is None else f"n_iters={n_iters}"
        problems.append(sn_problem(W, 3.0 * _u(rng, shape[0]), n_iters, f"W of shape {shape}, {shown}"))
    return sn_case(
        problems,
        "W_sn, sigma and u_new agree with the reference after 1 to 3 iterations on 7 "
        "matrices (tall, wide, square, one row, one column)",
    )


@case("w05_spectral_norm_converged")
def spectral_norm_converged_case(rng: np.random.Generator):
    """Many iterations: sigma is the largest singular value of np.linalg.svd to 1e-8 and W_sn = W / sigma_max for
    (8, 6) with singular values 3, 2, 1.5, 1, 0.5, 0.1 (40 iterations) and a Gaussian (6, 10) (100 iterations);
    a rank-1 matrix after ONE iteration (exact); a (6, 6) matrix whose largest singular value 2 is repeated
    (60 iterations: sigma and W_sn, and u_new any unit vector with |M^T u_new| = 2)."""
    a, b = rng.normal(size=5), rng.normal(size=4)
    problems = [
        sn_problem(
            with_spectrum(rng, (8, 6), [3, 2, 1.5, 1, 0.5, 0.1]),
            _u(rng, 8),
            40,
            "W (8, 6) with singular values 3, 2, 1.5, ..., n_iters=40",
            "svd",
        ),
        sn_problem(0.5 * rng.normal(size=(6, 10)), _u(rng, 6), 100, "a Gaussian W (6, 10), n_iters=100", "svd"),
        sn_problem(np.outer(a, b), _u(rng, 5), 1, "a rank-1 W (5, 4), n_iters=1 (exact after one step)", "svd"),
        sn_problem(
            with_spectrum(rng, (6, 6), [2, 2, 1, 0.5, 0.3, 0.1]),
            _u(rng, 6),
            60,
            "W (6, 6) whose largest singular value 2 is repeated, n_iters=60",
            "repeated",
        ),
    ]
    for p in problems:  # the reference has converged on these inputs
        top = np.linalg.svd(p["W"], compute_uv=False)[0]
        assert abs(spectral_norm(p["W"], p["u"], p["n_iters"])[1] - top) <= 1e-12 * top, p["label"]
    return sn_case(
        problems,
        "sigma is the largest singular value (np.linalg.svd) after 40 to 100 iterations, "
        "after one for a rank-1 W, and with a repeated top singular value",
    )


@case("w05_spectral_norm_conv")
def spectral_norm_conv_case(rng: np.random.Generator):
    """Conv weights (F, C, K, K) viewed as (F, C K K), W_sn of W's shape: (8, 3, 3, 3) with one iteration,
    (16, 4, 3, 3) with 30, one filter (1, 2, 3, 3) (sigma is then the Frobenius norm), 1 x 1 kernels (6, 3, 1, 1)
    with 3, and float32 (4, 1, 5, 5) with 5."""
    problems = []
    for shape, n_iters, dtype in [
        ((8, 3, 3, 3), 1, np.float64),
        ((16, 4, 3, 3), 30, np.float64),
        ((1, 2, 3, 3), 1, np.float64),
        ((6, 3, 1, 1), 3, np.float64),
        ((4, 1, 5, 5), 5, np.float32),
    ]:
        fan_in = int(np.prod(shape[1:]))
        W = (rng.normal(size=shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
        kind = " (float32)" if dtype == np.float32 else ""
        problems.append(sn_problem(W, _u(rng, shape[0], dtype), n_iters, f"a conv weight {shape}{kind}, n_iters={n_iters}"))
    return sn_case(
        problems,
        "W_sn (of W's shape), sigma and u_new agree with the reference on 5 conv weights, "
        "one filter, 1 x 1 kernels and float32 included",
    )


# ---- fixtures of the visible checks --------------------------------------------------------------------------------


def _loss_fixture(
    args: dict[str, np.ndarray], reference: Callable, mistakes: Callable, messages: dict[str, str], parts: tuple[str, ...]
) -> dict[str, np.ndarray]:
    values = list(args.values())
    loss, *grads = reference(*values)
    wrong = mistakes(*values)
    out = args | {"expected_loss": np.float64(loss)} | stored(wrong["loss"], messages, "_loss")
    for part, grad in zip(parts, grads):
        out |= {f"expected_{part}": grad} | stored(wrong[part], messages, f"_{part}")
    return out


def fixtures() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(505)
    s = _scores(rng, (2, 4))
    s[0, 0], s[1, 2] = -1000.0, 1000.0
    y = np.array([[1.0, 0.0, 0.3, 1.0], [0.0, 1.0, 0.0, 0.8]])
    bce_forward = _loss_fixture({"s": s, "y": y}, bce_with_logits_forward, bce_forward_mistakes, BCE_FORWARD_MISTAKES, ())
    s, y, dloss = _scores(rng, (3, 2)), np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.4]]), 1.5
    s[2, 0] = -1000.0
    loss, cache = bce_with_logits_forward(s, y)
    bce_backward = {
        "s": s,
        "y": y,
        "dloss": np.float64(dloss),
        "expected_loss": np.float64(loss),
        "expected_ds": bce_with_logits_backward(dloss, cache),
    } | stored(bce_backward_mistakes(s, y, dloss)["ds"], BCE_BACKWARD_MISTAKES, "_ds")
    s_real, s_fake = _scores(rng, (6, 1)), _scores(rng, (4, 1))
    s_real[0, 0], s_real[1, 0], s_fake[2, 0] = -1000.0, 1000.0, 1000.0
    s_gen = _scores(rng, (6, 1))
    s_gen[0, 0], s_gen[3, 0], s_gen[4, 0] = -1000.0, 1000.0, -10.0
    W_mat, u_mat = rng.normal(size=(5, 3)), 2.0 * rng.normal(size=5)
    W_conv, u_conv = rng.normal(size=(4, 2, 3, 3)) / 3.0, rng.normal(size=4)
    spectral = {}
    for key, W, u, n_iters in (("mat", W_mat, u_mat, 1), ("conv", W_conv, u_conv, 20)):
        W_sn, sigma, u_new = spectral_norm(W, u, n_iters)
        wrong = spectral_norm_mistakes(W, u, n_iters)
        spectral |= {
            f"W_{key}": W,
            f"u_{key}": u,
            f"n_iters_{key}": np.array(n_iters),
            f"expected_W_sn_{key}": W_sn,
            f"expected_sigma_{key}": np.float64(sigma),
            f"expected_u_new_{key}": u_new,
        }
        for part, outputs in wrong.items():
            spectral |= stored(outputs, SPECTRAL_NORM_MISTAKES, f"_{part}_{key}")
    return {
        "w05_gan_losses_bce_forward": bce_forward,
        "w05_gan_losses_bce_backward": bce_backward,
        "w05_gan_losses_discriminator": _loss_fixture(
            {"s_real": s_real, "s_fake": s_fake},
            discriminator_loss,
            discriminator_mistakes,
            DISCRIMINATOR_MISTAKES,
            ("ds_real", "ds_fake"),
        ),
        "w05_gan_losses_generator": _loss_fixture(
            {"s_fake": s_gen}, generator_loss, generator_mistakes, GENERATOR_MISTAKES, ("ds_fake",)
        ),
        "w05_gan_losses_lsgan_discriminator": _loss_fixture(
            {"s_real": _scores(rng, (5, 1)), "s_fake": _scores(rng, (3, 1))},
            lsgan_discriminator_loss,
            lsgan_discriminator_mistakes,
            LSGAN_D_MISTAKES,
            ("ds_real", "ds_fake"),
        ),
        "w05_gan_losses_lsgan_generator": _loss_fixture(
            {"s_fake": _scores(rng, (4, 1))}, lsgan_generator_loss, lsgan_generator_mistakes, LSGAN_G_MISTAKES, ("ds_fake",)
        ),
        "w05_gan_losses_spectral_norm": spectral,
    }
