"""Week 5's trusted GAN references: BCE with logits, the GAN and LSGAN losses, spectral norm, one training step.

Not a topic (no ``w`` prefix): it registers no case. The topic modules ``w05_*`` import from here, and
``tests/test_gan_reference.py`` checks every function against JAX. All arithmetic is float64.

Notation: ``s`` is a discriminator's logit (its raw score), ``D(x) = sigmoid(s)``, and ``softplus(a) =
log(1 + e^a)``, so that ``-log sigmoid(s) = softplus(-s)`` and ``-log(1 - sigmoid(s)) = softplus(s)``.
"""

from __future__ import annotations

import numpy as np


def softplus(a):
    """log(1 + e^a) without overflow: max(a, 0) + log1p(e^-|a|)."""
    a = np.asarray(a, dtype=np.float64)
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def sigmoid(a):
    """1 / (1 + e^-a), evaluated from e^-|a| so that it never overflows."""
    a = np.asarray(a, dtype=np.float64)
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def bce_with_logits_forward(s, y):
    """Mean binary cross-entropy of logits s against targets y in [0, 1] (same shape).

    loss = mean over all entries of  -y log sigmoid(s) - (1 - y) log(1 - sigmoid(s))
         = mean of  max(s, 0) - s y + log(1 + e^-|s|).
    Returns (loss, cache).
    """
    s = np.asarray(s, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    loss = float(np.mean(softplus(s) - s * y))
    return loss, (s, y)


def bce_with_logits_backward(dloss, cache):
    """d loss / d s = dloss * (sigmoid(s) - y) / n, n the number of entries. Returns ds (the targets get none)."""
    s, y = cache
    return dloss * (sigmoid(s) - y) / s.size


def discriminator_loss(s_real, s_fake):
    """BCE of real logits against 1 plus BCE of fake logits against 0, each averaged over its own batch.

    loss = mean softplus(-s_real) + mean softplus(s_fake). Returns (loss, d s_real, d s_fake).
    """
    s_real = np.asarray(s_real, dtype=np.float64)
    s_fake = np.asarray(s_fake, dtype=np.float64)
    loss = float(np.mean(softplus(-s_real)) + np.mean(softplus(s_fake)))
    return loss, (sigmoid(s_real) - 1.0) / s_real.size, sigmoid(s_fake) / s_fake.size


def generator_loss(s_fake):
    """The non-saturating generator loss: -mean log D(G(z)) = mean softplus(-s_fake). Returns (loss, d s_fake).

    Its gradient -(1 - sigmoid(s)) / n is largest where the discriminator rejects the fakes (s << 0); the
    saturating loss mean log(1 - D(G(z))) = -mean softplus(s) has gradient -sigmoid(s) / n, which vanishes there.
    """
    s_fake = np.asarray(s_fake, dtype=np.float64)
    return float(np.mean(softplus(-s_fake))), (sigmoid(s_fake) - 1.0) / s_fake.size


def lsgan_discriminator_loss(s_real, s_fake):
    """Least-squares GAN: 1/2 mean (s_real - 1)^2 + 1/2 mean s_fake^2. Returns (loss, d s_real, d s_fake)."""
    s_real = np.asarray(s_real, dtype=np.float64)
    s_fake = np.asarray(s_fake, dtype=np.float64)
    loss = 0.5 * np.mean((s_real - 1.0) ** 2) + 0.5 * np.mean(s_fake**2)
    return float(loss), (s_real - 1.0) / s_real.size, s_fake / s_fake.size


def lsgan_generator_loss(s_fake):
    """Least-squares GAN: 1/2 mean (s_fake - 1)^2. Returns (loss, d s_fake)."""
    s_fake = np.asarray(s_fake, dtype=np.float64)
    return float(0.5 * np.mean((s_fake - 1.0) ** 2)), (s_fake - 1.0) / s_fake.size


def spectral_norm(W, u, n_iters=1):
    """Power iteration for the largest singular value sigma of W viewed as a matrix (W.shape[0], rest).

    Each iteration: v = W^T u / |W^T u|, then u = W v / |W v|. Then sigma = u^T W v.
    Returns (W / sigma with W's shape, sigma as a float, the new u of shape (W.shape[0],)).
    """
    W = np.asarray(W, dtype=np.float64)
    mat = W.reshape(W.shape[0], -1)
    u = np.asarray(u, dtype=np.float64)
    if n_iters < 1:
        raise ValueError(f"n_iters must be at least 1, got {n_iters}")
    for _ in range(n_iters):
        v = mat.T @ u
        v = v / np.linalg.norm(v)
        u = mat @ v
        u = u / np.linalg.norm(u)
    sigma = float(u @ mat @ v)
    return W / sigma, sigma, u


# ----------------------------------------------------------------------------------------------------------
# A functional MLP (dense layers, leaky ReLU 0.2 between them, optional tanh output) and Adam, for the step
# ----------------------------------------------------------------------------------------------------------

LEAK = 0.2


def mlp_forward(params, x, output=None):
    """params W0, b0, W1, b1, ...: h = leaky(h W_i + b_i) for hidden layers, the last one linear (or tanh)."""
    n = len(params) // 2
    trace = []
    h = np.asarray(x, dtype=np.float64)
    for i in range(n):
        a = h @ params[f"W{i}"] + params[f"b{i}"]
        trace.append((h, a))
        if i < n - 1:
            h = np.where(a > 0, a, LEAK * a)
        elif output == "tanh":
            h = np.tanh(a)
        else:
            h = a
    return h, (trace, output, h)


def mlp_backward(dout, cache, params):
    """Gradients of the MLP's output contracted with dout: (dx, grads with the keys of params)."""
    trace, output, last = cache
    n = len(trace)
    grads = {}
    d = np.asarray(dout, dtype=np.float64)
    for i in reversed(range(n)):
        h, a = trace[i]
        if i < n - 1:
            d = d * np.where(a > 0, 1.0, LEAK)
        elif output == "tanh":
            d = d * (1.0 - last**2)
        grads[f"W{i}"] = h.T @ d
        grads[f"b{i}"] = d.sum(axis=0)
        d = d @ params[f"W{i}"].T
    return d, grads


def adam_step(params, grads, state, lr, betas=(0.5, 0.999), eps=1e-8):
    """One Adam update of every array in params (returned new, params untouched); state = (t, m, v)."""
    t, m, v = state
    t += 1
    b1, b2 = betas
    new, m2, v2 = {}, {}, {}
    for key in params:
        m2[key] = b1 * m[key] + (1 - b1) * grads[key]
        v2[key] = b2 * v[key] + (1 - b2) * grads[key] ** 2
        step = (m2[key] / (1 - b1**t)) / (np.sqrt(v2[key] / (1 - b2**t)) + eps)
        new[key] = params[key] - lr * step
    return new, (t, m2, v2)


def adam_state(params):
    return 0, {k: np.zeros_like(p) for k, p in params.items()}, {k: np.zeros_like(p) for k, p in params.items()}


def gan_train_step(G, D, x_real, z, g_state, d_state, lr_g, lr_d, g_output=None, lsgan=False):
    """One GAN training step, as week 5 defines it; G and D are parameter dicts. Returns everything new.

    1. Discriminator: x_fake = G(z); (d_loss, ds_real, ds_fake) = discriminator loss of D(x_real), D(x_fake);
       backpropagate through D only (x_fake is a constant here); one Adam step on D.
    2. Generator, against the UPDATED discriminator: x_fake = G(z) (the same z), s = D(x_fake);
       (g_loss, ds) = the non-saturating generator loss; backpropagate through D into x_fake (D is not
       updated) and on through G; one Adam step on G.
    Returns (d_loss, g_loss, G_new, D_new, g_state, d_state).
    """
    d_fn, g_fn = (lsgan_discriminator_loss, lsgan_generator_loss) if lsgan else (discriminator_loss, generator_loss)
    x_fake, _ = mlp_forward(G, z, g_output)
    n_real = len(x_real)
    s, d_cache = mlp_forward(D, np.concatenate([np.asarray(x_real, dtype=np.float64), x_fake]))
    d_loss, ds_real, ds_fake = d_fn(s[:n_real], s[n_real:])
    _, d_grads = mlp_backward(np.concatenate([ds_real, ds_fake]), d_cache, D)
    D_new, d_state = adam_step(D, d_grads, d_state, lr_d)

    x_fake, g_cache = mlp_forward(G, z, g_output)
    s_fake, d_cache = mlp_forward(D_new, x_fake)
    g_loss, ds = g_fn(s_fake)
    dx_fake, _ = mlp_backward(ds, d_cache, D_new)
    _, g_grads = mlp_backward(dx_fake, g_cache, G)
    G_new, g_state = adam_step(G, g_grads, g_state, lr_g)
    return d_loss, g_loss, G_new, D_new, g_state, d_state
