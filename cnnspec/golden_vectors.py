"""Regenerate the golden vectors, or check that they regenerate (SPEC GOLD-1, GOLD-2).

    cnnspec golden                  rewrite the golden folder cnnspec reads (golden/ in a checkout)
    cnnspec golden --out DIR        write them somewhere else
    cnnspec golden --check          regenerate into a temporary folder and compare with the
                                    stored vectors; exit 1 on any difference

Every input comes from a fixed seed and every expected output is an exact answer (exp and log: to
60 digits) rounded once to float64, so the regenerated files are the stored ones bit for bit on
any machine, any BLAS and any thread count (GOLD-2). golden/README.md explains the format.
"""
import argparse
import decimal
import functools
import hashlib
import io
import json
import struct
import sys
import tempfile
import time
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .spec_tests import oracles

# How the expected values are made exact (independent of summation order):
# - Inputs lie on fixed-point grids (layer values are multiples of 2**-16 with |x| < 8, pixels
#   multiples of 1/256), exactly representable in float32 and float64. One file per case then
#   serves both dtypes (its inputs are cast exactly to the dtype under test) and the network's 100k
#   parameters fit the size budget once.
# - The layers come from the independent float64 oracles (cnnspec.spec_tests.oracles: SciPy and
#   NumPy, never the reference). On the grid every product is a multiple of 2**-32 with at most 38
#   significant bits, and every partial sum, in any order, is bounded by the same sum over absolute
#   values (TOL-1's M): while that stays below 2**53 * 2**-32, float64 adds without rounding.
#   `exact_sums` checks the bound for every output, so these values cannot depend on the order.
# - The network's sums are longer and its deeper values finer than float64 holds, so it runs here
#   in Python integers (fixed point: every layer's scale is a power of two), which is exact. The
#   softmax's exp and log run in 60-digit decimal arithmetic (Python's decimal module: exp and ln
#   correctly rounded, the same digits on every machine), as do the softmax loss layer's own
#   vectors. Only the final conversion to float64 rounds.
# - The oracles' float64 network and loss cross-check these exact values when they are made.
# - .npz files are written by hand (stored zip entries with a fixed date, .npy headers built here)
#   because np.savez stamps each entry with the current time.

FORMAT_VERSION = 1
GENERATOR = "cnnspec golden (or python scripts/make_golden.py)"
DTYPES = {"float64": "f64", "float32": "f32"}
GRID = 2.0 ** -16          # layer inputs are multiples of GRID ...
PRODUCT = GRID * GRID      # ... so every product of two is a multiple of PRODUCT


def stored_golden():
    """The golden vectors cnnspec ships, wherever it is installed (golden/ in a checkout)."""
    return resources.files("cnnspec.golden")


# -- writing .npz files that are the same bytes on every run --------------------------------------

def npy_bytes(array):
    """The .npy v1.0 encoding of `array`, header built here so no NumPy version changes it."""
    array = np.asarray(array, order="C")           # (ascontiguousarray would make 0-d 1-d)
    array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    shape = tuple(int(n) for n in array.shape)
    header = f"{{'descr': '{array.dtype.str}', 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"   # the format aligns data to 64 bytes
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") \
        + array.tobytes()


