"""The implementation under test against the golden vectors in golden/ (SPEC GOLD-1).

golden/manifest.json lists every vector: the function, its inputs and arguments, the expected
outputs and their tolerances (golden/README.md explains the format; scripts/make_golden.py writes
it). Each test checks one output of one vector, so a failure names the function, the output and
the golden file it came from, and partial credit stays per output.
"""
import functools
import hashlib
import json
from importlib import resources

import numpy as np
import pytest

from cnnspec.spec_tests.legacy_checks import (assert_close, assert_equal_scalar, check_array, check_float, fail, invoke,
                     unpack)

GOLDEN = resources.files("cnnspec.golden")        # package data, wherever cnnspec is installed
MANIFEST = json.loads(GOLDEN.joinpath("manifest.json").read_text(encoding="utf-8"))
REGENERATE = "cnnspec golden"


@functools.lru_cache(maxsize=None)
def golden_file(name):
    """The arrays of one golden file, after checking its SHA-256 against the manifest."""
    path = GOLDEN.joinpath(name)
    if not path.is_file():
        fail(f"golden/{name} is missing; the manifest lists it [SPEC GOLD-1]. Restore it from git "
             f"or regenerate golden/ with `{REGENERATE}`.")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MANIFEST["files"][name]["sha256"]:
        fail(f"golden/{name} is corrupted: its SHA-256 is {digest}, golden/manifest.json says "
             f"{MANIFEST['files'][name]['sha256']} [SPEC GOLD-1]. Restore it from git or "
             f"regenerate golden/ with `{REGENERATE}`.")
    with path.open("rb") as file, np.load(file, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def arrays_of(entry):
    arrays = {}
    for name in entry["files"]:
        arrays.update(golden_file(name))
    return arrays


def call_inputs(names, arrays, dtype):
    """The arguments named by the manifest: floating arrays cast (exactly) to the entry's dtype."""
    def cast(a):
        return a.astype(dtype) if a.dtype.kind == "f" else a.copy()
    values = []
    for name in names:
        if name == "params":
            values.append({k[len("params."):]: cast(a) for k, a in arrays.items()
                           if k.startswith("params.")})
        else:
            values.append(cast(arrays[name]))
    return values


def tolerance(spec, arrays):
    """tolerance.value, or 4 * K * eps * M (SPEC TOL-1) with K and M numbers or array names."""
    if "value" in spec:
        return spec["value"]
    K, M = (arrays[v] if isinstance(v, str) else v for v in (spec["K"], spec["M"]))
    return 4.0 * np.asarray(K, np.float64) * spec["eps"] * np.asarray(M, np.float64)


def reproduce(entry, arrays):
    """The lines that rerun this vector by hand, reading the golden files themselves."""
    dtype = entry["dtype"]
    load = " | ".join(f"dict(np.load('{GOLDEN / f}'))" for f in entry["files"])
    recipe = f"import numpy as np; v = {load}"

    def args(call, cache=()):
        inputs = ["params" if n == "params" else f"v[{n!r}].astype({dtype!r})"
                  if arrays[n].dtype.kind == "f" else f"v[{n!r}]" for n in call["inputs"]]
        keywords = [f"{k}={a!r}" for k, a in call["arguments"].items()]
        return ", ".join(inputs + list(cache) + keywords)

    calls = []
    if "params" in entry["inputs"]:
        calls.append(f"params = {{k[7:]: a.astype({dtype!r}) for k, a in v.items() "
                     f"if k.startswith('params.')}}")
    if "forward" in entry:
        forward = entry["forward"]
        calls.append(f"_, cache = impl.{forward['function']}({args(forward)})")
    cache = ["cache"] if "forward" in entry else []
    calls.append(f"{', '.join(entry['returns'])} = impl.{entry['function']}({args(entry, cache)})")
    calls.append("# compare each output NAME with v['expected.NAME'] (golden/README.md: tolerances)")
    return recipe, calls


def check_golden(impl, entry, out):
    """Run one golden vector and compare output `out` with its expected value."""
    function, dtype, name = entry["function"], entry["dtype"], out["name"]
    clause = f"GOLD-1, {out['clause']}, {out['tolerance']['clause']}; vector {entry['id']}"
    arrays = arrays_of(entry)
    recipe, calls = reproduce(entry, arrays)
    args = call_inputs(entry["inputs"], arrays, dtype)
    case = dict(zip(entry["inputs"], args), **entry["arguments"])   # for checks' diagnoses
    if "forward" in entry:
        forward = entry["forward"]
        forward_args = call_inputs(forward["inputs"], arrays, dtype)
        case.update(zip(forward["inputs"], forward_args), **forward["arguments"])
        result = invoke(impl, forward["function"], *forward_args, clause=clause, recipe=recipe,
                        calls=calls, **forward["arguments"])
        _, cache = unpack(result, ("out", "cache"), forward["function"], clause)
        args.append(cache)
    case = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in case.items()}
    result = invoke(impl, function, *args, clause=clause, recipe=recipe, calls=calls,
                    **entry["arguments"])
    returned = dict(zip(entry["returns"], unpack(result, entry["returns"], function, clause)))

    head, _, key = name.partition(".")
    got = returned[head]
    if key:                                   # new_params.W1: item W1 of the returned dict
        if not isinstance(got, dict) or key not in got:
            fail(f"{function} must return {head} as a dict with the key {key!r}, got "
                 f"{sorted(got) if isinstance(got, dict) else type(got).__name__} [SPEC {clause}]")
        got = got[key]
    expected = arrays[f"expected.{name}"]
    allowed = tolerance(out["tolerance"], arrays)
    where = dict(function=function, output=name, clause=clause, recipe=recipe, calls=calls)
    if out["type"] == "float":
        got = check_float(got, **where)
        assert_equal_scalar(got, float(expected), allowed, case=case, **where)
        return
    got = check_array(got, shape=expected.shape, dtype=None if out["type"] != "array" else dtype,
                      integer=out["type"] == "integer array", **where)
    assert_close(got, expected, allowed, case=case, **where)


