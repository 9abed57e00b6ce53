"""Week 5, GAN training (gan_train_step, train_gan_ring): the visible checks and the probes of the hidden cases.

The step's contract: ``gan_train_step(G, D, opt_G, opt_D, x_real, z, d_loss_fn=discriminator_loss,
g_loss_fn=generator_loss) -> (d_loss, g_loss)`` with ``G`` and ``D`` :class:`dlfs.nn.MLP` objects and their
:class:`dlfs.nn.Adam` optimisers (betas (0.5, 0.999)). The probe builds them from the parameters the grader sends,
runs the steps, and records the losses, every parameter after each step, each optimiser's step count and first
moment (Adam's first step is nearly sign(gradient); its first moment keeps the gradient's size), and
what the loss functions it was given were called with and returned (a spy around them: a wrong answer can then
be told apart from a loss function that is wrong). The ring's probe runs ``train_gan_ring`` once for each of the
grader's seeds, with its budget, and returns each generator as data (its parameters and how its MLP is configured);
the grader samples them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dlfs.checks import CheckFailed, Mistake, call, check_array, fixture, passed, stored_mistakes, unpack
from dlfs.grading import Raised, probe, record
from dlfs.nn import MLP, Adam

__all__ = ["gan_train_step", "train_gan_ring"]

#: Adam's (beta1, beta2) for both players, as in DCGAN: a shorter memory of the gradient than the default 0.9.
BETAS = (0.5, 0.999)

STEP_HINT = (
    "(1) x_fake = G.forward(z); s = D.forward(np.concatenate([x_real, x_fake])); d_loss, ds_real, ds_fake = "
    "d_loss_fn(s[:n], s[n:]); D.backward(np.concatenate([ds_real, ds_fake])); opt_D.step(D.grads). (2) with the "
    "updated D and the same z: s_fake = D.forward(G.forward(z)); g_loss, ds = g_loss_fn(s_fake); "
    "G.backward(D.backward(ds)); opt_G.step(G.grads). Return (d_loss, g_loss)."
)
RING_HINT = (
    "rng = np.random.default_rng(seed); G = MLP([2, 64, 64, 2], rng=rng), D = MLP([2, 64, 64, 1], rng=rng), "
    "Adam with betas (0.5, 0.999) and learning rates 1e-3 (G) and 2e-3 (D), both times (1 - t / steps) before "
    "step t; each step a batch sample_ring(batch_size, rng) and z of shape (batch_size, 2) from "
    "rng.standard_normal, one gan_train_step, both losses appended to history."
)


# ---- what the probes record --------------------------------------------------------------------------------


def snapshot(value: Any) -> Any:
    """A copy of what a function returned, taken at once (the caller may later change the arrays in place)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple | list):
        return type(value)(snapshot(v) for v in value)
    return value


class Spy:
    """Wraps a loss function: the same results, and a record of each call's arguments and result."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "the loss function")
        self.calls: list[dict] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        entry: dict = {"args": [snapshot(a) for a in args], "kwargs": {str(k): snapshot(v) for k, v in kwargs.items()}}
        self.calls.append(entry)
        try:
            result = self.fn(*args, **kwargs)
        except Exception as err:
            entry["result"] = Raised(type(err).__name__, str(err))
            raise
        entry["result"] = snapshot(result)
        return result


def params_of(model: Any) -> Any:
    """Copies of an MLP's parameters, or the type of what was given instead."""
    params = getattr(model, "params", None)
    if not isinstance(params, dict):
        return f"a {type(model).__name__} without a dict of params"
    return {str(key): snapshot(value) for key, value in params.items()}


def _mlp(spec: dict) -> MLP:
    return MLP(spec["sizes"], params=spec["params"], output=spec["output"])


def drive_steps(step: Callable, d_loss_fn: Callable | None, g_loss_fn: Callable | None, run: dict) -> dict:
    """One run: G, D and their optimisers built from the run's data, then one call of ``step`` per batch; after
    each, the result, both models' params, each optimiser's step count, the arguments changed, the loss calls."""
    G, D = _mlp(run["G"]), _mlp(run["D"])
    opt_G = Adam(G.params, lr=run["lr_g"], betas=BETAS)
    opt_D = Adam(D.params, lr=run["lr_d"], betas=BETAS)
    entries = []
    for batch in run["batches"]:
        x_real, z = batch["x_real"].copy(), batch["z"].copy()
        spies = {}
        if d_loss_fn is not None:
            spies["d_loss_fn"] = Spy(d_loss_fn)
        if g_loss_fn is not None:
            spies["g_loss_fn"] = Spy(g_loss_fn)
        result = record(step, G, D, opt_G, opt_D, x_real, z, **spies)
        entries.append(
            {
                "result": snapshot(result),
                "G": params_of(G),
                "D": params_of(D),
                "t_G": opt_G.t,
                "t_D": opt_D.t,
                "m_G": {key: snapshot(value) for key, value in opt_G.m.items()},
                "m_D": {key: snapshot(value) for key, value in opt_D.m.items()},
                "changed": [
                    name
                    for name, before, after in (("x_real", batch["x_real"], x_real), ("z", batch["z"], z))
                    if not np.array_equal(before, after)
                ],
                "calls": {name: spy.calls for name, spy in spies.items()},
                "names": {name: spy.__name__ for name, spy in spies.items()},
            }
        )
        if isinstance(result, Raised):
            break
    return {"batches": entries}