def write_npz(path, arrays):
    """An uncompressed zip of NAME.npy entries with a fixed date: readable by np.load and any zip
    library, and byte-for-byte reproducible (np.savez would stamp the current time)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            if name.startswith("expected.") and array.dtype.kind == "f":
                array = array + array.dtype.type(0)   # -0.0 + 0 is +0.0: one spelling of zero
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3                # "made on Unix", whatever machine runs this
            info.external_attr = 0o644 << 16
            archive.writestr(info, npy_bytes(array))
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- inputs ---------------------------------------------------------------------------------------

def grid_normal(rng, shape, scale=1.0, step=GRID, limit=7.9):
    """Normal values of the given scale, clipped to +-limit and rounded to multiples of `step`
    (exact in float32)."""
    values = np.clip(rng.standard_normal(shape) * scale, -limit, limit)
    return (np.round(values / step) * step).astype(np.float32)


def eps(dtype):
    return float(np.finfo(dtype).eps)


# -- exact arithmetic -----------------------------------------------------------------------------

def exact_sums(unit, **magnitudes):
    """Check that float64 computed these sums exactly, whatever the order: every term is a multiple
    of `unit`, and every partial sum is bounded by the sum of the terms' absolute values (the
    magnitudes given, TOL-1's M), so while that stays below 2**53 * unit each partial sum is
    representable and no addition rounds."""
    for name, M in magnitudes.items():
        if not float(np.max(M)) < 2.0 ** 53 * unit:
            raise RuntimeError(f"{name} sums to {float(np.max(M))}, beyond 2**53 * {unit}: float64 "
                               f"would round it and its value would depend on summation order")


def on_grid(array, step, name):
    """`array` as float64, after checking that every element is a multiple of `step`."""
    array = np.asarray(array, np.float64)
    if not np.array_equal(np.round(array / step) * step, array):
        raise RuntimeError(f"{name} is not on the grid of multiples of {step}")
    return array


def fixed(array, bits):
    """`array * 2**bits` as exact Python integers (an object array); the array must lie on the
    grid of multiples of 2**-bits."""
    scaled = on_grid(array, 2.0 ** -bits, f"an array of {np.shape(array)}") * 2.0 ** bits
    return scaled.astype(np.int64).astype(object)


def unfixed(array, bits):
    """Integers scaled by 2**bits back to float64, each rounded once (int to float is correctly
    rounded, the power of two exact)."""
    return np.asarray(array, object).astype(np.float64) * 2.0 ** -bits


DIGITS = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, Emin=-999999, Emax=999999,
                         traps=[decimal.InvalidOperation, decimal.DivisionByZero,
                                decimal.Overflow])   # explicit: never the global context


def softmax_cross_entropy_exact(Z, bits, y):
    """(loss, dZ) of SPEC LOSS-1/LOSS-2 for integer logits Z (scaled by 2**bits), as Decimals of
    60 significant digits. Each operation is correctly rounded (decimal's exp and ln too) and runs
    in a fixed order, so the digits are the same on every machine."""
    ctx, scale = DIGITS, decimal.Decimal(1 << bits)
    total = functools.partial(functools.reduce, ctx.add)
    N, K = Z.shape
    losses, dZ = [], np.empty((N, K), object)
    for n in range(N):
        z = [ctx.divide(decimal.Decimal(int(v)), scale) for v in Z[n]]
        top = max(z)
        e = [ctx.exp(ctx.subtract(v, top)) for v in z]
        s = total(e)
        losses.append(ctx.subtract(ctx.add(top, ctx.ln(s)), z[int(y[n])]))
        for k in range(K):
            p = ctx.divide(e[k], s)
            dZ[n, k] = ctx.divide(ctx.subtract(p, 1) if k == y[n] else p, N)
    return ctx.divide(total(losses), N), dZ


def decimals_to_float(array):
    return np.vectorize(float, otypes=[np.float64])(array)


def cross_check(what, exact, oracle, rtol=1e-9):
    """The exact values against the float64 oracle's: a disagreement beyond float64 rounding is a
    bug in this generator (or in the oracle), never a reason to store either."""
    for got, want in zip(exact, oracle):
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        scale = max(1.0, float(np.abs(got).max()))
        if not float(np.abs(got - want).max()) <= rtol * scale:
            raise RuntimeError(f"{what}: the exact values and the float64 oracle differ by "
                               f"{float(np.abs(got - want).max()):.3g}")


# -- the manifest ---------------------------------------------------------------------------------

RULES = [
    "Each vector calls `function` with the arrays named in `inputs` (positionally, in that order) "
    "and the scalars in `arguments` (by keyword). Arrays are looked up by name in the entry's "
    "`files` (.npz archives of .npy arrays). An input named `params` is the dict "
    "{key: array 'params.<key>'}.",
    "Floating inputs are cast to the entry's `dtype` before the call. The cast is exact: every "
    "stored input is representable in float32, so one file serves the float32 and the float64 "
    "entries. Integer inputs (labels) are passed as stored.",
    "A backward function's entry has `forward`: call forward.function with forward.inputs and "
    "forward.arguments, then call the backward function with `inputs` followed by the cache it "
    "returned.",
    "`returns` names the items of the returned tuple. An output named 'new_params.W1' is item "
    "'W1' of the returned dict new_params. Output NAME's expected value is array 'expected.NAME'.",
    "Expected values are exact answers rounded once to float64, and stored in float64 for the "
    "float32 entries too: a float32 result is judged against the exact answer, not against "
    "another float32 rounding (TOL-1). They come from independent oracles (SciPy and NumPy in "
    "float64, exact on the inputs' grid; the network in integer fixed point; exp and log in "
    "60-digit decimal arithmetic), not from the reference implementation.",
    "An output passes when |got - expected| <= tolerance elementwise. The tolerance is "
    "tolerance.value when given, else 4 * K * eps * M (SPEC TOL-1), with eps the entry's "
    "tolerance.eps and K and M each a number or the name of an array in the entry's files.",
    "Type 'array': the entry's dtype (SPEC GEN-2) and the expected shape; 'integer array': any "
    "integer dtype; 'float': a scalar (a Python float in Python, SPEC GEN-7).",
    "`files` gives each file's SHA-256: check it first; a mismatch means golden/ is corrupted.",
    "Each file's `regenerated` says how the generator reproduces it. 'exact': bit for bit on any "
    "machine, BLAS and thread count, because nothing in it depends on summation order or libm "
    "(sums are exact, exp and log correctly rounded to 60 digits, then one rounding to float64); "
    "`cnnspec golden --check` requires exactly these bytes and this manifest.",
]


class Golden:
    """Collects vector files and manifest entries, then writes them to a folder."""

    def __init__(self):
        self.files = {}       # file name -> (arrays, seed)
        self.vectors = []

    def file(self, name, seed, arrays):
        self.files[name] = (arrays, seed)
        return name

    def vector(self, case, function, clause, dtype, files, inputs, arguments, returns, outputs,
               forward=None):
        entry = {"id": f"{function}-{DTYPES.get(dtype, dtype)}-{case}", "function": function,
                 "clause": clause, "dtype": dtype, "files": list(files)}
        if forward:
            entry["forward"] = forward
        outputs = [{"name": o["name"], "clause": CLAUSES[function][o["name"].split(".")[0]], **o}
                   for o in outputs]
        entry.update(inputs=list(inputs), arguments=dict(arguments), returns=list(returns),
                     outputs=outputs)
        self.vectors.append(entry)

    def write(self, folder):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in set(p.name for p in folder.glob("*.npz")) - set(self.files):
            (folder / stale).unlink()             # a case that was renamed or removed
        files = {}
        for name, (arrays, seed) in self.files.items():
            digest = write_npz(folder / name, arrays)
            files[name] = {"sha256": digest, "bytes": (folder / name).stat().st_size, "seed": seed,
                           "regenerated": "exact"}
        manifest = {
            "format": "cnnspec-golden",
            "format_version": FORMAT_VERSION,
            "generator": GENERATOR,
            "spec": "SPEC.md, clauses GOLD-1 and GOLD-2; tolerances TOL-1 to TOL-6",
            "rules": RULES,
            "files": files,
            "vectors": self.vectors,
        }
        text = json.dumps(manifest, indent=1)
        for entry in list(files.values()) + self.vectors:   # one file, one vector per line
            text = text.replace(json.dumps(entry, indent=1).replace("\n", "\n  "), json.dumps(entry))
        (folder / "manifest.json").write_text(text + "\n", encoding="utf-8")
        return manifest


# The SPEC clause each output pins (a failure cites it; the grader gives credit per output).
CLAUSES = {
    "conv2d": {"out": "CONV-2"}, "conv2d_backward": {"dX": "CONV-3", "dW": "CONV-4", "db": "CONV-5"},
    "maxpool2d": {"out": "POOL-2"}, "maxpool2d_backward": {"dX": "POOL-3, POOL-4"},
    "relu": {"out": "RELU-1"}, "relu_backward": {"dX": "RELU-2"},
    "fully_connected_forward": {"Z": "FC-1"},
    "fully_connected_backward": {"dX": "FC-2", "dW": "FC-3", "db": "FC-3"},
    "softmax_cross_entropy_loss": {"loss": "LOSS-1, LOSS-3", "dZ": "LOSS-2, LOSS-3"},
    "forward_backward": {"loss": "NET-2", "new_params": "NET-3"},
    "predict": {"labels": "PRED-1, PRED-2"}, "test_accuracy": {"accuracy": "ACC-1"},
    "initialize_parameters": {"params": "INIT-1"},
}


def output(name, tolerance, kind="array"):
    return {"name": name, "type": kind, "tolerance": tolerance}


def exact(clause="TOL-2"):
    return {"clause": clause, "formula": "exact", "value": 0.0}


def summed(dtype, K, M, what):
    """TOL-1: K terms were summed; M (an array name) is the same sum over absolute values."""
    return {"clause": "TOL-1", "formula": f"4 * K * eps * M, M = {what}", "K": K,
            "eps": eps(dtype), "M": M}


def seed_of(seed):
    return {"numpy.random.default_rng": seed}


# -- layers ---------------------------------------------------------------------------------------

CONV_CASES = [   # name, seed, N, C, H, W, F, KH, KW, stride, padding
    ("s1p0", 11, 2, 2, 5, 5, 3, 3, 3, 1, 0),
    ("s1p1", 12, 2, 3, 5, 6, 2, 3, 3, 1, 1),          # the network's setting
    ("s2p0", 13, 1, 2, 6, 6, 2, 3, 3, 2, 0),          # the last row and column fit no window
    ("s2p1", 14, 2, 2, 5, 5, 3, 3, 3, 2, 1),
    ("s2p2-k2x3", 15, 1, 2, 4, 5, 2, 2, 3, 2, 2),     # non-square kernel, padding 2
    ("s3p1-k1x4", 16, 2, 1, 6, 7, 2, 1, 4, 3, 1),     # 1x4 kernel, stride 3
    ("s1p0-k3x3-out1x1", 17, 2, 2, 3, 3, 2, 3, 3, 1, 0),  # the kernel covers the whole input
]


def conv_vectors(golden):
    for name, seed, N, C, H, W, F, KH, KW, stride, padding in CONV_CASES:
        rng = np.random.default_rng(seed)
        Ho, Wo = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
        X, Wt, b, dout = (grid_normal(rng, s) for s in
                          [(N, C, H, W), (F, C, KH, KW), (F,), (N, F, Ho, Wo)])
        args = {"stride": stride, "padding": padding}
        X64, W64, b64, dout64 = (a.astype(np.float64) for a in (X, Wt, b, dout))
        out = oracles.conv2d(X64, W64, b64, stride, padding)
        dX, dW, db = oracles.conv2d_backward(dout64, X64, W64, stride, padding)
        # M of TOL-1: the same sums over absolute values; they also bound every partial sum.
        M_out = oracles.conv2d_magnitude(X64, W64, b64, stride, padding)
        M_dX, M_dW, M_db = oracles.conv2d_backward_magnitude(dout64, X64, W64, stride, padding)
        exact_sums(PRODUCT, out=M_out, dX=M_dX, dW=M_dW, db=M_db)
        file = golden.file(f"conv2d_{name}.npz", seed_of(seed), {
            "X": X, "W": Wt, "b": b, "dout": dout,
            "expected.out": out, "expected.dX": dX, "expected.dW": dW, "expected.db": db,
            "M.out": M_out, "M.dX": M_dX, "M.dW": M_dW, "M.db": M_db})
        for dtype in DTYPES:
            golden.vector(name, "conv2d", "CONV-2", dtype, [file], ["X", "W", "b"], args,
                          ["out", "cache"], [output("out", summed(
                              dtype, C * KH * KW + 1, "M.out", "conv2d(|X|, |W|, |b|)"))])
            golden.vector(name, "conv2d_backward", "CONV-3, CONV-4, CONV-5", dtype, [file],
                          ["dout"], {}, ["dX", "dW", "db"], [
                              output("dX", summed(dtype, F * KH * KW, "M.dX", "dX for |dout|, |W|")),
                              output("dW", summed(dtype, N * Ho * Wo, "M.dW", "dW for |dout|, |X|")),
                              output("db", summed(dtype, N * Ho * Wo, "M.db", "sum of |dout|")),
                          ], forward={"function": "conv2d", "inputs": ["X", "W", "b"],
                                      "arguments": args})


POOL_CASES = [   # name, seed, N, C, H, W, pool_size, stride, values
    ("p2s2", 21, 2, 2, 6, 6, 2, 2, "normal"),
    ("p2s2-odd", 22, 1, 2, 5, 7, 2, 2, "normal"),     # the last row and column fit no window
    ("p3s2-overlap", 23, 1, 2, 7, 7, 3, 2, "normal"),
    ("p3s1-overlap", 24, 1, 2, 5, 6, 3, 1, "normal"),
    ("p2s3-gaps", 25, 1, 1, 8, 8, 2, 3, "normal"),    # stride > pool: skipped pixels get 0
    ("p2s2-ties", 26, 2, 2, 4, 4, 2, 2, "ties"),      # POOL-3: the first maximum takes it all
    ("p3s1-ties", 27, 1, 2, 5, 5, 3, 1, "ties"),      # ties inside overlapping windows
]


def pool_vectors(golden):
    for name, seed, N, C, H, W, p, s, values in POOL_CASES:
        rng = np.random.default_rng(seed)
        Ho, Wo = (H - p) // s + 1, (W - p) // s + 1
        if values == "ties":
            X = rng.integers(-1, 2, (N, C, H, W)).astype(np.float32)   # -1, 0, 1: ties everywhere
            X[0, 0, :p, :p] = 1.0       # a window of equal maxima: only its top-left gets dout
            X[-1, -1] = -2.0            # a whole channel of equal negative values
        else:
            X = grid_normal(rng, (N, C, H, W))
        dout = grid_normal(rng, (N, C, Ho, Wo))
        args = {"pool_size": p, "stride": s}
        out = oracles.maxpool2d(X, p, s)
        dX = oracles.maxpool2d_backward(dout, X, p, s)
        # Overlapping windows that route to one element add their gradients (POOL-4): TOL-1 with
        # K = the number of such windows. Elements fed by one window at most are exact (TOL-2).
        windows = oracles.maxpool2d_backward(np.ones(dout.shape), X, p, s)
        M_sum = oracles.maxpool2d_backward(abs(dout), X, p, s)
        exact_sums(GRID, dX=M_sum)
        M_dX = np.where(windows >= 2, M_sum, 0.0)
        file = golden.file(f"maxpool2d_{name}.npz", seed_of(seed), {
            "X": X, "dout": dout, "expected.out": out, "expected.dX": dX,
            "K.dX": windows, "M.dX": M_dX})
        for dtype in DTYPES:
            golden.vector(name, "maxpool2d", "POOL-1, POOL-2", dtype, [file], ["X"], args,
                          ["out", "cache"], [output("out", exact())])
            tolerance = summed(dtype, "K.dX", "M.dX", "the sum of |dout| of the windows that "
                                                      "route to an element, 0 where fewer than 2")
            tolerance["clause"] = "TOL-2"
            golden.vector(name, "maxpool2d_backward", "POOL-3, POOL-4", dtype, [file], ["dout"], {},
                          ["dX"], [output("dX", tolerance)],
                          forward={"function": "maxpool2d", "inputs": ["X"], "arguments": args})


RELU_CASES = [("4d", 31, (2, 2, 3, 4)), ("2d", 32, (3, 7)), ("1d", 33, (11,))]


def relu_vectors(golden):
    for name, seed, shape in RELU_CASES:
        rng = np.random.default_rng(seed)
        X = grid_normal(rng, shape)
        X.flat[::4] = 0.0           # RELU-2: exact zeros get no gradient
        X.flat[1::9] = -0.0         # and neither does negative zero
        dout = grid_normal(rng, shape)
        out = oracles.relu(X)
        dX = oracles.relu_backward(dout, X)
        file = golden.file(f"relu_{name}.npz", seed_of(seed),
                           {"X": X, "dout": dout, "expected.out": out, "expected.dX": dX})
        for dtype in DTYPES:
            golden.vector(name, "relu", "RELU-1", dtype, [file], ["X"], {}, ["out", "cache"],
                          [output("out", exact())])
            golden.vector(name, "relu_backward", "RELU-2", dtype, [file], ["dout"], {}, ["dX"],
                          [output("dX", exact())],
                          forward={"function": "relu", "inputs": ["X"], "arguments": {}})


FC_CASES = [("n3d10m4", 41, 3, 10, 4), ("n1d7m1", 42, 1, 7, 1), ("n4d32m6", 43, 4, 32, 6)]


def fc_vectors(golden):
    for name, seed, N, D, M in FC_CASES:
        rng = np.random.default_rng(seed)
        X, W, b, dZ = (grid_normal(rng, s) for s in [(N, D), (D, M), (M,), (N, M)])
        Z = oracles.fully_connected(X, W, b)
        dX, dW, db = oracles.fully_connected_backward(dZ, X, W)
        M_Z = oracles.fully_connected(abs(X), abs(W), abs(b))
        M_dX, M_dW, M_db = oracles.fully_connected_backward(abs(dZ), abs(X), abs(W))
        exact_sums(PRODUCT, Z=M_Z, dX=M_dX, dW=M_dW, db=M_db)
        file = golden.file(f"fully_connected_{name}.npz", seed_of(seed), {
            "X": X, "W": W, "b": b, "dZ": dZ,
            "expected.Z": Z, "expected.dX": dX, "expected.dW": dW, "expected.db": db,
            "M.Z": M_Z, "M.dX": M_dX, "M.dW": M_dW, "M.db": M_db})
        for dtype in DTYPES:
            golden.vector(name, "fully_connected_forward", "FC-1", dtype, [file], ["X", "W", "b"],
                          {}, ["Z", "cache"],
                          [output("Z", summed(dtype, D + 1, "M.Z", "|X| @ |W| + |b|"))])
            golden.vector(name, "fully_connected_backward", "FC-2, FC-3", dtype, [file], ["dZ"], {},
                          ["dX", "dW", "db"], [
                              output("dX", summed(dtype, M, "M.dX", "|dZ| @ |W|.T")),
                              output("dW", summed(dtype, N, "M.dW", "|X|.T @ |dZ|")),
                              output("db", summed(dtype, N, "M.db", "|dZ| summed over the batch")),
                          ], forward={"function": "fully_connected_forward",
                                      "inputs": ["X", "W", "b"], "arguments": {}})


LOSS_CASES = [   # name, seed, N, K, logit scale, label dtype
    ("n4k5", 51, 4, 5, 1.0, "int64"),
    ("n1k2", 52, 1, 2, 3.0, "uint8"),                  # LOSS-4: any integer dtype
    ("n6k10-large", 53, 6, 10, 5e3, "int32"),          # LOSS-3: logits up to 1e4
]


def loss_vectors(golden):
    for name, seed, N, K, scale, label_dtype in LOSS_CASES:
        rng = np.random.default_rng(seed)
        Z = grid_normal(rng, (N, K), scale, step=2.0 ** -8, limit=1e4)
        y = rng.integers(0, K, N).astype(label_dtype)
        if scale > 1e3:
            Z[0, :2] = 1e4           # two classes tied at the largest logit
            Z[1, :] = -1e4           # every logit at the most negative value
            Z[2, 3], y[2] = -1e4, 3  # the labelled class far below the others
        loss, dZ = softmax_cross_entropy_exact(fixed(Z, 8), 8, y)
        loss, dZ = float(loss), decimals_to_float(dZ)
        cross_check("softmax_cross_entropy_loss", (loss, dZ), oracles.softmax_cross_entropy(Z, y))
        file = golden.file(f"softmax_cross_entropy_loss_{name}.npz", seed_of(seed), {
            "Z": Z, "y": y, "expected.loss": np.float64(loss), "expected.dZ": dZ})
        for dtype in DTYPES:
            tol = 4 * (K + float(np.abs(Z).max())) * eps(dtype)        # TOL-3
            formula = f"4 * (K + max|Z|) * eps, K = {K} classes, eps = {eps(dtype)}"
            golden.vector(name, "softmax_cross_entropy_loss", "LOSS-1, LOSS-2, LOSS-3", dtype,
                          [file], ["Z", "y"], {}, ["loss", "dZ"], [
                              output("loss", {"clause": "TOL-3", "formula": formula, "value": tol},
                                     kind="float"),
                              output("dZ", {"clause": "TOL-3", "formula": formula + ", / N",
                                            "value": tol / N}),
                          ])


# -- the network ----------------------------------------------------------------------------------

NETWORK_SEED = 61
NETWORK_IMAGES = 5
LEARNING_RATE = 0.1
LOSS_RTOL = {"float64": 1e-9, "float32": 1e-4}      # SPEC TOL-5

# Fixed point: pixels are multiples of 2**-8, parameters of 2**-16, so each layer's values are
# integers times 2**-BITS[layer]. The gradient starts from dZ rounded to a multiple of 2**-DZ_BITS
# (an error of 1e-37, against the 1e-16 of float64).
PIXEL_BITS, PARAM_BITS, DZ_BITS = 8, 16, 120


def _patches(X, size, padding):
    """The (N*Ho*Wo, C*size*size) matrix of a stride-1 convolution's windows, zero-padded with
    Python integers (np.pad would pad an object array with NumPy's fixed-width ones)."""
    N, C, H, W = X.shape
    Xp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), object)
    Xp[:, :, padding:padding + H, padding:padding + W] = X
    windows = sliding_window_view(Xp, (size, size), axis=(2, 3))     # N, C, Ho, Wo, size, size
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, C * size * size)


