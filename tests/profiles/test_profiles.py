"""The profiles package: adapter files, the adapter, relaxed clauses, messages in the API's names."""
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cnnspec.profiles import (Profile, accepted_tie_routing, adapt, get_profile, routing)
from cnnspec.profiles.engine import AdapterError, parse_path
from cnnspec.profiles.outcomes import NotInProfile
from cnnspec.reference import cnn as reference

HERE = Path(__file__).parent
ADAPTER = HERE / "nhwc_layers.toml"
sys.path.insert(0, str(HERE))
import cs231n_layers  # noqa: E402
import nhwc_layers  # noqa: E402


def conv_inputs(seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((2, 3, 7, 6)).astype(dtype),
            rng.standard_normal((4, 3, 3, 2)).astype(dtype), rng.standard_normal(4).astype(dtype))


# -- choosing a profile --------------------------------------------------------------------------

def test_the_default_profile_wraps_nothing():
    assert get_profile(None) is None and get_profile("contract") is None
    assert adapt(reference, "contract") is reference


def test_an_unknown_api_names_the_ones_that_exist():
    with pytest.raises(ValueError, match=r"unknown API 'cs2310'; expected one of contract, "
                                         r"cs231n, or the path of an adapter file"):
        get_profile("cs2310")


def test_cs231n_has_the_nine_layer_functions_in_its_own_names():
    profile = get_profile("cs231n")
    assert profile.functions == ("conv2d", "conv2d_backward", "maxpool2d", "maxpool2d_backward",
                                 "relu", "relu_backward", "fully_connected_forward",
                                 "fully_connected_backward", "softmax_cross_entropy_loss")
    assert [profile.display_name(f) for f in ("conv2d", "maxpool2d_backward", "relu")] == \
        ["conv_forward_naive", "max_pool_backward_naive", "relu_forward"]


def test_the_adapter_file_of_the_example():
    profile = get_profile(str(ADAPTER))
    assert profile.name == "nhwc-layers" and profile.layout == "NHWC"
    assert profile.display_name("conv2d_backward") == "Conv2D.backward"
    assert profile.display_name("softmax_cross_entropy_loss") == "SoftmaxCrossEntropy"
    assert "initialize_parameters" not in profile.functions
    assert {"GEN-2", "GEN-4", "CONV-6", "LOSS-5"} <= set(profile.relaxes)


BAD_ADAPTERS = {
    "unknown-table": ("[conv]\nclass = 'C'\n", r"unknown table\(s\) \[conv\]; the tables are "
                                               r"\[adapter\] and \[conv2d\]"),
    "no-class": ("[relu]\nforward = 'f'\n", r"\[relu\]: class is missing"),
    "unknown-key": ("[relu]\nclass = 'R'\nforwrd = 'f'\n", r"\[relu\]: unknown key\(s\) "
                                                           r"\['forwrd'\]"),
    "bad-layout": ("[adapter]\nlayout = 'NWHC'\n[relu]\nclass = 'R'\n",
                   r"layout must be \"NCHW\" or \"NHWC\", got 'NWHC'"),
    "bad-size": ("[maxpool2d]\nclass = 'P'\ninit = { k = 'KH' }\n",
                 r"\[maxpool2d\] init.k: 'KH' is not something the suite knows here"),
    "bad-axes": ("[conv2d]\nclass = 'C'\nset = { w = { from = 'W', axes = 'KH KW C C' } }\n"
                 "grads = { dW = 'dw', db = 'db' }\n", r"set.w: axes 'KH KW C C' must name each"),
    "no-grads": ("[fully_connected_forward]\nclass = 'D'\ngrads = { dW = 'dW' }\n",
                 r"grads must say where db is found"),
    "bad-path": ("[conv2d]\nclass = 'C'\ngrads = { dW = 'grads[W]', db = 'db' }\n",
                 r"grads.dW: cannot read the path 'grads\[W\]'"),
    "not-toml": ("[relu\n", r"not valid TOML"),
    "empty": ("[adapter]\nname = 'x'\n", r"no layer tables"),
}


@pytest.mark.parametrize("which", BAD_ADAPTERS)
def test_a_broken_adapter_file_says_where_and_what(tmp_path, which):
    text, message = BAD_ADAPTERS[which]
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"adapter file {path}.*{message}"):
        get_profile(str(path))


def test_paths_on_a_layer_are_read_never_evaluated():
    assert parse_path("grads['W']") == [("attr", "grads"), ("key", "W")]
    assert parse_path('p.q["b"][0]') == [("attr", "p"), ("attr", "q"), ("key", "b"), ("key", 0)]
    with pytest.raises(AdapterError):
        parse_path("__import__('os').system('x')")


# -- the adapter ---------------------------------------------------------------------------------

