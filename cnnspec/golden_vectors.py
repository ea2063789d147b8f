"""Regenerate golden/: portable test vectors for every contract function (SPEC GOLD-1, GOLD-2).

    python scripts/make_golden.py              # rewrite golden/ in place
    python scripts/make_golden.py --out DIR    # write somewhere else (the regeneration test does)

Every input comes from a fixed seed and every expected output from the reference run in float64,
so running this again writes the same bytes (GOLD-2). golden/README.md explains the format.

Choices that keep the files reproducible and small:
- Inputs lie on fixed-point grids (layer values are multiples of 2**-16 with |x| < 8, pixels
  multiples of 1/256), so each is exactly representable in float32 and float64. One file per case
  then serves both dtypes: its float32 inputs are cast (exactly) to the dtype under test, and its
  float64 expected values are the exact answer for both. The network's 100k parameters would
  otherwise not fit the size budget twice.
- On that grid every layer product has at most 38 significant bits and every float64 sum of them
  is exact, so the expected values of conv2d, fully_connected and their gradients do not depend on
  BLAS, summation order or FMA. A float32 implementation still rounds (38 > 24 bits), so the
  float32 tolerances are exercised. Only the loss and the network (exp, log, and the deeper
  layers' longer sums) may differ in the last bit on another platform.
- .npz files are written by hand (stored zip entries with a fixed date, .npy headers built here)
  because np.savez stamps each entry with the current time.
"""
import argparse
import hashlib
import json
import struct
import sys
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np

from . import reference as ref
from .spec_tests import oracles

FORMAT_VERSION = 1
GOLDEN = Path(resources.files("cnnspec.golden"))   # in a checkout: golden/
DTYPES = {"float64": "f64", "float32": "f32"}
GRID = 2.0 ** -16


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


def f64(*arrays):
    return tuple(np.asarray(a, np.float64) for a in arrays)


def eps(dtype):
    return float(np.finfo(dtype).eps)


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
    "Expected values are the reference computed in float64 and stored in float64, for the float32 "
    "entries too: a float32 result is judged against the exact answer, not a rounded one (TOL-1).",
    "An output passes when |got - expected| <= tolerance elementwise. The tolerance is "
    "tolerance.value when given, else 4 * K * eps * M (SPEC TOL-1), with eps the entry's "
    "tolerance.eps and K and M each a number or the name of an array in the entry's files.",
    "Type 'array': the entry's dtype (SPEC GEN-2) and the expected shape; 'integer array': any "
    "integer dtype; 'float': a scalar (a Python float in Python, SPEC GEN-7).",
    "`files` gives each file's SHA-256: check it first; a mismatch means golden/ is corrupted.",
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
            files[name] = {"sha256": digest, "bytes": (folder / name).stat().st_size, "seed": seed}
        manifest = {
            "format": "cnnspec-golden",
            "format_version": FORMAT_VERSION,
            "generator": "python scripts/make_golden.py",
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
        out, cache = ref.conv2d(*f64(X, Wt, b), **args)
        dX, dW, db = ref.conv2d_backward(*f64(dout), cache)
        # M of TOL-1: conv2d is bilinear, so the reference run on absolute values sums |terms|.
        M_out, abs_cache = ref.conv2d(*f64(abs(X), abs(Wt), abs(b)), **args)
        M_dX, M_dW, M_db = ref.conv2d_backward(*f64(abs(dout)), abs_cache)
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
        out, cache = ref.maxpool2d(*f64(X), **args)
        dX = ref.maxpool2d_backward(*f64(dout), cache)
        # Overlapping windows that route to one element add their gradients (POOL-4): TOL-1 with
        # K = the number of such windows. Elements fed by one window at most are exact (TOL-2).
        windows = ref.maxpool2d_backward(np.ones(dout.shape), cache)
        M_dX = np.where(windows >= 2, ref.maxpool2d_backward(*f64(abs(dout)), cache), 0.0)
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
        out, cache = ref.relu(*f64(X))
        dX = ref.relu_backward(*f64(dout), cache)
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
        Z, cache = ref.fully_connected_forward(*f64(X, W, b))
        dX, dW, db = ref.fully_connected_backward(*f64(dZ), cache)
        M_Z, abs_cache = ref.fully_connected_forward(*f64(abs(X), abs(W), abs(b)))
        M_dX, M_dW, M_db = ref.fully_connected_backward(*f64(abs(dZ)), abs_cache)
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
        loss, dZ = ref.softmax_cross_entropy_loss(*f64(Z), y)
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


def network_inputs():
    """Images, labels and parameters (float32-representable) whose activations keep 1e-5 clear of
    every kink (no pre-activation that close to 0, no pooling runner-up that close to its
    maximum) and whose top two logits are 1e-3 apart (TOL-6). Float32 rounding moves these values
    by about 1e-6, so a float32 run takes the same linear piece as the float64 answer (TOL-5's
    1e-4 is for finite differences; golden vectors difference nothing). A draw that misses the
    margins is replaced by the next one, deterministically."""
    for attempt in range(100):
        rng = np.random.default_rng([NETWORK_SEED, attempt])
        X = (rng.integers(0, 257, (NETWORK_IMAGES, 1, 28, 28)) / 256.0).astype(np.float32)
        params = {}
        for key, shape in oracles.PARAM_SHAPES.items():
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            scale = np.sqrt(2.0 / fan_in) if key.startswith("W") else 0.1
            params[key] = grid_normal(rng, shape, scale)
        Z, margin, gap, _ = oracles.network(X, params)
        top2 = np.sort(Z, axis=1)[:, -2:]
        if margin >= 1e-5 and gap >= 1e-5 and (top2[:, 1] - top2[:, 0]).min() >= 1e-3:
            labels = Z.argmax(axis=1)
            # Two of five labels disagree with the prediction: test_accuracy must say 60.0.
            y = labels.copy()
            y[[1, 3]] = (labels[[1, 3]] + 1 + rng.integers(0, 9, 2)) % 10
            return [NETWORK_SEED, attempt], X, y.astype(np.int64), params
    raise RuntimeError("no draw of network inputs kept the margins")   # pragma: no cover


def network_vectors(golden):
    seed, X, y, params = network_inputs()
    params64 = {k: v.astype(np.float64) for k, v in params.items()}
    X64 = X.astype(np.float64)
    inputs = golden.file("network_inputs.npz", seed_of(seed),
                         {"X": X, "y": y, **{f"params.{k}": v for k, v in params.items()}})
    loss, new_params = ref.forward_backward(X64, y, dict(params64), LEARNING_RATE)
    fb = golden.file("forward_backward.npz", seed_of(seed), {
        "expected.loss": np.float64(loss),
        **{f"expected.new_params.{k}": v for k, v in new_params.items()}})
    labels = ref.predict(X64, params64, batch_size=2)
    accuracy = ref.test_accuracy(X64, y, params64, batch_size=3)
    pred = golden.file("predict.npz", seed_of(seed), {"expected.labels": labels.astype(np.int64)})
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=GOLDEN, help="folder to write (default golden/)")
    out = parser.parse_args(argv).out
    manifest = build().write(out)
    total = sum(f["bytes"] for f in manifest["files"].values())
    print(f"wrote {len(manifest['files'])} files ({total / 1e6:.2f} MB) and "
          f"{len(manifest['vectors'])} vectors to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