def _conv(X, W, b):
    """conv2d with stride 1 and padding 1 (the network's), exact on integers."""
    N, _, H, Wd = X.shape
    out = _patches(X, W.shape[2], 1) @ W.reshape(len(W), -1).T + b
    return out.reshape(N, H, Wd, -1).transpose(0, 3, 1, 2)


def _conv_backward(d, X, W, input_gradient=True):
    N, C, H, Wd = X.shape
    F, _, size, _ = W.shape
    d = d.transpose(0, 2, 3, 1).reshape(-1, F)
    dW = (d.T @ _patches(X, size, 1)).reshape(W.shape)
    if not input_gradient:
        return None, dW, d.sum(axis=0)
    cols = (d @ W.reshape(F, -1)).reshape(N, H, Wd, C, size, size)
    dXp = np.zeros((N, C, H + 2, Wd + 2), object)
    for u in range(size):
        for v in range(size):
            dXp[:, :, u:u + H, v:v + Wd] += cols[..., u, v].transpose(0, 3, 1, 2)
    return dXp[:, :, 1:-1, 1:-1], dW, d.sum(axis=0)


def _relu_pool(a):
    """relu, then 2x2 max pooling with stride 2; also where each window's first maximum lies."""
    r = np.maximum(a, 0)
    windows = sliding_window_view(r, (2, 2), axis=(2, 3))[:, :, ::2, ::2]
    return windows.max(axis=(4, 5)), r, oracles.first_max_offsets(r, 2, 2)