def test_cs231n_conv_is_called_with_a_conv_param_dict():
    X, W, b = conv_inputs()
    api = adapt(cs231n_layers, "cs231n")
    out, cache = api.conv2d(X, W, b, padding=1, stride=2)
    expected, _ = reference.conv2d(X, W, b, stride=2, padding=1)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert cache[3] == {"stride": 2, "pad": 1}
    assert api.conv2d(X, W, b)[1][3] == {"stride": 1, "pad": 0}          # the contract's defaults
    with pytest.raises(TypeError, match="unexpected keyword argument 'pad'"):
        api.conv2d(X, W, b, pad=1)


def test_class_layers_get_nhwc_views_so_that_mutation_still_shows():
    seen = {}

    class Spy(nhwc_layers.MaxPool2D):
        def forward(self, x):
            seen["x"] = x
            return super().forward(x)
    module = type(sys)("spy")
    module.MaxPool2D = Spy
    api = adapt(module, str(ADAPTER))
    X = np.random.default_rng(1).standard_normal((2, 3, 6, 4))
    out, _ = api.maxpool2d(X, 2, 2)
    assert seen["x"].shape == (2, 6, 4, 3) and np.shares_memory(seen["x"], X)
    np.testing.assert_array_equal(out, reference.maxpool2d(X, 2, 2)[0])


def test_class_gradients_come_back_in_the_contracts_layout_and_shape():
    X, W, b = conv_inputs(2)
    api = adapt(nhwc_layers, str(ADAPTER))
    out, cache = api.conv2d(X, W, b, 1, 1)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    got = api.conv2d_backward(dout, cache)
    _, ref_cache = reference.conv2d(X, W, b, 1, 1)
    for g, e in zip(got, reference.conv2d_backward(dout, ref_cache)):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10)
    Xf = np.random.default_rng(4).standard_normal((3, 5))
    Wf, bf = np.random.default_rng(5).standard_normal((5, 2)), np.zeros(2)
    _, cache = api.fully_connected_forward(Xf, Wf, bf)
    dX, dW, db = api.fully_connected_backward(np.ones((3, 2)), cache)
    assert cache.layer.b.shape == (1, 2) and db.shape == (2,) and dW.shape == (5, 2)


def test_a_function_the_profile_lacks_is_skipped_not_failed():
    from cnnspec.implementation import Implementation
    impl = get_profile("cs231n").adapt(Implementation("layers", module=cs231n_layers))
    with pytest.raises(NotInProfile, match="predict is not part of the cs231n API"):
        impl.predict
    assert isinstance(NotInProfile("x"), pytest.skip.Exception)


def test_a_missing_function_is_named_as_the_api_names_it():
    from cnnspec.implementation import Implementation, MissingFunction
    impl = get_profile("cs231n").adapt(Implementation("mine.py", module=type(sys)("empty")))
    with pytest.raises(MissingFunction, match="conv_forward_naive is not defined in mine.py"):
        impl.conv2d


# -- relaxed clauses -----------------------------------------------------------------------------

@pytest.mark.parametrize("meta, skipped", [
    (("predict", "labels", "value", "PRED-1"), "predict is not part of the cs231n API"),
    (("conv2d", "call", "errors", "CONV-6", "GEN-4", "GEN-9"), "GEN-4 is relaxed"),
    (("maxpool2d", None, "value", "POOL-5", "GEN-4"), "GEN-4 is relaxed"),        # legacy marker
    (("maxpool2d_backward", "dX", "value", "POOL-3"), None),       # POOL-3: judged at run time
    (("conv2d", "out", "dtype", "GEN-2", "CONV-1"), None),
    (("conv2d", "out", "value", "CONV-1", "CONV-2", "TOL-1"), None),
])
def test_which_tests_cs231n_leaves_out(meta, skipped):
    function, output, category, *clauses = meta
    reason = get_profile("cs231n").skip_reason(
        {"function": function, "output": output, "category": category, "clauses": clauses})
    assert (reason is None) if skipped is None else reason.startswith(skipped)


def test_a_relaxed_dtype_leaves_out_only_dtype_tests():
    profile = Profile("p", "t", {"relu": {"kind": "function", "call": "r", "args": ["X"]}},
                      relaxes={"GEN-2": "float64 inside"})
    meta = {"function": "relu", "output": "out", "clauses": ["GEN-2", "RELU-1"]}
    assert profile.skip_reason(dict(meta, category="dtype")).startswith("GEN-2 is relaxed")
    assert profile.skip_reason(dict(meta, category="value")) is None


TIED = np.array([[5.0, 5.0, 1.0, 2.0], [5.0, 0.0, 2.0, 2.0]]).reshape(1, 1, 2, 4)
DOUT = np.array([[3.0, -2.0]]).reshape(1, 1, 1, 2)