@probe("w05_gan_train_step")
@probe("w05_gan_train_step_lsgan")
def _step_probe(step: Callable, d_loss_fn: Callable | None = None, g_loss_fn: Callable | None = None, *, inputs: dict) -> dict:
    """``check("w05_gan_train_step...", gan_train_step, d_loss_fn, g_loss_fn)``: every run's steps."""
    return {"runs": [drive_steps(step, d_loss_fn, g_loss_fn, run) for run in inputs["runs"]]}


def _losses(history: Any, key: str) -> Any:
    if not isinstance(history, dict) or key not in history:
        return None
    return record(np.asarray, history[key], dtype=np.float64)


def ring_run(train: Callable, seed: int, steps: int, batch_size: int) -> dict:
    """One training run: the generator as data (params, sizes, activations) and the history's two loss curves."""
    result = record(train, seed=seed, steps=steps, batch_size=batch_size)
    if isinstance(result, Raised):
        return {"result": result}
    if not (isinstance(result, tuple) and len(result) == 2):
        return {"result": f"a {type(result).__name__}" + (f" of {len(result)}" if isinstance(result, tuple) else "")}
    G, history = result
    return {
        "result": "pair",
        "type": type(G).__name__,
        "params": params_of(G),
        "sizes": [int(s) for s in getattr(G, "sizes", [])],
        "activation": str(getattr(G, "activation", "")),
        "output": getattr(G, "output", None),
        "history": type(history).__name__,
        "d_loss": _losses(history, "d_loss"),
        "g_loss": _losses(history, "g_loss"),
    }


@probe("w05_gan_ring")
def _ring_probe(train: Callable, *, inputs: dict) -> dict:
    """``check("w05_gan_ring", train_gan_ring)``: one run per seed the grader sends, with its budget."""
    return {"runs": [ring_run(train, seed, inputs["steps"], inputs["batch_size"]) for seed in inputs["seeds"]]}


# ---- visible checks ------------------------------------------------------------------------------------------


def _flat(params: dict, sizes: np.ndarray) -> np.ndarray:
    keys = [f"{kind}{i}" for i in range(len(sizes) - 1) for kind in ("W", "b")]
    return np.concatenate([np.asarray(params[k], dtype=np.float64).ravel() for k in keys])


def _model(a: dict, who: str, output: str | None) -> MLP:
    sizes = a[f"{who}_sizes"]
    params = {key[len(who) + 1 :]: a[key] for key in a if key.startswith(f"{who}_") and key[len(who) + 1] in "Wb"}
    return MLP(sizes, params=params, output=output)


def _check_loss_fn(fn: Callable, args: tuple, a: dict, tag: str, parts: tuple[str, ...]) -> None:
    """The loss function the step uses, on the stored scores of the first step, against the stored results."""
    name = getattr(fn, "__name__", "the loss function")
    got = unpack(name, call(fn, *args), *parts)
    for part, value in zip(parts, got):
        check_array(
            f"{name} (which gan_train_step calls): {part} on the scores of the first step",
            value,
            a[f"{tag}_{part}"],
            rtol=1e-7,
            atol=1e-12,
            hint=f"fix {name} first (its own check above says how): the step can only be right once it is.",
        )


