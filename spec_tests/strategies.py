"""Hypothesis strategies for valid (and deliberately broken) layer settings.

Strategies draw small settings plus a seed; the arrays themselves come from the seeded makers in
cases.py, so a falsifying example prints as a handful of integers that rebuild it exactly.
"""
from hypothesis import strategies as st

dtypes = st.sampled_from(["float32", "float64"])
seeds = st.integers(0, 2**16)


@st.composite
def conv_settings(draw):
    """N, C, H, W, F, KH, KW, stride, padding with the kernel fitting the padded input (CONV-1)."""
    padding = draw(st.integers(0, 2))
    H, W = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    KH = draw(st.integers(1, min(5, H + 2 * padding)))
    KW = draw(st.integers(1, min(5, W + 2 * padding)))
    return dict(N=draw(st.integers(1, 3)), C=draw(st.integers(1, 3)), H=H, W=W,
                F=draw(st.integers(1, 4)), KH=KH, KW=KW, stride=draw(st.integers(1, 3)),
                padding=padding)


@st.composite
def pool_settings(draw):
    """N, C, H, W, pool_size, stride with the window fitting the image (POOL-1)."""
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    return dict(N=draw(st.integers(1, 3)), C=draw(st.integers(1, 3)), H=H, W=W,
                pool_size=draw(st.integers(1, min(4, H, W))), stride=draw(st.integers(1, 3)))


fc_settings = st.fixed_dictionaries(dict(N=st.integers(1, 8), D=st.integers(1, 12),
                                         M=st.integers(1, 12)))

# Scales up to 300: exp of a raw logit overflows float32 there (and float64 past 709).
loss_settings = st.fixed_dictionaries(dict(N=st.integers(1, 8), K=st.integers(2, 12),
                                           scale=st.sampled_from([0.1, 1.0, 30.0, 300.0])))

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@st.composite
def broken_conv_settings(draw):
    """Valid conv settings with exactly one thing broken: (settings, argument, how, received)."""
    s = draw(conv_settings())
    how = draw(st.sampled_from(["channels", "kernel", "stride", "padding", "bias"]))
    if how == "channels":
        s["WC"] = draw(st.integers(1, 4).filter(lambda c: c != s["C"]))
        return s, "W", how, (s["F"], s["WC"], s["KH"], s["KW"])
    if how == "kernel":
        s["KH"] = s["H"] + 2 * s["padding"] + draw(st.integers(1, 3))
        return s, "W", how, (s["F"], s["C"], s["KH"], s["KW"])
    if how == "stride":
        s["stride"] = draw(st.integers(-2, 0))
        return s, "stride", how, s["stride"]
    if how == "padding":
        s["padding"] = draw(st.integers(-3, -1))
        return s, "padding", how, s["padding"]
    s["Fb"] = draw(st.integers(1, 5).filter(lambda f: f != s["F"]))
    return s, "b", how, (s["Fb"],)


@st.composite
def broken_pool_settings(draw):
    """Valid pool settings with one thing broken: (settings, argument, received)."""
    s = draw(pool_settings())
    how = draw(st.sampled_from(["too-big", "pool-size", "stride"]))
    if how == "too-big":
        s["pool_size"] = min(s["H"], s["W"]) + draw(st.integers(1, 3))
        return s, "pool_size", s["pool_size"]
    if how == "pool-size":
        s["pool_size"] = draw(st.integers(-2, 0))
        return s, "pool_size", s["pool_size"]
    s["stride"] = draw(st.integers(-2, 0))
    return s, "stride", s["stride"]