def _pool_relu_backward(d, a, where):
    """Route each window's gradient to its first maximum (POOL-3), then through relu (RELU-2)."""
    dr = np.zeros(a.shape, object)
    n, c, _, _ = np.indices(d.shape)
    np.add.at(dr, (n, c, where[..., 0], where[..., 1]), d)
    return np.where(a > 0, dr, 0)


def network_exact(X, params, y=None, learning_rate=None):
    """The SPEC network on fixed-point integers: exact logits, and with labels the exact update.

    Returns a dict: `Z` (logits, float64, each rounded once), `labels`, the kink distances the
    input draw needs (`margin`, `gap`: as in oracles.network) and, given y, `loss` and
    `new_params` (float64, each rounded once from the exact value)."""
    p = {k: fixed(v, PARAM_BITS) for k, v in params.items()}
    x = fixed(X, PIXEL_BITS)
    bits1 = PIXEL_BITS + PARAM_BITS                         # 24
    a1 = _conv(x, p["W1"], p["b1"] << (bits1 - PARAM_BITS))
    h1, r1, where1 = _relu_pool(a1)
    bits2 = bits1 + PARAM_BITS                              # 40
    a2 = _conv(h1, p["W2"], p["b2"] << (bits2 - PARAM_BITS))
    h2, r2, where2 = _relu_pool(a2)
    flat = h2.reshape(len(h2), -1)                          # flatten (c, h, w)
    bits3 = bits2 + PARAM_BITS                              # 56
    a3 = flat @ p["W3"] + (p["b3"] << (bits3 - PARAM_BITS))
    r3 = np.maximum(a3, 0)
    bits4 = bits3 + PARAM_BITS                              # 72
    Z = r3 @ p["W4"] + (p["b4"] << (bits4 - PARAM_BITS))

    top2 = np.sort(Z, axis=1)[:, -2:]
    result = {
        "Z": unfixed(Z, bits4), "labels": Z.argmax(axis=1).astype(np.int64),
        "logit_gap": float(unfixed((top2[:, 1] - top2[:, 0]).min(), bits4)),
        "margin": min(float(unfixed(np.abs(a).min(), bits)) for a, bits in
                      [(a1, bits1), (a2, bits2), (a3, bits3)]),
        "gap": min(oracles.pool_gap(unfixed(r1, bits1), 2, 2, True),
                   oracles.pool_gap(unfixed(r2, bits2), 2, 2, True)),
    }
    if y is None:
        return result

    loss, dZ = softmax_cross_entropy_exact(Z, bits4, y)
    step = decimal.Decimal(1 << DZ_BITS)
    d = np.vectorize(lambda v: int(DIGITS.multiply(v, step).to_integral_value(context=DIGITS)),
                     otypes=[object])(dZ)                   # dZ * 2**DZ_BITS
    grads = {"b4": (d.sum(axis=0), DZ_BITS), "W4": (r3.T @ d, DZ_BITS + bits3)}
    d = np.where(a3 > 0, d @ p["W4"].T, 0)                  # 2**-(DZ_BITS + 16)
    grads["b3"], grads["W3"] = (d.sum(axis=0), DZ_BITS + 16), (flat.T @ d, DZ_BITS + 16 + bits2)
    d = _pool_relu_backward((d @ p["W3"].T).reshape(h2.shape), a2, where2)   # 2**-(DZ_BITS + 32)
    d, dW2, db2 = _conv_backward(d, h1, p["W2"])
    grads["W2"], grads["b2"] = (dW2, DZ_BITS + 32 + bits1), (db2, DZ_BITS + 32)
    d = _pool_relu_backward(d, a1, where1)                  # 2**-(DZ_BITS + 48)
    _, dW1, db1 = _conv_backward(d, x, p["W1"], input_gradient=False)
    grads["W1"], grads["b1"] = (dW1, DZ_BITS + 48 + PIXEL_BITS), (db1, DZ_BITS + 48)

    # new = param - learning_rate * gradient, exactly: learning_rate is the float64 rate * 2**-e.
    rate, rate_scale = float(learning_rate).as_integer_ratio()      # rate_scale = 2**e
    new_params = {}
    for k, (g, bits) in grads.items():
        shift = (1 << bits) * rate_scale
        numerator = p[k] * (shift >> PARAM_BITS) - rate * g          # over 2**bits * rate_scale
        new_params[k] = np.vectorize(lambda v: v / shift, otypes=[np.float64])(numerator)
    result.update(loss=float(loss), new_params={k: new_params[k] for k in params})
    return result


