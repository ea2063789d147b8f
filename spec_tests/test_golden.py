"""The implementation under test against the golden vectors in golden/ (SPEC GOLD-1).

golden/manifest.json lists every vector: the function, its inputs and arguments, the expected
outputs and their tolerances (golden/README.md explains the format; `cnnspec golden` writes
it). Each test checks one output of one vector, so a failure names the function, the output and
the golden file it came from, and partial credit stays per output.
"""
import functools
import hashlib
import json
from importlib import resources

import numpy as np
import pytest

from cnnspec.spec_tests.checks import fail

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


def check_golden(judge, entry, out):
    """Run one golden vector and judge output `out` against its stored expected value."""
    function, dtype, name = entry["function"], entry["dtype"], out["name"]
    arrays = arrays_of(entry)
    recipe, calls = reproduce(entry, arrays)
    judge.clauses.append(f"vector {entry['id']}")
    judge.reproduce(recipe, calls)
    args = call_inputs(entry["inputs"], arrays, dtype)
    case = dict(zip(entry["inputs"], args), **entry["arguments"])   # for the diagnoses
    if "forward" in entry:
        forward = entry["forward"]
        forward_args = call_inputs(forward["inputs"], arrays, dtype)
        case.update(zip(forward["inputs"], forward_args), **forward["arguments"])
        result = judge.call(forward["function"], *forward_args, **forward["arguments"])
        args.append(judge.returned(result, forward["function"], "cache"))
    result = judge.call(function, *args, **entry["arguments"])
    head, _, key = name.partition(".")
    got = judge.returned(result, function, head)
    if key:                                   # new_params.W1: item W1 of the returned dict
        if not isinstance(got, dict) or key not in got:
            judge.fail(f"{function} must return {head} as a dict with the key {key!r}, got "
                       f"{sorted(got) if isinstance(got, dict) else type(got).__name__} "
                       f"[SPEC {judge.clause}]")
        got = got[key]
    expected = arrays[f"expected.{name}"]
    allowed = tolerance(out["tolerance"], arrays)
    if out["type"] == "float":
        judge.scalar(got, float(expected), allowed, case=case, what=name)
    else:
        judge.values(got, expected, allowed, case=case, what=name)


def _output_name(function, name):
    """The contract's name for a stored output: new_params.W1 is forward_backward's W1."""
    if function == "forward_backward" and name.startswith("new_params."):
        return name.partition(".")[2]
    return name.partition(".")[0]


def vectors(function):
    """One pytest param per (vector, output) of `function`, each with its own spec marker."""
    params = []
    for entry in MANIFEST["vectors"]:
        if entry["function"] != function:
            continue
        for out in entry["outputs"]:
            suffix = f"-{out['name']}" if len(entry["outputs"]) > 1 else ""
            clauses = ["GOLD-1", *out["clause"].split(", "), *out["tolerance"]["clause"].split(", ")]
            marks = pytest.mark.spec(function, _output_name(function, out["name"]), "golden",
                                     *dict.fromkeys(clauses))
            params.append(pytest.param(entry, out, id=entry["id"] + suffix, marks=marks))
    return params


@pytest.mark.parametrize("entry, out", vectors("conv2d"))
def test_conv2d_matches_golden_vectors(judge, entry, out):
    check_golden(judge, entry, out)


@pytest.mark.parametrize("entry, out", vectors("conv2d_backward"))
def test_conv2d_backward_matches_golden_vectors(judge, entry, out):
    check_golden(judge, entry, out)


@pytest.mark.parametrize("entry, out", vectors("maxpool2d"))
def test_maxpool2d_matches_golden_vectors(judge, entry, out):
    check_golden(judge, entry, out)


@pytest.mark.parametrize("entry, out", vectors("maxpool2d_backward"))
def test_maxpool2d_backward_matches_golden_vectors(judge, entry, out):
    check_golden(judge, entry, out)


@pytest.mark.parametrize("entry, out", vectors("relu"))
def test_relu_matches_golden_vectors(judge, entry, out):
    check_golden(judge, entry, out)


@pytest.mark.parametrize("entry, out", vectors("relu_backward"))
def test_relu_backward_matches_golden_vectors(judge, entry, out):
    check_golden(judge, entry, out)


@pytest.mark.parametrize("entry, out", vectors("fully_connected_forward"))
def test_fully_connected_forward_matches_golden_vectors(judge, entry, out):
    check_golden(judge, entry, out)


@pytest.mark.parametrize("entry, out", vectors("fully_connected_backward"))
def test_fully_connected_backward_matches_golden_vectors(judge, entry, out):
    check_golden(judge, entry, out)


@pytest.mark.parametrize("entry, out", vectors("softmax_cross_entropy_loss"))
def test_softmax_cross_entropy_loss_matches_golden_vectors(judge, entry, out):
    check_golden(judge, entry, out)


@pytest.mark.parametrize("entry, out", vectors("forward_backward"))
def test_forward_backward_matches_golden_vectors(judge, entry, out):
    check_golden(judge, entry, out)


@pytest.mark.parametrize("entry, out", vectors("predict"))
def test_predict_matches_golden_vectors(judge, entry, out):
    check_golden(judge, entry, out)


@pytest.mark.parametrize("entry, out", vectors("test_accuracy"))
def test_test_accuracy_matches_golden_vectors(judge, entry, out):
    check_golden(judge, entry, out)


@pytest.mark.spec("initialize_parameters", "params", "golden", "GOLD-1", "INIT-1")
def test_initialize_parameters_matches_golden_shapes(judge):
    """Parameter values depend on the random generator; the golden vector pins keys and shapes."""
    (entry,) = [e for e in MANIFEST["vectors"] if e["function"] == "initialize_parameters"]
    judge.reproduce(None, [f"params = impl.initialize_parameters(**{entry['arguments']!r})"])
    params = judge.call("initialize_parameters", **entry["arguments"])
    keys = [out["name"][len("params."):] for out in entry["outputs"]]
    if not isinstance(params, dict) or sorted(params) != sorted(keys):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        judge.fail(f"initialize_parameters must return a dict with exactly the keys {keys}, got "
                   f"{got} [SPEC {judge.clause}]")
    for key, out in zip(keys, entry["outputs"]):
        judge.shape(params[key], out["shape"], what=f"params[{key!r}]")
