"""Week 5, GAN training (gan_train_step, train_gan_ring): correct variants pass every hidden case, the known mistakes
fail with their diagnosis, the visible checks say the same, the step's reference agrees with dlfs.nn's MLP and Adam
and with JAX, and the ring's coverage with a loop over the samples."""

from __future__ import annotations

import numpy as np
import pytest
from hidden_suite import Together, hidden_tests, visible_tests

from autograder.cases import gan_reference as gan
from autograder.cases import w05_gan_train as ref
from autograder.protocol import get_case
from dlfs.checks import week05 as visible
from dlfs.nn import MLP, Adam

JAX_MISSING = "jax is a test-only dependency (requirements-dev.txt); pip install -r requirements-dev.txt"

pytestmark = [pytest.mark.week05, pytest.mark.w05_gan_train, pytest.mark.autograder]

BETAS = (0.5, 0.999)


# ---- correct steps -------------------------------------------------------------------------------------------------


def step_concat(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    """The brief's order, one forward of D over the stacked batches."""
    n = len(x_real)
    s = D.forward(np.vstack([x_real, G.forward(z)]))
    d_loss, ds_real, ds_fake = d_loss_fn(s[:n], s[n:])
    D.backward(np.vstack([ds_real, ds_fake]))
    opt_D.step(D.grads)
    g_loss, ds = g_loss_fn(D.forward(G.forward(z)))
    G.backward(D.backward(ds))
    opt_G.step(G.grads)
    return d_loss, g_loss


def step_two_passes(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    """Two forward-backward pairs through D, their gradients added by hand; the fakes' forward reused for G."""
    fake = G.forward(z)
    s_real = D.forward(x_real)
    s_fake_for_loss = D.forward(fake)
    d_loss, ds_real, ds_fake = d_loss_fn(s_real, s_fake_for_loss)
    D.backward(ds_fake)
    fake_grads = {k: v.copy() for k, v in D.grads.items()}
    D.forward(x_real)
    D.backward(ds_real)
    opt_D.step({k: D.grads[k] + fake_grads[k] for k in D.grads})
    g_loss, ds = g_loss_fn(s_fake=D.forward(fake))  # G's cache is still that of its only forward, on these z
    dx = D.backward(ds)
    G.backward(dx)
    opt_G.step(G.grads)
    return float(d_loss), float(g_loss)


# ---- wrong steps: one plausible mistake each ------------------------------------------------------------------------


def stub(*args, **kwargs):
    raise NotImplementedError()


def _d_half(G, D, opt_D, x_real, z, d_loss_fn, which="both", scores_swapped=False):
    n = len(x_real)
    s = D.forward(np.vstack([x_real, G.forward(z)]))
    if scores_swapped:
        d_loss, ds_fake, ds_real = d_loss_fn(s[n:], s[:n])
    else:
        d_loss, ds_real, ds_fake = d_loss_fn(s[:n], s[n:])
    if which == "fake":
        D.forward(G.forward(z))
        D.backward(ds_fake)
    elif which == "real":
        D.forward(x_real)
        D.backward(ds_real)
    else:
        D.backward(np.vstack([ds_real, ds_fake]))
    opt_D.step(D.grads)
    return d_loss


def _g_half(G, D, opt_G, z, g_loss_fn, sign=1.0, backward=True, update=True):
    g_loss, ds = g_loss_fn(D.forward(G.forward(z)))
    dx = D.backward(ds)
    if backward:
        G.backward(sign * dx)
    if update:
        opt_G.step(G.grads)
    return g_loss


def step_d_twice(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    d_loss = _d_half(G, D, opt_D, x_real, z, d_loss_fn)
    g_loss = _g_half(G, D, opt_G, z, g_loss_fn)
    opt_D.step(D.grads)
    return d_loss, g_loss


def step_old_discriminator(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    """Both gradients against the old D (D's copied first), then both updates."""
    n = len(x_real)
    s = D.forward(np.vstack([x_real, G.forward(z)]))
    d_loss, ds_real, ds_fake = d_loss_fn(s[:n], s[n:])
    D.backward(np.vstack([ds_real, ds_fake]))
    d_grads = {k: v.copy() for k, v in D.grads.items()}
    g_loss = _g_half(G, D, opt_G, z, g_loss_fn)
    opt_D.step(d_grads)
    return d_loss, g_loss


def step_d_from_g_pass(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    """The generator's half first, then opt_D.step(D.grads): the grads of the generator's pass."""
    n = len(x_real)
    s = D.forward(np.vstack([x_real, G.forward(z)]))
    d_loss, ds_real, ds_fake = d_loss_fn(s[:n], s[n:])
    D.backward(np.vstack([ds_real, ds_fake]))
    g_loss = _g_half(G, D, opt_G, z, g_loss_fn)
    opt_D.step(D.grads)
    return d_loss, g_loss


def step_new_z(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    d_loss = _d_half(G, D, opt_D, x_real, z, d_loss_fn)
    g_loss = _g_half(G, D, opt_G, np.random.default_rng(7).standard_normal(z.shape), g_loss_fn)
    return d_loss, g_loss


def step_g_not_trained(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    d_loss = _d_half(G, D, opt_D, x_real, z, d_loss_fn)
    return d_loss, _g_half(G, D, opt_G, z, g_loss_fn, backward=False)


def step_no_g_update(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    d_loss = _d_half(G, D, opt_D, x_real, z, d_loss_fn)
    return d_loss, _g_half(G, D, opt_G, z, g_loss_fn, update=False)


def step_dx_sign(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    d_loss = _d_half(G, D, opt_D, x_real, z, d_loss_fn)
    return d_loss, _g_half(G, D, opt_G, z, g_loss_fn, sign=-1.0)


def step_fake_only(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    d_loss = _d_half(G, D, opt_D, x_real, z, d_loss_fn, which="fake")
    return d_loss, _g_half(G, D, opt_G, z, g_loss_fn)


def step_real_only(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    d_loss = _d_half(G, D, opt_D, x_real, z, d_loss_fn, which="real")
    return d_loss, _g_half(G, D, opt_G, z, g_loss_fn)


def step_scores_swapped(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    d_loss = _d_half(G, D, opt_D, x_real, z, d_loss_fn, scores_swapped=True)
    return d_loss, _g_half(G, D, opt_G, z, g_loss_fn)


def step_returns_swapped(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    d_loss, g_loss = step_concat(G, D, opt_G, opt_D, x_real, z, d_loss_fn, g_loss_fn)
    return g_loss, d_loss


def step_ignores_loss_fns(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    """Calls the GAN losses by name, whatever it is given."""
    return step_concat(G, D, opt_G, opt_D, x_real, z, gan.discriminator_loss, gan.generator_loss)


def step_clips_x_real(G, D, opt_G, opt_D, x_real, z, d_loss_fn=gan.discriminator_loss, g_loss_fn=gan.generator_loss):
    np.clip(x_real, -1, 1, out=x_real)
    return step_concat(G, D, opt_G, opt_D, x_real, z, d_loss_fn, g_loss_fn)


def discriminator_loss_summed(s_real, s_fake):
    """The sum over each batch instead of the mean."""
    loss, ds_real, ds_fake = gan.discriminator_loss(s_real, s_fake)
    return loss * len(s_real), ds_real * s_real.size, ds_fake * s_fake.size


# ---- the ring ------------------------------------------------------------------------------------------------------


def _ring_batch(n, rng):
    return ref.RING_CENTRES[rng.integers(0, 8, n)] + ref.RING_STD * rng.normal(size=(n, 2))


def train_ring_two_passes(seed=0, steps=5000, batch_size=256):
    """Another student's recipe: z before x_real, two passes through D per step; the same sizes and learning rates."""
    rng = np.random.default_rng(seed)
    G, D = MLP([2, 64, 64, 2], rng=rng), MLP([2, 64, 64, 1], rng=rng)
    opt_G, opt_D = Adam(G.params, lr=1e-3, betas=BETAS), Adam(D.params, lr=2e-3, betas=BETAS)
    history = {"d_loss": [], "g_loss": []}
    for t in range(steps):
        opt_G.lr, opt_D.lr = (1e-3 * (steps - t) / steps, 2e-3 * (steps - t) / steps)
        z = rng.standard_normal((batch_size, 2))
        losses = step_two_passes(G, D, opt_G, opt_D, _ring_batch(batch_size, rng), z)
        history["d_loss"].append(losses[0])
        history["g_loss"].append(losses[1])
    return G, history


def _untrained(seed=0, steps=5000, batch_size=256, output=None, **kwargs):
    G = MLP([2, 64, 64, 2], rng=np.random.default_rng(seed), output=output, **kwargs)
    return G, {"d_loss": [0.0] * steps, "g_loss": [0.0] * steps}


def ring_untrained(seed=0, steps=5000, batch_size=256):
    return _untrained(seed, steps, batch_size)


def ring_tanh_output(seed=0, steps=5000, batch_size=256):
    return _untrained(seed, steps, batch_size, output="tanh")


def ring_relu(seed=0, steps=5000, batch_size=256):
    return _untrained(seed, steps, batch_size, activation="relu")


def ring_collapsed(seed=0, steps=5000, batch_size=256):
    """All samples on one mode: the generator's last layer maps everything to (2, 0)."""
    G, history = _untrained(seed, steps, batch_size)
    G.params["W2"][:] = 0.0
    G.params["b2"][:] = ref.RING_CENTRES[0]
    return G, history


def ring_sprayed(seed=0, steps=5000, batch_size=256):
    """A linear generator 1.5 z: points everywhere, a few near every mode, almost none of high quality."""
    G = MLP([2, 2], params={"W0": 1.5 * np.eye(2), "b0": np.zeros(2)})
    return G, {"d_loss": [0.0] * steps, "g_loss": [0.0] * steps}


def ring_history_short(seed=0, steps=5000, batch_size=256):
    G, history = train_ring_two_passes(seed, steps=10, batch_size=batch_size)
    return G, history


def ring_swapped(seed=0, steps=5000, batch_size=256):
    G, history = _untrained(seed, steps, batch_size)
    return history, G


def ring_nan(seed=0, steps=5000, batch_size=256):
    G, history = _untrained(seed, steps, batch_size)
    G.params["W1"][0, 0] = np.nan
    return G, history


def ring_params_only(seed=0, steps=5000, batch_size=256):
    G, history = _untrained(seed, steps, batch_size)
    return G.params, history


# ---- the hidden cases ----------------------------------------------------------------------------------------------

GAN_LOSSES = (gan.discriminator_loss, gan.generator_loss)
LS_LOSSES = (gan.lsgan_discriminator_loss, gan.lsgan_generator_loss)

CORRECT = {
    "w05_gan_train_step": [Together(step_concat, *GAN_LOSSES), Together(step_two_passes, *GAN_LOSSES)],
    "w05_gan_train_step_lsgan": [Together(step_concat, *LS_LOSSES), Together(step_two_passes, *LS_LOSSES)],
    "w05_gan_ring": [train_ring_two_passes],
}

WRONG = [
    ("w05_gan_train_step", Together(stub, *GAN_LOSSES), "not implemented yet"),
    ("w05_gan_train_step", Together(step_d_twice, *GAN_LOSSES), r"opt_D.step ran 2 times .*must not be applied"),
    ("w05_gan_train_step", Together(step_old_discriminator, *GAN_LOSSES), "from the discriminator BEFORE its update"),
    ("w05_gan_train_step", Together(step_d_from_g_pass, *GAN_LOSSES), "gradients of the generator's pass"),
    ("w05_gan_train_step", Together(step_new_z, *GAN_LOSSES), "did you draw a new z"),
    ("w05_gan_train_step", Together(step_g_not_trained, *GAN_LOSSES), "G did not change"),
    ("w05_gan_train_step", Together(step_no_g_update, *GAN_LOSSES), "opt_G.step ran 0 times"),
    ("w05_gan_train_step", Together(step_dx_sign, *GAN_LOSSES), "G moved the wrong way"),
    ("w05_gan_train_step", Together(step_fake_only, *GAN_LOSSES), "fake batch only"),
    ("w05_gan_train_step", Together(step_real_only, *GAN_LOSSES), "real batch only"),
    ("w05_gan_train_step", Together(step_scores_swapped, *GAN_LOSSES), "fakes' scores as s_real"),
    ("w05_gan_train_step", Together(step_returns_swapped, *GAN_LOSSES), r"you return \(g_loss, d_loss\)"),
    ("w05_gan_train_step", Together(step_clips_x_real, *GAN_LOSSES), "changed its input `x_real`"),
    (
        "w05_gan_train_step",
        Together(step_concat, discriminator_loss_summed, gan.generator_loss),
        "your discriminator_loss_summed .* fix discriminator_loss_summed first",
    ),
    (
        "w05_gan_train_step",
        Together(step_concat, gan.discriminator_loss, stub),
        r"calls your stub \(as g_loss_fn\), which is not implemented yet",
    ),
    (
        "w05_gan_train_step_lsgan",
        Together(step_ignores_loss_fns, *LS_LOSSES),
        "never called the d_loss_fn it was given .*lsgan_discriminator_loss",
    ),
    ("w05_gan_train_step_lsgan", Together(stub, *LS_LOSSES), "not implemented yet"),
    ("w05_gan_ring", stub, "not implemented yet"),
    ("w05_gan_ring", ring_untrained, r"no run covers at least 7 of the 8 modes .*run 3, seed \d+: 0 of 8 modes covered"),
    ("w05_gan_ring", ring_collapsed, r"1 of 8 modes covered, 100.0% high quality, per mode \[10000, 0, 0, 0, 0, 0, 0, 0\]"),
    ("w05_gan_ring", ring_sprayed, r"run 1, seed \d+: 0 of 8 modes covered, 0.\d% high quality"),
    ("w05_gan_ring", ring_tanh_output, "ends in tanh"),
    ("w05_gan_ring", ring_relu, "must use leaky ReLU"),
    ("w05_gan_ring", ring_history_short, r"one loss per step \(4000 here\)"),
    ("w05_gan_ring", ring_swapped, "must return the generator as a dlfs.nn.MLP; got a dict"),
    ("w05_gan_ring", ring_params_only, "must return the generator as a dlfs.nn.MLP; got a dict"),
    ("w05_gan_ring", ring_nan, "NaN or inf"),
]

test_hidden_passes_correct, test_hidden_fails_wrong, test_every_case_is_tested = hidden_tests("w05_gan_train", CORRECT, WRONG)


# ---- the references --------------------------------------------------------------------------------------------------


def _run(seed, spec):
    return ref._draw_run(np.random.default_rng(seed), spec)


@pytest.mark.parametrize("lsgan", [False, True], ids=["gan", "lsgan"])
@pytest.mark.parametrize("spec", ref.STEP_RUNS, ids=lambda s: "-".join(map(str, s[0])) + f"-{s[1]}")
def test_reference_step_is_mlp_and_adam_driven_as_the_brief_says(spec, lsgan):
    """Three chained steps of gan_reference.gan_train_step equal dlfs.nn.MLP + Adam (betas 0.5, 0.999) driven by the
    brief's step, parameters and losses."""
    run = _run(11, (*spec[:3], spec[3] + [spec[3][-1]] * 2))
    G = MLP(run["G"]["sizes"], params=run["G"]["params"], output=run["G"]["output"])
    D = MLP(run["D"]["sizes"], params=run["D"]["params"])
    opt_G, opt_D = Adam(G.params, lr=run["lr_g"], betas=BETAS), Adam(D.params, lr=run["lr_d"], betas=BETAS)
    Gr, Dr = run["G"]["params"], run["D"]["params"]
    gs, ds = gan.adam_state(Gr), gan.adam_state(Dr)
    for batch in run["batches"]:
        d_loss, g_loss = step_concat(G, D, opt_G, opt_D, batch["x_real"], batch["z"], *(LS_LOSSES if lsgan else GAN_LOSSES))
        rd, rg, Gr, Dr, gs, ds = gan.gan_train_step(
            Gr, Dr, batch["x_real"], batch["z"], gs, ds, run["lr_g"], run["lr_d"], run["G"]["output"], lsgan
        )
        np.testing.assert_allclose([d_loss, g_loss], [rd, rg], rtol=1e-12)
        for key in Gr:
            np.testing.assert_allclose(G.params[key], Gr[key], rtol=1e-12, atol=1e-14)
        for key in Dr:
            np.testing.assert_allclose(D.params[key], Dr[key], rtol=1e-12, atol=1e-14)


def test_reference_adam_step_is_dlfs_adam():
    rng = np.random.default_rng(3)
    params = {"a": rng.normal(size=(3, 2)), "b": rng.normal(size=4)}
    theirs = {k: v.copy() for k, v in params.items()}
    opt, state = Adam(theirs, lr=3e-3, betas=BETAS), gan.adam_state(params)
    for _ in range(4):
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        params, state = gan.adam_step(params, grads, state, 3e-3)
        opt.step(grads)
        for key in params:
            np.testing.assert_allclose(theirs[key], params[key], rtol=1e-13)


def test_step_variant_without_a_mistake_is_the_reference():
    for lsgan, spec in ((False, ref.STEP_RUNS[3]), (True, ref.LSGAN_RUNS[1])):
        run = _run(5, spec)
        G, D = run["G"]["params"], run["D"]["params"]
        batch = run["batches"][0]
        args = (
            G,
            D,
            batch["x_real"],
            batch["z"],
            gan.adam_state(G),
            gan.adam_state(D),
            run["lr_g"],
            run["lr_d"],
            run["G"]["output"],
            lsgan,
        )
        want = gan.gan_train_step(*args)
        got = ref.step_variant(*args)
        np.testing.assert_array_equal(got[:2], want[:2])
        for mine, theirs in ((got[2], want[2]), (got[3], want[3])):
            for key in theirs:
                np.testing.assert_array_equal(mine[key], theirs[key])


@pytest.mark.parametrize("spec", ref.STEP_RUNS, ids=lambda s: "-".join(map(str, s[0])))
def test_every_mistake_differs_from_the_reference_on_every_run(spec):
    """Each named mistake changes G's or D's parameters, or the losses, on every run of the cases (else the judge
    could not name it)."""
    run = _run(9, spec)
    G, D = run["G"]["params"], run["D"]["params"]
    batch = run["batches"][0]
    args = (G, D, batch["x_real"], batch["z"], gan.adam_state(G), gan.adam_state(D), run["lr_g"], run["lr_d"], run["G"]["output"])
    want = gan.gan_train_step(*args)
    for name, out in ref.step_mistakes(*args).items():
        same_g = all(np.allclose(out[2][k], want[2][k], rtol=1e-6) for k in want[2])
        same_d = all(np.allclose(out[3][k], want[3][k], rtol=1e-6) for k in want[3])
        same_losses = np.allclose(out[:2], want[:2])
        assert not (same_g and same_d and same_losses), name


def test_reference_step_against_jax():
    """The reference's step against JAX: D's gradient of L_D (both batches), one Adam step, then G's gradient of L_G
    through the updated D, by autodiff, for a tanh generator and batches of different sizes."""
    jax = pytest.importorskip("jax", reason=JAX_MISSING)
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def mlp(params, x, output=None):
        n = len(params) // 2
        for i in range(n):
            x = x @ params[f"W{i}"] + params[f"b{i}"]
            if i < n - 1:
                x = jnp.where(x > 0, x, 0.2 * x)
        return jnp.tanh(x) if output == "tanh" else x

    def adam(params, grads, lr):  # the first step of Adam: m_hat = g, v_hat = g^2
        return {k: params[k] - lr * grads[k] / (jnp.sqrt(grads[k] ** 2) + 1e-8) for k in params}

    def softplus(a):
        return jnp.logaddexp(0.0, a)

    run = _run(13, ([3, 6, 6, 4], "tanh", [4, 7, 5, 1], [(6, 4)]))
    G, D, batch = run["G"]["params"], run["D"]["params"], run["batches"][0]
    x_real, z = batch["x_real"], batch["z"]

    def d_loss(d_params):
        return jnp.mean(softplus(-mlp(d_params, x_real))) + jnp.mean(softplus(mlp(d_params, mlp(G, z, "tanh"))))

    D_new = adam(D, jax.grad(d_loss)(D), run["lr_d"])

    def g_loss(g_params):
        return jnp.mean(softplus(-mlp(D_new, mlp(g_params, z, "tanh"))))

    G_new = adam(G, jax.grad(g_loss)(G), run["lr_g"])
    rd, rg, Gr, Dr, _, _ = gan.gan_train_step(
        G, D, x_real, z, gan.adam_state(G), gan.adam_state(D), run["lr_g"], run["lr_d"], "tanh"
    )
    np.testing.assert_allclose([rd, rg], [float(d_loss(D)), float(g_loss(G))], rtol=1e-12)
    for key in G:
        np.testing.assert_allclose(Gr[key], np.asarray(G_new[key]), rtol=1e-10, atol=1e-13)
    for key in D:
        np.testing.assert_allclose(Dr[key], np.asarray(D_new[key]), rtol=1e-10, atol=1e-13)


def test_mode_coverage_against_a_loop():
    rng = np.random.default_rng(4)
    samples = np.concatenate(
        [_ring_batch(3000, rng), rng.uniform(-3, 3, (500, 2)), ref.RING_CENTRES[[2]] + 0.07 * rng.normal(size=(300, 2))]
    )
    covered, quality, per_mode = ref.mode_coverage(samples, min_count=400)
    counts, good = [0] * 8, 0
    for point in samples:
        gaps = [float(np.hypot(*(point - centre))) for centre in ref.RING_CENTRES]
        if min(gaps) < 0.06:
            good += 1
            counts[gaps.index(min(gaps))] += 1
    assert per_mode.tolist() == counts
    assert quality == good / len(samples)
    assert covered == sum(c >= 400 for c in counts)
    assert 0 < covered < 8  # the threshold matters on this sample: some modes hold fewer than 400


def test_ring_case_samples_the_returned_generator_itself():
    """The judge draws its own z (dimension from W0) and uses its own forward: a generator whose params say
    something else than its forward would do is judged by its params."""
    inputs, _ = get_case("w05_gan_ring").build()
    assert set(inputs) == {"seeds", "steps", "batch_size"} and len(set(inputs["seeds"])) == ref.RING_RUNS
    assert inputs["steps"] == ref.RING_BUDGET["steps"] and inputs["batch_size"] == ref.RING_BUDGET["batch_size"]
    params = {"W0": np.zeros((5, 2)), "b0": ref.RING_CENTRES[3]}
    samples = ref.generator_samples(params, None, 100, np.random.default_rng(0))
    np.testing.assert_array_equal(samples, np.tile(ref.RING_CENTRES[3], (100, 1)))


# ---- visible checks --------------------------------------------------------------------------------------------------


def visible_lsgan(step, d_loss_fn, g_loss_fn):
    visible.gan_train_step(step, d_loss_fn, g_loss_fn, lsgan=True)


def ring_short(seed=0, steps=5000, batch_size=256):
    return train_ring_two_passes(seed, steps, batch_size)


VISIBLE_CORRECT = [
    (visible.gan_train_step, Together(step_concat, *GAN_LOSSES)),
    (visible.gan_train_step, Together(step_two_passes, *GAN_LOSSES)),
    (visible_lsgan, Together(step_concat, *LS_LOSSES)),
    (visible_lsgan, Together(step_two_passes, *LS_LOSSES)),
    (visible.train_gan_ring, ring_short),
]

VISIBLE_WRONG = [
    (visible.gan_train_step, Together(stub, *GAN_LOSSES), "not implemented yet"),
    (visible.gan_train_step, Together(step_concat, stub, gan.generator_loss), "stub is not implemented yet"),
    (
        visible.gan_train_step,
        Together(step_concat, discriminator_loss_summed, gan.generator_loss),
        "fix discriminator_loss_summed first",
    ),
    (visible.gan_train_step, Together(step_d_twice, *GAN_LOSSES), "opt_D.step ran 2 times"),
    (visible.gan_train_step, Together(step_no_g_update, *GAN_LOSSES), "opt_G.step ran 0 times"),
    (visible.gan_train_step, Together(step_old_discriminator, *GAN_LOSSES), "BEFORE its update"),
    (visible.gan_train_step, Together(step_d_from_g_pass, *GAN_LOSSES), "gradients of the generator's pass"),
    (visible.gan_train_step, Together(step_g_not_trained, *GAN_LOSSES), "G did not change"),
    (visible.gan_train_step, Together(step_dx_sign, *GAN_LOSSES), "G moved the wrong way"),
    (visible.gan_train_step, Together(step_fake_only, *GAN_LOSSES), "fake batch only"),
    (visible.gan_train_step, Together(step_real_only, *GAN_LOSSES), "real batch only"),
    (visible.gan_train_step, Together(step_returns_swapped, *GAN_LOSSES), r"you return \(g_loss, d_loss\)"),
    (visible.gan_train_step, Together(step_clips_x_real, *GAN_LOSSES), "changed its input `x_real`"),
    (visible_lsgan, Together(step_ignores_loss_fns, *LS_LOSSES), "D's parameters after the step"),
    (visible.train_gan_ring, stub, "not implemented yet"),
    (visible.train_gan_ring, ring_tanh_output, "linear output"),
    (visible.train_gan_ring, ring_history_short, "one loss per step, 100 here"),
    (visible.train_gan_ring, ring_params_only, "must return the generator as a dlfs.nn.MLP"),
]

test_visible_passes_correct, test_visible_names_the_mistake = visible_tests(VISIBLE_CORRECT, VISIBLE_WRONG)