def network_inputs():
    """Images, labels and parameters (float32-representable) whose activations keep 1e-5 clear of
    every kink (no pre-activation that close to 0, no pooling runner-up that close to its
    maximum) and whose top two logits are 1e-3 apart (TOL-6). Float32 rounding moves these values
    by about 1e-6, so a float32 run takes the same linear piece as the float64 answer (TOL-5's
    1e-4 is for finite differences; golden vectors difference nothing). A draw that misses the
    margins is replaced by the next one, deterministically (the margins are measured exactly)."""
    for attempt in range(100):
        rng = np.random.default_rng([NETWORK_SEED, attempt])
        X = (rng.integers(0, 257, (NETWORK_IMAGES, 1, 28, 28)) / 256.0).astype(np.float32)
        params = {}
        for key, shape in oracles.PARAM_SHAPES.items():
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            scale = np.sqrt(2.0 / fan_in) if key.startswith("W") else 0.1
            params[key] = grid_normal(rng, shape, scale)
        net = network_exact(X, params)
        if net["margin"] >= 1e-5 and net["gap"] >= 1e-5 and net["logit_gap"] >= 1e-3:
            labels = net["labels"]
            # Two of five labels disagree with the prediction: test_accuracy must say 60.0.
            y = labels.copy()
            y[[1, 3]] = (labels[[1, 3]] + 1 + rng.integers(0, 9, 2)) % 10
            return [NETWORK_SEED, attempt], X, y.astype(np.int64), params
    raise RuntimeError("no draw of network inputs kept the margins")   # pragma: no cover