def vectors(function):
    """One pytest param per (vector, output) of `function`, with the output in the id."""
    params = []
    for entry in MANIFEST["vectors"]:
        if entry["function"] != function:
            continue
        for out in entry["outputs"]:
            suffix = f"-{out['name']}" if len(entry["outputs"]) > 1 else ""
            params.append(pytest.param(entry, out, id=entry["id"] + suffix,
                                       marks=pytest.mark.output(out["name"])))
    return params


@pytest.mark.clause("GOLD-1", "CONV-1", "CONV-2")
@pytest.mark.parametrize("entry, out", vectors("conv2d"))
def test_conv2d_matches_golden_vectors(impl, entry, out):
    check_golden(impl, entry, out)


@pytest.mark.clause("GOLD-1", "CONV-3", "CONV-4", "CONV-5")
@pytest.mark.parametrize("entry, out", vectors("conv2d_backward"))
def test_conv2d_backward_matches_golden_vectors(impl, entry, out):
    check_golden(impl, entry, out)


@pytest.mark.clause("GOLD-1", "POOL-1", "POOL-2")
@pytest.mark.parametrize("entry, out", vectors("maxpool2d"))
def test_maxpool2d_matches_golden_vectors(impl, entry, out):
    check_golden(impl, entry, out)


@pytest.mark.clause("GOLD-1", "POOL-3", "POOL-4")
@pytest.mark.parametrize("entry, out", vectors("maxpool2d_backward"))
def test_maxpool2d_backward_matches_golden_vectors(impl, entry, out):
    check_golden(impl, entry, out)


@pytest.mark.clause("GOLD-1", "RELU-1")
@pytest.mark.parametrize("entry, out", vectors("relu"))
def test_relu_matches_golden_vectors(impl, entry, out):
    check_golden(impl, entry, out)


@pytest.mark.clause("GOLD-1", "RELU-2")
@pytest.mark.parametrize("entry, out", vectors("relu_backward"))
def test_relu_backward_matches_golden_vectors(impl, entry, out):
    check_golden(impl, entry, out)


@pytest.mark.clause("GOLD-1", "FC-1")
@pytest.mark.parametrize("entry, out", vectors("fully_connected_forward"))
def test_fully_connected_forward_matches_golden_vectors(impl, entry, out):
    check_golden(impl, entry, out)


@pytest.mark.clause("GOLD-1", "FC-2", "FC-3")
@pytest.mark.parametrize("entry, out", vectors("fully_connected_backward"))
def test_fully_connected_backward_matches_golden_vectors(impl, entry, out):
    check_golden(impl, entry, out)


@pytest.mark.clause("GOLD-1", "LOSS-1", "LOSS-2", "LOSS-3", "LOSS-4")
@pytest.mark.parametrize("entry, out", vectors("softmax_cross_entropy_loss"))
def test_softmax_cross_entropy_loss_matches_golden_vectors(impl, entry, out):
    check_golden(impl, entry, out)


@pytest.mark.clause("GOLD-1", "NET-2", "NET-3")
@pytest.mark.parametrize("entry, out", vectors("forward_backward"))
def test_forward_backward_matches_golden_vectors(impl, entry, out):
    check_golden(impl, entry, out)


@pytest.mark.clause("GOLD-1", "PRED-1", "PRED-2")
@pytest.mark.parametrize("entry, out", vectors("predict"))
def test_predict_matches_golden_vectors(impl, entry, out):
    check_golden(impl, entry, out)


@pytest.mark.clause("GOLD-1", "ACC-1")
@pytest.mark.parametrize("entry, out", vectors("test_accuracy"))
def test_test_accuracy_matches_golden_vectors(impl, entry, out):
    check_golden(impl, entry, out)


@pytest.mark.clause("GOLD-1", "INIT-1")
@pytest.mark.output("params")
def test_initialize_parameters_matches_golden_shapes(impl):
    """Parameter values depend on the random generator; the golden vector pins keys and shapes."""
    (entry,) = [e for e in MANIFEST["vectors"] if e["function"] == "initialize_parameters"]
    call = f"params = impl.initialize_parameters(**{entry['arguments']!r})"
    params = invoke(impl, "initialize_parameters", clause="GOLD-1, INIT-1", calls=[call],
                    **entry["arguments"])
    keys = [out["name"][len("params."):] for out in entry["outputs"]]
    if not isinstance(params, dict) or sorted(params) != sorted(keys):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        fail(f"initialize_parameters must return a dict with exactly the keys {keys}, got {got} "
             f"[SPEC GOLD-1, INIT-1]")
    for key, out in zip(keys, entry["outputs"]):
        got = check_array(params[key], function="initialize_parameters", output=f"params[{key!r}]",
                          clause="GOLD-1, INIT-1", shape=out["shape"], calls=[call])
        if got.dtype.kind != "f":
            fail(f"initialize_parameters returned params[{key!r}] with dtype {got.dtype}; expected "
                 f"a floating dtype [SPEC GOLD-1, INIT-1]")