def test_any_single_tied_maximum_is_accepted_under_cs231n():
    first = routing(TIED, DOUT, 2, 2, "first")
    last = routing(TIED, DOUT, 2, 2, "last")
    assert first[0, 0, 0, 0] == 3 and last[0, 0, 1, 0] == 3
    assert not accepted_tie_routing(first, TIED, DOUT, 2, 2)       # the contract's: judged
    assert accepted_tie_routing(last, TIED, DOUT, 2, 2)
    middle = np.zeros_like(TIED)
    middle[0, 0, 0, 1], middle[0, 0, 1, 3] = 3, -2                 # another tie in each window
    assert accepted_tie_routing(middle, TIED, DOUT, 2, 2)
    every = np.zeros_like(TIED)
    every[0, 0, :, :2] = np.where(TIED[0, 0, :, :2] == 5, 3.0, 0)     # every tie gets it all:
    every[0, 0, :, 2:] = np.where(TIED[0, 0, :, 2:] == 2, -2.0, 0)    # a bug, not a convention
    assert not accepted_tie_routing(every, TIED, DOUT, 2, 2)
    wrong = last.copy()
    wrong[0, 0, 1, 1] = 3                                          # not a maximum
    wrong[0, 0, 1, 0] = 0
    assert not accepted_tie_routing(wrong, TIED, DOUT, 2, 2)


def test_overlapping_windows_must_follow_one_rule():
    X = np.array([[1.0, 4.0, 4.0], [0.0, 4.0, 1.0], [2.0, 1.0, 3.0]]).reshape(1, 1, 3, 3)
    dout = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    assert accepted_tie_routing(routing(X, dout, 2, 1, "last"), X, dout, 2, 1)
    assert not accepted_tie_routing(routing(X, dout, 2, 1, "first") * 2, X, dout, 2, 1)


# -- messages in the API's own names -------------------------------------------------------------

MESSAGE = textwrap.dedent("""\
    conv2d_backward returned a wrong dW [SPEC CONV-4, TOL-1]
      not judged: conv2d raised ValueError
    Reproduce (with `impl` your module, e.g. `import my_cnn as impl`):
        import numpy as np
        from cnnspec.spec_tests.cases import conv_case; case = conv_case(seed=1, N=2, C=2, H=5, W=6, F=3, KH=3, KW=2, stride=2, padding=1, dtype='float64')
        out, cache = impl.conv2d(*(np.asarray(case.arrays[k]) for k in 'XWb'), **case.kwargs)
        dX, dW, db = impl.conv2d_backward(case.dout, cache)
        again = impl.conv2d(case.X, case.W, case.b, 2, padding=1)
        print(np.abs(np.asarray(dW) - impl.conv2d_backward(case.dout, cache)[1]).max())""")


def _run(lines, module):
    scope = {"impl": module}
    exec("\n".join(lines), scope)
    return scope


def test_cs231n_messages_and_reproduce_lines_use_its_names():
    text = get_profile("cs231n").translate_message(MESSAGE)
    assert text.startswith("conv_backward_naive returned a wrong dW [SPEC CONV-4, TOL-1]\n"
                           "  not judged: conv_forward_naive raised ValueError")
    block = [line[4:] for line in text.splitlines()[3:]]
    assert "impl.conv2d" not in text and "impl.conv_forward_naive(" in text
    assert "_X, _W, _b = (np.asarray(case.arrays[k]) for k in 'XWb')" in block
    assert ("again = impl.conv_forward_naive(case.X, case.W, case.b, {'stride': 2, 'pad': 1})"
            in block)
    scope = _run(block, cs231n_layers)                # runs as pasted
    expected = reference.conv2d_backward(scope["case"].dout, reference.conv2d(
        scope["case"].X, scope["case"].W, scope["case"].b, 2, 1)[1])
    np.testing.assert_allclose(scope["dW"], expected[1], atol=1e-10)


def test_class_reproduce_lines_construct_the_layer_and_run_as_pasted():
    profile = get_profile(str(ADAPTER))
    text = profile.translate_message(MESSAGE)
    assert text.startswith("Conv2D.backward returned a wrong dW")
    block = [line[4:] for line in text.splitlines()[3:]]
    assert "cache.kernel = np.transpose(_W, (2, 3, 1, 0))" in block
    assert "dW = np.transpose(cache.grads['kernel'], (3, 2, 0, 1))" in block
    # the nested call in print(...) cannot be written as statements: it goes through adapt()
    assert any(line.startswith("from cnnspec.profiles import adapt; api = adapt(impl, ")
               for line in block)
    assert "api.conv2d_backward(case.dout, cache)" in block[-1]
    scope = _run(block, nhwc_layers)
    case = scope["case"]
    expected = reference.conv2d_backward(case.dout, reference.conv2d(case.X, case.W, case.b, 2,
                                                                     1)[1])
    np.testing.assert_allclose(scope["dW"], expected[1], atol=1e-10)
    np.testing.assert_allclose(scope["dX"], expected[0], atol=1e-10)
