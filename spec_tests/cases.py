"""Seeded test inputs, each reproducible from one line of Python.

Every maker returns a Case: the arrays (in the dtype under test), the keyword arguments of the call
and `recipe`, the line that rebuilds it (`from spec_tests.cases import conv_case; ...`), which
failure messages print. The `seed` is the test's own seed plus the run's `--seed`, so an
instructor's hidden inputs are reproducible too. Makers draw inputs away from kinks (SPEC TOL-4).
"""
import functools
from dataclasses import dataclass, field

import numpy as np

from cnnspec.spec_tests import oracles


@dataclass
class Case:
    recipe: str
    arrays: dict
    kwargs: dict = field(default_factory=dict)

    def __getattr__(self, name):
        try:
            return self.__dict__["arrays"][name]
        except KeyError:
            raise AttributeError(name) from None

    def copies(self, *names):
        return tuple(self.arrays[n].copy() for n in names)


LAYOUTS = ("C", "F", "strided", "reversed")


def layout(array, kind):
    """The same values in another memory layout (GEN-1: any layout is valid input): "C" contiguous,
    "F" Fortran order, "strided" every other element of a larger buffer, "reversed" a view with
    negative strides."""
    array = np.asarray(array)
    if kind == "C":
        return np.ascontiguousarray(array)
    if kind == "F":
        return np.asfortranarray(array)
    if kind == "strided":
        big = np.zeros(tuple(2 * n for n in array.shape), array.dtype)
        view = big[tuple(slice(None, None, 2) for _ in array.shape)]
        view[...] = array
        return view
    if kind == "reversed":
        flipped = np.ascontiguousarray(array[tuple(slice(None, None, -1) for _ in array.shape)])
        return flipped[tuple(slice(None, None, -1) for _ in array.shape)]
    raise ValueError(f"unknown layout {kind!r}")


def _recipe(maker, **kwargs):
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"from cnnspec.spec_tests.cases import {maker}; case = {maker}({args})"


def conv_case(seed, N, C, H, W, F, KH, KW, stride=1, padding=0, dtype="float64"):
    """Standard-normal X, W, b and an upstream gradient of the output's shape."""
    rng = np.random.default_rng(seed)
    Ho, Wo = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    arrays = dict(X=rng.standard_normal((N, C, H, W)), W=rng.standard_normal((F, C, KH, KW)),
                  b=rng.standard_normal(F), dout=rng.standard_normal((N, F, Ho, Wo)))
    return Case(_recipe("conv_case", seed=seed, N=N, C=C, H=H, W=W, F=F, KH=KH, KW=KW,
                        stride=stride, padding=padding, dtype=dtype),
                {k: v.astype(dtype) for k, v in arrays.items()},
                dict(stride=stride, padding=padding))


def pool_case(seed, N, C, H, W, pool_size=2, stride=2, dtype="float64", scale=1.0, offset=0.0):
    """Distinct values 1e-2 * scale apart (a shuffled grid, then shifted by offset), so every
    window has a clear maximum; scale and offset move the grid to extreme values (a spacing that
    stays far above the dtype's rounding there)."""
    rng = np.random.default_rng(seed)
    size = N * C * H * W
    X = (rng.permutation(size) - size / 2).reshape(N, C, H, W) * (1e-2 * scale) + offset
    Ho, Wo = (H - pool_size) // stride + 1, (W - pool_size) // stride + 1
    dout = rng.standard_normal((N, C, Ho, Wo))
    extreme = {} if (scale, offset) == (1.0, 0.0) else dict(scale=scale, offset=offset)
    return Case(_recipe("pool_case", seed=seed, N=N, C=C, H=H, W=W, pool_size=pool_size,
                        stride=stride, dtype=dtype, **extreme),
                dict(X=X.astype(dtype), dout=dout.astype(dtype)),
                dict(pool_size=pool_size, stride=stride))


def pool_tie_case(seed, window, dtype="float64"):
    """A random input (as pool_case, stride = pool_size) with the pinned `window` (a square list
    of lists, its ties intact) scaled by a seed-drawn factor and placed at a seed-drawn window.
    `case.at` is (n, c, row, col) of the window's top-left pixel."""
    p = len(window)
    rng = np.random.default_rng([seed, 1])
    N, C, Ho, Wo = (int(v) for v in rng.integers(1, 4, 4))
    base = pool_case(seed, N, C, Ho * p + 1, Wo * p, p, p, dtype)   # a trailing row, too
    n, c, i, j = (int(rng.integers(0, k)) for k in (N, C, Ho, Wo))
    factor = float(rng.uniform(0.25, 4.0))
    X = base.arrays["X"]
    X[n, c, i * p:(i + 1) * p, j * p:(j + 1) * p] = np.asarray(window, np.float64) * factor
    base.arrays["at"] = np.array([n, c, i * p, j * p])
    base.recipe = _recipe("pool_tie_case", seed=seed, window=window, dtype=dtype)
    return base