def network_vectors(golden):
    seed, X, y, params = network_inputs()
    params64 = {k: v.astype(np.float64) for k, v in params.items()}
    net = network_exact(X, params, y, LEARNING_RATE)
    cross_check("network logits", [net["Z"]], [oracles.network(X, params)[0]])
    cross_check("network loss", [net["loss"]], [oracles.network_loss(X, y, params)])
    loss, new_params, labels = net["loss"], net["new_params"], net["labels"]
    accuracy = 100 * int(np.sum(labels == y)) / len(y)       # exact integers, rounded once

    inputs = golden.file("network_inputs.npz", seed_of(seed),
                         {"X": X, "y": y, **{f"params.{k}": v for k, v in params.items()}})
    fb = golden.file("forward_backward.npz", seed_of(seed), {
        "expected.loss": np.float64(loss),
        **{f"expected.new_params.{k}": v for k, v in new_params.items()}})
    pred = golden.file("predict.npz", seed_of(seed), {"expected.labels": labels})
    acc = golden.file("test_accuracy.npz", seed_of(seed),
                      {"expected.accuracy": np.float64(accuracy)})

    case = f"n{NETWORK_IMAGES}"
    for dtype in DTYPES:
        rtol = LOSS_RTOL[dtype]
        outputs = [output("loss", {"clause": "TOL-5", "formula": f"{rtol} * |loss|",
                                   "value": rtol * abs(loss)}, kind="float")]
        for k, new in new_params.items():
            # The step moves params[k] by learning_rate * gradient; a correct gradient is off by
            # at most the loss's relative error times the gradient's size, plus a few roundings.
            step = float(np.abs(new - params64[k]).max())
            outputs.append(output(f"new_params.{k}", {
                "clause": "TOL-5", "value": 4 * eps(dtype) * float(np.abs(new).max()) + rtol * step,
                "formula": f"4 * eps * max|new {k}| + {rtol} * max|learning_rate * gradient|"}))
        golden.vector(case, "forward_backward", "NET-2, NET-3", dtype, [inputs, fb],
                      ["X", "y", "params"], {"learning_rate": LEARNING_RATE},
                      ["loss", "new_params"], outputs)
        golden.vector(f"{case}-batch2", "predict", "PRED-1, PRED-2", dtype, [inputs, pred],
                      ["X", "params"], {"batch_size": 2}, ["labels"],
                      [output("labels", exact("TOL-6"), kind="integer array")])
        golden.vector(f"{case}-batch3", "test_accuracy", "ACC-1", dtype, [inputs, acc],
                      ["X", "y", "params"], {"batch_size": 3}, ["accuracy"],
                      [output("accuracy", {"clause": "ACC-1", "value": 1e-6,
                                           "formula": "1e-6 percentage points: rounding only "
                                                      "(one image moves it by 100 / N)"},
                              kind="float")])

    # INIT: the values depend on the random generator, so only the keys and shapes are portable.
    golden.vector("shapes", "initialize_parameters", "INIT-1", "any", [], [], {"seed": 0},
                  ["params"], [{"name": f"params.{k}", "type": "array", "shape": list(shape)}
                               for k, shape in oracles.PARAM_SHAPES.items()])