def gan_train_step(step: Callable, d_loss_fn: Callable, g_loss_fn: Callable, lsgan: bool = False) -> None:
    """Two consecutive steps of a stored G (2 -> 4 -> 2) and D (2 -> 5 -> 1), batches of 3, Adam (0.5, 0.999):
    the losses, how often each optimiser stepped, and every parameter after each step. Call as
    ``checks.gan_train_step(gan_train_step, discriminator_loss, generator_loss)``, or with your LSGAN losses and
    ``lsgan=True``."""
    a = fixture("w05_gan_train_step_lsgan" if lsgan else "w05_gan_train_step")
    name = getattr(step, "__name__", "gan_train_step")
    _check_loss_fn(d_loss_fn, (a["s_real"].copy(), a["s_fake"].copy()), a, "d", ("loss", "ds_real", "ds_fake"))
    _check_loss_fn(g_loss_fn, (a["s_gen"].copy(),), a, "g", ("loss", "ds_fake"))
    G, D = _model(a, "G", None), _model(a, "D", None)
    opt_G = Adam(G.params, lr=float(a["lr_g"]), betas=BETAS)
    opt_D = Adam(D.params, lr=float(a["lr_d"]), betas=BETAS)
    for k in range(2):
        x_real, z = a[f"x_real_{k}"].copy(), a[f"z_{k}"].copy()
        label = f"step {k + 1} of 2"
        d_loss, g_loss = unpack(
            name, call(step, G, D, opt_G, opt_D, x_real, z, d_loss_fn=d_loss_fn, g_loss_fn=g_loss_fn), "d_loss", "g_loss"
        )
        for argument, before, after in (("x_real", a[f"x_real_{k}"], x_real), ("z", a[f"z_{k}"], z)):
            if not np.array_equal(before, after):
                raise CheckFailed(f"{name} changed its input `{argument}` in place; work on new arrays.")
        for who, opt in (("D", opt_D), ("G", opt_G)):
            if opt.t != k + 1:
                raise CheckFailed(
                    f"{name} ({label}): opt_{who}.step ran {opt.t} times in {k + 1} step(s); each step "
                    f"updates {who} exactly once. Hint: {STEP_HINT}"
                )
        for who, model, opt in (("D", D, opt_D), ("G", G, opt_G)):
            sizes = a[f"{who}_sizes"]
            for what, values, tag in (
                (f"{who}'s parameters", model.params, who),
                (f"opt_{who}.m (Adam's first moment: the gradients applied)", opt.m, f"m{who}"),
            ):
                check_array(
                    f"{name} ({label}): {what} after the step",
                    _flat(values, sizes),
                    a[f"expected_{tag}_{k}"],
                    rtol=1e-7,
                    atol=1e-10,
                    hint=STEP_HINT,
                    mistakes=stored_mistakes(a, f"_{tag}") if k == 0 else [],  # stored for the first step
                )
        losses = np.array([np.asarray(d_loss, dtype=np.float64), np.asarray(g_loss, dtype=np.float64)])
        check_array(
            f"{name} ({label}): (d_loss, g_loss)",
            losses,
            a[f"expected_losses_{k}"],
            rtol=1e-7,
            atol=1e-12,
            mistakes=[
                Mistake(
                    "swapped",
                    a[f"expected_losses_{k}"][::-1],
                    "you return (g_loss, d_loss): return (d_loss, g_loss), in that order.",
                )
            ],
        )
    kind = "LSGAN" if lsgan else "GAN"
    passed(f"{name}: two {kind} steps match: both losses, one Adam step per player, every parameter of G and D")


def train_gan_ring(train: Callable) -> None:
    """A short run, train_gan_ring(seed=0, steps=100, batch_size=64): what it returns (a 2-D generator MLP with a
    linear output, a history with one d_loss and one g_loss per step, all finite). Coverage is judged by the hidden
    test, on a longer run."""
    name = getattr(train, "__name__", "train_gan_ring")
    G, history = unpack(name, call(train, seed=0, steps=100, batch_size=64), "G", "history")
    if not isinstance(G, MLP):
        raise CheckFailed(f"{name} must return the generator as a dlfs.nn.MLP; got a {type(G).__name__}. Hint: {RING_HINT}")
    if G.sizes[-1] != 2 or G.output is not None or G.activation != "leaky_relu":
        raise CheckFailed(
            f"{name}: the generator must map z to points in the plane with leaky-ReLU hidden layers and a "
            f"linear output (the ring has radius 2, beyond tanh's reach): MLP([z_dim, ..., 2]); got sizes "
            f"{G.sizes}, activation {G.activation!r}, output {G.output!r}."
        )
    if not isinstance(history, dict):
        raise CheckFailed(f"{name}: history must be a dict with the lists 'd_loss' and 'g_loss'; got a {type(history).__name__}.")
    for key in ("d_loss", "g_loss"):
        try:
            values = np.asarray(history.get(key, []), dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise CheckFailed(f"{name}: history[{key!r}] must be a list of numbers (the losses); {err}.") from err
        if values.shape != (100,):
            raise CheckFailed(f"{name}: history[{key!r}] must hold one loss per step, 100 here; got shape {values.shape}.")
        if not np.all(np.isfinite(values)):
            raise CheckFailed(f"{name}: history[{key!r}] holds NaN or inf: a loss blew up.")
    samples = G.forward(np.random.default_rng(0).standard_normal((500, G.sizes[0])))
    if not np.all(np.isfinite(samples)):
        raise CheckFailed(f"{name}: the generator's samples are not finite.")
    passed(f"{name}: a generator MLP {G.sizes} with a linear output and 100 finite losses of each player")