def pool_near_tie_case(seed, N, C, H, W, pool_size, dtype="float64"):
    """stride = pool_size; in every window the maximum beats the runner-up by ONE unit in the last
    place of the dtype, each at a random offset (the larger after the smaller in row-major order
    about half the time); every other element is at least 0.5 below."""
    rng = np.random.default_rng(seed)
    p = pool_size
    Ho, Wo = H // p, W // p
    X = rng.uniform(-3.0, -2.0, (N, C, H, W)).astype(dtype)
    top = rng.uniform(-1.0, 1.0, (N, C, Ho, Wo)).astype(dtype)
    runner = np.nextafter(top, np.asarray(-np.inf, dtype))
    for n, c, i, j in np.ndindex(N, C, Ho, Wo):
        a, b = rng.choice(p * p, 2, replace=False)
        block = X[n, c, i * p:(i + 1) * p, j * p:(j + 1) * p]
        block[divmod(int(a), p)] = top[n, c, i, j]
        block[divmod(int(b), p)] = runner[n, c, i, j]
    dout = rng.standard_normal((N, C, Ho, Wo)).astype(dtype)
    return Case(_recipe("pool_near_tie_case", seed=seed, N=N, C=C, H=H, W=W, pool_size=p,
                        dtype=dtype),
                dict(X=X, dout=dout), dict(pool_size=p, stride=p))


def relu_case(seed, shape, dtype="float64", margin=1e-3, scale=None):
    """Normal values pushed at least `margin` away from the kink at 0; with `scale`, rescaled so
    that the largest magnitude is `scale` (extreme values: huge or tiny)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal(shape)
    X = np.sign(X) * (np.abs(X) + margin)
    X[X == 0] = margin
    if scale is not None:
        X = X / np.abs(X).max() * scale
    extreme = {} if scale is None else dict(scale=scale)
    return Case(_recipe("relu_case", seed=seed, shape=tuple(shape), dtype=dtype, **extreme),
                dict(X=X.astype(dtype), dout=rng.standard_normal(shape).astype(dtype)))


# The kink values of RELU-2: exact zeros of both signs and the smallest magnitudes either side.
KINKS = (0.0, -0.0, 1e-30, -1e-30, 0.0)


def relu_kink_case(seed, shape, dtype="float64"):
    """relu_case with the KINKS written at seed-drawn positions (at least one of each)."""
    case = relu_case(seed, shape, dtype)
    X = case.arrays["X"]
    rng = np.random.default_rng([seed, 2])
    where = rng.choice(X.size, min(X.size, 2 * len(KINKS)), replace=False)
    X.flat[where] = np.resize(np.array(KINKS, dtype), where.size)
    case.recipe = _recipe("relu_kink_case", seed=seed, shape=tuple(shape), dtype=dtype)
    return case


def fc_case(seed, N, D, M, dtype="float64"):
    """Standard-normal X, W, b and an upstream gradient dZ of Z's shape (N, M)."""
    rng = np.random.default_rng(seed)
    arrays = dict(X=rng.standard_normal((N, D)), W=rng.standard_normal((D, M)),
                  b=rng.standard_normal(M), dZ=rng.standard_normal((N, M)))
    return Case(_recipe("fc_case", seed=seed, N=N, D=D, M=M, dtype=dtype),
                {k: v.astype(dtype) for k, v in arrays.items()})


def loss_case(seed, N, K, scale=1.0, dtype="float64"):
    """Logits of the given scale, within LOSS-3's promise of |Z| <= 1e4."""
    rng = np.random.default_rng(seed)
    Z = np.clip(rng.standard_normal((N, K)) * scale, -1e4, 1e4)
    y = rng.integers(0, K, N)
    return Case(_recipe("loss_case", seed=seed, N=N, K=K, scale=scale, dtype=dtype),
                dict(Z=Z.astype(dtype), y=y))