def build():
    golden = Golden()
    for make in (conv_vectors, pool_vectors, relu_vectors, fc_vectors, loss_vectors,
                 network_vectors):
        make(golden)
    return golden


# -- comparing a regenerated folder with the stored one ------------------------------------------

def _generated(folder):
    """The files the generator writes in `folder` (a path or an importlib.resources Traversable)."""
    folder = Path(folder) if isinstance(folder, (str, Path)) else folder
    return {f.name: f for f in folder.iterdir()
            if f.name == "manifest.json" or f.name.endswith(".npz")}


def compare(regenerated, stored):
    """The differences between a regenerated golden folder and the stored one, one line each; an
    empty list means they are the same bit for bit. Every file is 'exact' (see RULES), so any
    difference in a file's bytes is a problem; the line says what changed: which arrays, how many
    elements and by how much, or which manifest fields."""
    new, old = _generated(regenerated), _generated(stored)
    problems = [f"{name}: stored, but the generator no longer writes it"
                for name in sorted(old.keys() - new.keys())]
    problems += [f"{name}: written by the generator, but not among the stored golden vectors"
                 for name in sorted(new.keys() - old.keys())]
    for name in sorted(old.keys() & new.keys()):
        before, after = old[name].read_bytes(), new[name].read_bytes()
        if before != after:
            explain = manifest_differences if name == "manifest.json" else array_differences
            problems += [f"{name}: {line}" for line in explain(before, after)]
    return problems