# The logits of LOSS-3 that break the usual shortcuts (see extreme_loss_case).
EXTREME_LOGITS = ("huge-positive", "huge-negative", "mixed-rows", "label-underflow",
                  "huge-spread")


def extreme_loss_case(seed, kind, dtype="float64"):
    """Logits up to 1e4 in magnitude where one unstable way to compute the loss fails, so that a
    failure points at its cause (LOSS-3). Sizes, values and labels come from the seed:

    - huge-positive: every row's maximum near +1e4 (exp of the raw logits overflows);
    - huge-negative: every row's maximum near -9e3 (exp of the raw logits is 0 in a whole row);
    - mixed-rows: rows near +9.7e3 and rows near -9.7e3 in one batch (shifting by the batch's
      maximum instead of each row's leaves the low rows at exp(-2e4) = 0);
    - label-underflow: the labelled logit lies so far below its row's maximum that its probability
      is below the dtype's smallest number, while no exp overflows: log(softmax) is -inf, only
      log-softmax computed as shifted - log(sum(exp(shifted))) gets the loss (hundreds) right;
    - huge-spread: logits across [-1e4, 1e4], labels anywhere (losses up to 2e4).

    In the first three, maxima lie within 50 of each other, the other logits within 250 of their
    row's maximum and the label within 30 of it (its probability is far from underflowing).
    """
    rng = np.random.default_rng(seed)
    N, K = int(rng.integers(3, 7)), int(rng.integers(3, 9))
    rows, spread = np.arange(N), rng.random((N, K))
    y = rng.integers(0, K, N)
    tops = {"huge-positive": np.full(N, 1e4), "huge-negative": np.full(N, -9e3),
            "mixed-rows": np.where(rng.permutation(N) % 2 == 0, 9.7e3, -9.7e3)}
    if kind in tops:
        top = tops[kind] - 50 * rng.random(N)
        Z = top[:, None] - 200 - 50 * spread
        Z[rows, y] = top - 30 * rng.random(N)
        Z[rows, (y + 1) % K] = top
    elif kind == "label-underflow":
        info = np.finfo(dtype)
        top = 0.8 * float(np.log(info.max))                  # exp(top) is finite
        gap = 1.2 * -float(np.log(info.smallest_subnormal))  # exp(-gap) is 0
        Z = top - (gap / 2) * spread                         # the other logits: within gap / 2
        Z[rows, y] = top - gap - rng.random(N)
        Z[rows, (y + 1) % K] = top                           # one logit at the top in every row
    elif kind == "huge-spread":
        Z = 1e4 - 2e4 * spread ** 3                          # maxima near 1e4, values to -1e4
        Z[rows, rng.integers(0, K, N)] = rng.uniform(9e3, 1e4, N)
    else:
        raise ValueError(f"unknown kind {kind!r}; expected one of {EXTREME_LOGITS}")
    return Case(_recipe("extreme_loss_case", seed=seed, kind=kind, dtype=dtype),
                dict(Z=Z.astype(dtype), y=y))


def network_case(seed, N, dtype="float64", margin=1e-5):
    """Images, labels and parameters whose activations keep `margin` clear of every kink (TOL-5).

    Biases are drawn non-zero so that no pre-activation sits at exactly 0 on a blank pixel; a draw
    that comes too close to a kink is replaced by the next seed, deterministically."""
    X, y, params = _network_draw(seed, N, margin)
    return Case(_recipe("network_case", seed=seed, N=N, dtype=dtype),
                dict(X=X.astype(dtype), y=y.copy(), **{k: v.astype(dtype) for k, v in params.items()}))


@functools.lru_cache(maxsize=32)
def _network_draw(seed, N, margin):
    """Cached: the oracle network that vets a draw is the slow part. Callers get copies."""
    for attempt in range(100):
        rng = np.random.default_rng([seed, attempt])
        X = rng.random((N, 1, 28, 28))
        y = rng.integers(0, 10, N)
        params = {}
        for name, shape in oracles.PARAM_SHAPES.items():
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            scale = np.sqrt(2.0 / fan_in) if name.startswith("W") else 0.1
            params[name] = rng.standard_normal(shape) * scale
        _, kink_margin, gap, _ = oracles.network(X, params)
        if kink_margin >= margin and gap >= margin:
            return X, y, params
    raise RuntimeError(f"network_case(seed={seed}) found no kink-free draw")  # pragma: no cover


def params_of(case):
    return {k: case.arrays[k].copy() for k in oracles.PARAM_SHAPES}


def predict_case(seed, N, dtype="float64"):
    """A network case whose top two oracle logits differ by at least 1e-3 on every image (TOL-6),
    with the oracle's labels as `case.labels`."""
    attempt, labels = _predict_draw(seed, N)
    case = network_case(seed * 100 + attempt, N, dtype)
    case.recipe = _recipe("predict_case", seed=seed, N=N, dtype=dtype)
    case.arrays["labels"] = labels.copy()
    return case


@functools.lru_cache(maxsize=16)
def _predict_draw(seed, N):
    for attempt in range(200):
        case = network_case(seed * 100 + attempt, N)
        labels, gap = oracles.network_predict(case.X, params_of(case))
        # Clear labels, and not all one class: a function answering a constant must not match.
        if gap >= 1e-3 and len(set(labels.tolist())) >= min(N, 3):
            return attempt, labels
    raise RuntimeError("no predict case with clear labels")  # pragma: no cover


def close_logits_case(seed, N, dtype="float64"):
    """A network case whose top two oracle logits are close on every image: 2e-3 to 6e-3 apart
    (TOL-6 promises 1e-3), equal when rounded to two decimals, the runner-up at a lower class index
    than the winner, so that any rounding of the logits before the argmax turns a right label into
    the runner-up's. The winners (`case.labels`) are distinct classes; `case.runners` holds the
    runner-up classes and `case.gaps` the gaps. W4 is solved for so that the oracle's logits are
    the designed ones; the convolutional layers are network_case's (kink-free)."""
    attempt, W4, labels, runners, gaps = _close_logits_draw(seed, N, np.dtype(dtype).name)
    case = network_case(seed * 100 + attempt, N, dtype)
    case.recipe = _recipe("close_logits_case", seed=seed, N=N, dtype=dtype)
    case.arrays.update(W4=W4.astype(dtype), labels=labels.copy(), runners=runners.copy(),
                       gaps=gaps.copy())
    return case


def _hidden(X, params):
    """The oracle network's activations before the last layer (relu of the first fc layer)."""
    h = oracles.maxpool2d(oracles.relu(oracles.conv2d(X, params["W1"], params["b1"], 1, 1)))
    h = oracles.maxpool2d(oracles.relu(oracles.conv2d(h, params["W2"], params["b2"], 1, 1)))
    return oracles.relu(oracles.fully_connected(h.reshape(len(h), -1), params["W3"], params["b3"]))


@functools.lru_cache(maxsize=8)
def _close_logits_draw(seed, N, dtype):
    if not 3 <= N <= 9:
        raise ValueError(f"close_logits_case needs 3 to 9 images (distinct winners), got N={N}")
    for attempt in range(20):
        X, _, params = _network_draw(seed * 100 + attempt, N, 1e-5)
        rng = np.random.default_rng([seed, attempt, 6])
        labels = rng.choice(np.arange(1, 10), N, replace=False)
        runners = np.array([rng.integers(0, w) for w in labels])
        centre = rng.integers(-150, 150, N) / 100           # the value both round to
        low = centre - 0.004 + 0.001 * rng.random(N)        # the runner-up: above centre - 0.005
        gaps = rng.uniform(2e-3, 6e-3, N)                   # the winner: below centre + 0.005
        T = (low + gaps)[:, None] - rng.uniform(0.5, 3.0, (N, 10))
        rows = np.arange(N)
        T[rows, runners], T[rows, labels] = low, low + gaps
        W4 = np.linalg.lstsq(_hidden(X, params), T - params["b4"], rcond=None)[0]
        # What the test compares with: the oracle on the arrays in the dtype under test.
        cast = {k: v.astype(dtype).astype(np.float64) for k, v in dict(params, W4=W4).items()}
        Z = oracles.network(X.astype(dtype).astype(np.float64), cast)[0]
        top2 = np.sort(Z, axis=1)[:, -2:]
        if (np.array_equal(Z.argmax(axis=1), labels)
                and np.array_equal(np.argsort(Z)[:, -2], runners)
                and (top2[:, 1] - top2[:, 0]).min() >= 1.5e-3
                and np.array_equal(Z[rows, labels].round(2), Z[rows, runners].round(2))
                and np.abs(Z[rows, labels] - centre).max() <= 4e-3
                and np.abs(Z[rows, runners] - centre).max() <= 4e-3):
            return attempt, W4, labels, runners, top2[:, 1] - top2[:, 0]
    raise RuntimeError(f"close_logits_case(seed={seed}) found no draw")  # pragma: no cover