def _short(value, width=70):
    text = json.dumps(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _json_differences(old, new, path):
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() - new.keys():
            yield f"{path}.{key}: only in the stored manifest"
        for key in new.keys() - old.keys():
            yield f"{path}.{key}: only in the regenerated manifest"
        for key in old.keys() & new.keys():
            yield from _json_differences(old[key], new[key], f"{path}.{key}")
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            yield f"{path}: {len(old)} items stored, {len(new)} regenerated"
        for i, (a, b) in enumerate(zip(old, new)):
            label = f" ({a['id']})" if isinstance(a, dict) and "id" in a else ""
            yield from _json_differences(a, b, f"{path}[{i}]{label}")
    elif old != new or type(old) is not type(new):
        yield f"{path}: stored {_short(old)}, regenerated {_short(new)}"


def manifest_differences(before, after, limit=20):
    """The manifest fields that differ, by their path (`vectors[3] (id).outputs[0]...`)."""
    try:
        old, new = json.loads(before), json.loads(after)
    except ValueError as exc:
        return [f"is not valid JSON ({exc})"]
    lines = sorted(_json_differences(old, new, "manifest"))
    if not lines:
        return ["same fields and values, different text (the JSON layout changed)"]
    return lines[:limit] + ([f"... and {len(lines) - limit} more fields"]
                            if len(lines) > limit else [])


def array_differences(before, after):
    """Which arrays of two .npz files differ, and how (elements, largest difference, first index)."""
    try:
        with np.load(io.BytesIO(before), allow_pickle=False) as a, \
                np.load(io.BytesIO(after), allow_pickle=False) as b:
            old, new = {k: a[k] for k in a.files}, {k: b[k] for k in b.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        return [f"cannot be read as .npz ({exc})"]
    lines = [f"array {name}: only in the {'regenerated' if name in new else 'stored'} file"
             for name in sorted(old.keys() ^ new.keys())]
    for name in sorted(old.keys() & new.keys()):
        x, y = old[name], new[name]
        if x.dtype != y.dtype or x.shape != y.shape:
            lines.append(f"array {name}: stored {x.dtype} {x.shape}, "
                         f"regenerated {y.dtype} {y.shape}")
        elif x.tobytes() != y.tobytes():
            differ = x != y
            if x.dtype.kind == "f":
                differ &= ~(np.isnan(x) & np.isnan(y))
            if not differ.any():
                lines.append(f"array {name}: equal values, different bits (signed zeros or NaNs)")
                continue
            first = tuple(int(i) for i in np.argwhere(differ)[0])
            line = (f"array {name}: {int(differ.sum())} of {x.size} elements differ; at "
                    f"{first}: stored {x[first].item()!r}, regenerated {y[first].item()!r}")
            if x.dtype.kind == "f":
                gap = np.abs(x.astype(np.float64) - y)[differ]
                ulps = gap / np.spacing(np.abs(x[differ]).astype(x.dtype)).astype(np.float64)
                line += (f"; largest difference {gap.max():.3g} ({ulps.max():.3g} units in the "
                         f"last place)")
            lines.append(line)
    return lines or ["same arrays, different bytes (the zip or .npy encoding changed)"]


# -- the command ----------------------------------------------------------------------------------

def add_arguments(parser):
    parser.add_argument("--out", metavar="DIR", type=Path,
                        help="the folder to write (default: the golden folder cnnspec reads, "
                             "golden/ in a checkout; with --check, a temporary folder)")
    parser.add_argument("--check", action="store_true",
                        help="compare the regenerated vectors with the stored ones instead of "
                             "replacing them; exit 1 on any difference")


def run(args):
    started = time.perf_counter()
    if args.check:
        with tempfile.TemporaryDirectory(prefix="cnnspec-golden-") as scratch:
            out = args.out or Path(scratch)
            manifest = build().write(out)
            problems = compare(out, stored_golden())
        seconds = time.perf_counter() - started
        if problems:
            print(f"cnnspec golden --check: the regenerated vectors differ from the stored ones "
                  f"({stored_golden()}):", file=sys.stderr)
            for line in problems:
                print(f"  {line}", file=sys.stderr)
            print("If the generator changed on purpose, regenerate with `cnnspec golden` and "
                  "commit golden/ with that change.", file=sys.stderr)
            return 1
        print(f"golden vectors reproduced bit for bit: {len(manifest['files'])} files and the "
              f"manifest ({len(manifest['vectors'])} vectors) in {seconds:.1f} s")
        return 0
    out = args.out or Path(stored_golden())
    manifest = build().write(out)
    total = sum(f["bytes"] for f in manifest["files"].values())
    print(f"wrote {len(manifest['files'])} files ({total / 1e6:.2f} MB) and "
          f"{len(manifest['vectors'])} vectors to {out} in {time.perf_counter() - started:.1f} s")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="cnnspec golden", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
