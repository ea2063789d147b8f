"""A catalogue of realistic student bugs, each one bug in one place of reference/cnn.py.

A mutant names the contract function whose tests must catch it (`function`), which of that
function's outputs the failing tests may judge (`outputs`, default all), and says in plain words
what went wrong. It edits the reference at the syntax level, never its text, so rewording a comment
or re-wrapping a line cannot break it:

    patch={"maxpool2d_backward": [(find, replace), ...]}

`find` and `replace` are Python code: an expression, one or more whole statements, or a
signature `def name(args)`. `find` must match exactly one place of the named function's syntax
tree (compared as trees: spacing, quotes, parentheses and comments do not matter); that node, or
that run of statements, is replaced by `replace` ("" deletes statements). A patch may instead be a
whole new definition (a string starting with "def "). A key "helper@caller" patches a copy of
`helper` that only `caller` uses, as if the student had written that check or step inside `caller`
alone. `extra` is module-level code added at the end (a global buffer reused between calls, ...).

With `reference_cache=True` a forward function returns the patched output together with the
reference's cache: the student's backward pass recomputes from the inputs it cached, so the bug
stays in the forward's output (the reference's backward reuses the forward's im2col, so a bug there
would otherwise leak into the gradients).

`build` writes the mutated module to a folder; `cnnspec mutants` (cnnspec/selftest/check.py)
proves that the suite catches every one with the tests of its own function and output.
"""
import ast
import copy
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from ..contract import CONTRACT, FORWARDS, NETWORK, PARAMS, PSEUDO_OUTPUTS, RETURNS

REFERENCE_SOURCE = Path(importlib.util.find_spec("cnnspec.reference.cnn").origin)

# The classes of bugs of issue 10 ("whole classes of bugs that slip through").
BUG_CLASSES = ("state", "layout", "scalar", "size", "value", "error", "default", "dtype")

# A test judges one output (contract.RETURNS), or "inputs" (no mutation) or "call" (errors)
# (contract.PSEUDO_OUTPUTS); forward_backward's tests also judge the update of each parameter.
UPDATES = ("new_params", *PARAMS)

# The network functions other than initialize_parameters run every layer, so a layer's bug may
# fail their tests too; test_accuracy calls predict. Failures there are expected, not collateral.
LAYERS = tuple(f for f in CONTRACT if f not in NETWORK)
USES_LAYERS = tuple(f for f in NETWORK if f != "initialize_parameters")


def outputs_of(function):
    """Every output name a test of `function` may judge."""
    names = RETURNS[function] + PSEUDO_OUTPUTS
    return names + PARAMS if function == "forward_backward" else names


@dataclass(frozen=True)
class Mutant:
    name: str          # unique, a valid file-name stem
    function: str      # the contract function whose tests must catch it
    description: str   # the bug in plain words
    patch: dict        # reference function (or "helper@caller") -> [(find, replace)] or "def ..."
    outputs: tuple = ()            # the outputs its failing tests may judge; () means all
    extra: str = ""                # module-level code appended to the mutant
    reference_cache: bool = False  # forward: patched output, the reference's cache
    bug_class: str = ""            # for the mutants of issue 10: one of BUG_CLASSES

    @property
    def judged_outputs(self):
        return tuple(self.outputs) or outputs_of(self.function)


def expected_failure(mutant, function, output):
    """Whether a failing test of (function, output) may be caused by `mutant` without blaming the
    wrong place: a test of its own function and one of its outputs (output None: a test that
    names no single output), a network function when the mutant breaks a layer, test_accuracy
    when it breaks predict."""
    if function == mutant.function:
        return output is None or output in mutant.judged_outputs
    return (function in USES_LAYERS and mutant.function in LAYERS) or \
        (function == "test_accuracy" and mutant.function == "predict")


def reference_source():
    return REFERENCE_SOURCE.read_text()


# -- syntax-level patching -----------------------------------------------------------------------

def _dump(node):
    return ast.dump(node, include_attributes=False)


def _parse(code, what):
    """(kind, nodes) of a snippet: ("expr", node), ("stmts", [nodes]) or ("def", arguments)."""
    code = code.strip()
    if code.startswith("def ") and not code.rstrip().endswith(":") and "\n" not in code:
        return "def", ast.parse(code + ":\n    pass").body[0].args
    try:
        return "expr", ast.parse(code, mode="eval").body
    except SyntaxError:
        pass
    try:
        return "stmts", ast.parse(code).body
    except SyntaxError as error:
        raise ValueError(f"{what} is not Python code: {code!r} ({error.msg})") from None


def _statement_lists(tree):
    """Every list of statements in `tree` (bodies, else branches, ...)."""
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            stmts = getattr(node, name, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                yield stmts


def _edit(function, find, replace, where):
    """Apply one (find, replace) to a FunctionDef node in place."""
    kind, target = _parse(find, f"{where}: find")
    if kind == "def":
        if _dump(function.args) != _dump(target):
            raise ValueError(f"{where}: the signature is not {find!r}")
        new_kind, new = _parse(replace, f"{where}: replace")
        if new_kind != "def":
            raise ValueError(f"{where}: a signature must be replaced by a signature, "
                             f"got {replace!r}")
        function.args = new
        return
    if kind == "expr":
        wanted = _dump(target)
        hits = [(parent, name, index)
                for parent in ast.walk(function)
                for name, value in ast.iter_fields(parent)
                for index, child in (enumerate(value) if isinstance(value, list)
                                     else [(None, value)])
                if isinstance(child, ast.expr) and _dump(child) == wanted]
        if len(hits) != 1:
            raise ValueError(f"{where}: find matches {len(hits)} places (expected exactly one): "
                             f"{find!r}")
        new_kind, new = _parse(replace, f"{where}: replace")
        if new_kind != "expr":
            raise ValueError(f"{where}: an expression must be replaced by an expression, got "
                             f"{replace!r}")
        parent, name, index = hits[0]
        if index is None:
            setattr(parent, name, new)
        else:
            getattr(parent, name)[index] = new
        return
    wanted = [_dump(s) for s in target]
    hits = [(stmts, i) for stmts in _statement_lists(function)
            for i in range(len(stmts) - len(wanted) + 1)
            if [_dump(s) for s in stmts[i:i + len(wanted)]] == wanted]
    if len(hits) != 1:
        raise ValueError(f"{where}: find matches {len(hits)} places (expected exactly one): "
                         f"{find!r}")
    stmts, i = hits[0]
    new = _parse(replace, f"{where}: replace")[1] if replace.strip() else []
    if not isinstance(new, list):
        new = [ast.Expr(new)]
    stmts[i:i + len(wanted)] = new
    if not stmts:
        stmts.append(ast.Pass())


class _Rename(ast.NodeTransformer):
    def __init__(self, old, new):
        self.old, self.new, self.count = old, new, 0

    def visit_Name(self, node):
        if node.id == self.old:
            self.count += 1
            return ast.copy_location(ast.Name(self.new, node.ctx), node)
        return node


def _function(tree, name, mutant):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise ValueError(f"mutant {mutant.name}: reference/cnn.py defines no function {name!r}")


def _replace_function(tree, old, new):
    tree.body[tree.body.index(old)] = new


def _patched_definition(function, edits, mutant, where):
    if isinstance(edits, str):                   # a whole new definition
        body = ast.parse(edits.strip() + "\n").body
        if len(body) != 1 or not isinstance(body[0], ast.FunctionDef) \
                or body[0].name != function.name:
            raise ValueError(f"{where}: a replacement must be one definition of {function.name}")
        return body[0]
    new = copy.deepcopy(function)
    for find, replace in edits:
        _edit(new, find, replace, where)
    return new


def _reference_cache_wrapper(tree, name, mutant):
    """`name` returns the mutant's output with the reference's cache (see the module docstring)."""
    if name not in FORWARDS:
        raise ValueError(f"mutant {mutant.name}: reference_cache needs a forward function, "
                         f"not {name}")
    mutated = _function(tree, name, mutant)
    original = _function(ast.parse(reference_source()), name, mutant)
    mutated.name, original.name = f"_mutant_{name}", f"_reference_{name}"
    index = tree.body.index(mutated)
    wrapper = ast.parse(
        f"@functools.wraps(_mutant_{name})\n"
        f"def {name}(*args, **kwargs):\n"
        f"    out, _ = _mutant_{name}(*args, **kwargs)\n"
        f"    return out, _reference_{name}(*args, **kwargs)[1]\n").body[0]
    tree.body[index + 1:index + 1] = [original, wrapper]
    tree.body.insert(0, ast.parse("import functools").body[0])


def patched_source(mutant, source=None):
    """The mutated module's source: the reference with the mutant's patch, as one module."""
    source = reference_source() if source is None else source
    tree = ast.parse(source)
    for key, edits in mutant.patch.items():
        name, _, caller = key.partition("@")
        where = f"mutant {mutant.name}, {key}"
        function = _function(tree, name, mutant)
        new = _patched_definition(function, edits, mutant, where)
        if not caller:
            _replace_function(tree, function, new)
            continue
        new.name = f"{name}__{caller}"
        tree.body.insert(tree.body.index(function) + 1, new)
        rename = _Rename(name, new.name)
        rename.visit(_function(tree, caller, mutant))
        if not rename.count:
            raise ValueError(f"{where}: {caller} never calls {name}")
    if mutant.reference_cache:
        _reference_cache_wrapper(tree, mutant.function if mutant.function in FORWARDS
                                 else next(iter(mutant.patch)), mutant)
    if mutant.extra:
        tree.body += ast.parse(mutant.extra).body
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value,
                                                                        ast.Constant):
        tree.body.pop(0)                              # the reference's docstring
    ast.fix_missing_locations(tree)
    header = (f'"""Mutant {mutant.name} of reference/cnn.py ({mutant.function}): '
              f'{mutant.description}"""\n')
    return header + ast.unparse(tree) + "\n"


def build(mutant, dest_dir):
    """Write the mutated module to dest_dir/<name>.py and return that path."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{mutant.name}.py"
    path.write_text(patched_source(mutant))
    return path


def by_name(name):
    for mutant in MUTANTS:
        if mutant.name == name:
            return mutant
    raise KeyError(f"no mutant named {name!r}")


def check_catalogue(mutants=None):
    """Every problem of the catalogue's form, as sentences (empty when it is well formed)."""
    problems, seen = [], set()
    for m in MUTANTS if mutants is None else mutants:
        if m.name in seen or not m.name.isidentifier():
            problems.append(f"{m.name!r}: names must be unique identifiers")
        seen.add(m.name)
        if m.function not in CONTRACT:
            problems.append(f"{m.name}: {m.function!r} is not a contract function")
            continue
        unknown = set(m.outputs) - set(outputs_of(m.function))
        if unknown:
            problems.append(f"{m.name}: {m.function} has no output {sorted(unknown)} "
                            f"(it has {', '.join(outputs_of(m.function))})")
        if m.bug_class and m.bug_class not in BUG_CLASSES:
            problems.append(f"{m.name}: bug_class {m.bug_class!r} is not one of {BUG_CLASSES}")
        if not m.description.strip() or not m.patch:
            problems.append(f"{m.name}: needs a description and a patch")
        try:
            compile(patched_source(m), m.name, "exec")
        except (ValueError, SyntaxError) as error:
            problems.append(f"{m.name}: {error}")
    return problems


# -- the catalogue ---------------------------------------------------------------------------------
# Grouped by the function whose tests must catch each mutant; in each group the mutants written for
# issue 10 (with a bug_class) follow the older ones.

_LOOP_BACKWARD = '''
def maxpool2d_backward(dout, cache):
    (N, C, H, Wd), dtype, first, p, stride = cache
    Ho, Wo = first.shape[2], first.shape[3]
    dout = _same_shape("dout", dout, (N, C, Ho, Wo)).astype(dtype, copy=False)
    dX = np.zeros((N, C, H, Wd), dtype)
    for i in range(Ho):
        for j in range(Wo):
            if j * stride + p > H:      # the column offset compared with the height
                break
            for u in range(p):
                for v in range(p):
                    hit = first[:, :, i, j] == u * p + v
                    dX[:, :, i * stride + u, j * stride + v] += dout[:, :, i, j] * hit
    return dX
'''

_EVERY_TIED_BACKWARD = '''
def maxpool2d_backward(dout, cache):
    (N, C, H, Wd), dtype, (X, out), p, stride = cache
    Ho, Wo = out.shape[2], out.shape[3]
    dout = _same_shape("dout", dout, (N, C, Ho, Wo)).astype(dtype, copy=False)
    dX = np.zeros((N, C, H, Wd), dtype)
    for u, v, window in _windows(dX, p, stride, Ho, Wo):
        xw = X[:, :, u:u + stride * Ho:stride, v:v + stride * Wo:stride]
        window += dout * (xw == out)
    return dX
'''

_UNCHECKED_CONV = '''
def conv2d(X, W, b, stride=1, padding=0):
    N, C, H, Wd = X.shape
    F, CW, KH, KW = W.shape
    dtype = X.dtype
    s, p = stride, padding
    Hp, Wp = H + 2 * p, Wd + 2 * p
    Ho, Wo = (Hp - KH) // s + 1, (Wp - KW) // s + 1
    Xp = np.zeros((C, Hp, Wp, N), dtype)
    Xp[:, p:p + H, p:p + Wd] = X.transpose(1, 2, 3, 0)
    K = C * KH * KW
    cols = np.empty((K + 1, Ho * Wo * N), dtype)
    patches = cols[:K].reshape(C, KH, KW, Ho, Wo, N)
    for u in range(KH):
        for v in range(KW):
            patches[:, u, v] = Xp[:, u:u + s * Ho:s, v:v + s * Wo:s]
    cols[K] = 1
    Wb = np.concatenate([W.reshape(F, K), b[:, None]], axis=1).astype(dtype, copy=False)
    out = (Wb @ cols).reshape(F, Ho, Wo, N).transpose(3, 0, 1, 2)
    return out, (X.shape, W.shape, Wb, cols, stride, padding)
'''

_STRIDE_CHECK = "stride = _positive_int('stride', stride, 1)"
_POOL_SIZE_CHECK = "pool_size = _positive_int('pool_size', pool_size, 1)"
_POOL_ROUTING = """
if stride >= p:
    np.multiply(dout, first == u * p + v, out=window)
else:
    window += dout * (first == u * p + v)
"""
_CONV_RETURN = "out = (Wb @ cols).reshape(F, Ho, Wo, N).transpose(3, 0, 1, 2)"
_FC_BACKWARD_RETURN = "return (W @ dZ.T).T, X.T @ dZ, dZ.sum(axis=0)"
_RELU_RETURN = "return np.maximum(X, 0), (X > 0, X.dtype)"
_RELU_BACKWARD_RETURN = "return (dout * positive).astype(dtype, copy=False)"
_UPDATE = "new_params[k] = (params[k] - learning_rate * g).astype(params[k].dtype, copy=False)"
_LOGITS = "_logits(X[i:i + batch_size], params)[0].argmax(axis=1)"

MUTANTS = [


    # -- conv2d -----------------------------------------------------------------------------------
    Mutant("conv_flipped_kernel", "conv2d",
           "The kernel is flipped: a true convolution instead of the cross-correlation the spec "
           "asks for.",
           {"conv2d": [("np.concatenate([W.reshape(F, K), b[:, None]], axis=1)",
                        "np.concatenate([W[:, :, ::-1, ::-1].reshape(F, K), b[:, None]], axis=1)")]},
           outputs=("out",), reference_cache=True),
    Mutant("conv_padding_one_side", "conv2d",
           "The zero padding goes only after the image (bottom and right), not on all four sides.",
           {"conv2d": [("Xp[:, p:p + H, p:p + Wd] = X.transpose(1, 2, 3, 0)",
                        "Xp[:, :H, :Wd] = X.transpose(1, 2, 3, 0)")]},
           outputs=("out",), reference_cache=True),
    Mutant("conv_missing_bias", "conv2d",
           "The bias b is never added to the output.",
           {"conv2d": [("cols[K] = 1", "cols[K] = 0")]},
           outputs=("out",), reference_cache=True),
    Mutant("conv_float64_promotion", "conv2d",
           "The convolution computes in float64 whatever the input, so float32 input gives a "
           "float64 out (the backward pass is right).",
           {"conv2d": [("dtype = X.dtype", "dtype = np.float64")]},
           outputs=("out",), reference_cache=True),
    Mutant("conv_stride_zero_accepted", "conv2d",
           "stride is not checked, so stride=0 crashes with ZeroDivisionError instead of a "
           "ValueError.",
           {"conv2d": [(_STRIDE_CHECK, "stride = int(stride)")]},
           outputs=("call",)),
    Mutant("conv_channel_mismatch_accepted", "conv2d",
           "W's channel count is never compared with X's; a mismatch fails deep inside NumPy.",
           {"conv2d": [("CW != C", "False")]},
           outputs=("call",)),
    Mutant("conv_stride_ignored_forward", "conv2d",
           "The forward pass slides the kernel one pixel at a time whatever the stride (the "
           "output has the strided shape but holds the first Ho x Wo stride-1 values).",
           {"conv2d": [("patches[:, u, v] = Xp[:, u:u + s * Ho:s, v:v + s * Wo:s]",
                        "patches[:, u, v] = Xp[:, u:u + Ho, v:v + Wo]")]},
           outputs=("out",), reference_cache=True),
    Mutant("conv_kernel_too_big_accepted", "conv2d",
           "A kernel larger than the padded input is not rejected; NumPy fails later with a "
           "message about negative dimensions.",
           {"conv2d": [("KH > H + 2 * padding or KW > Wd + 2 * padding", "False")]},
           outputs=("call",)),
    # new: state, layout, scalar, error, default
    Mutant("conv_output_buffer_reused", "conv2d",
           "conv2d writes its output into a buffer kept between calls (one per shape), so "
           "a second call with the same shapes overwrites the output the first call returned.",
           {"conv2d": [(_CONV_RETURN,
                        "out = _OUT.setdefault((F, Ho, Wo, N, dtype), np.empty((F, Ho * Wo * N), dtype))\n"
                        "np.matmul(Wb, cols, out=out)\n"
                        "out = out.reshape(F, Ho, Wo, N).transpose(3, 0, 1, 2)")]},
           outputs=("out",), extra="_OUT = {}", bug_class="state"),
    Mutant("conv_zero_copy_view_of_X", "conv2d",
           "with padding 0, conv2d reads X through np.ndarray(X.shape, buffer=X), a "
           "zero-copy view that assumes C order: a transposed view of X is read scrambled and a "
           "strided slice raises.",
           {"conv2d": [("Xp[:, p:p + H, p:p + Wd] = X.transpose(1, 2, 3, 0)",
                        "Xp[:, p:p + H, p:p + Wd] = (np.ndarray(X.shape, X.dtype, buffer=X) "
                        "if p == 0 else X).transpose(1, 2, 3, 0)")]},
           outputs=("out",), reference_cache=True, bug_class="layout"),
    Mutant("conv_rejects_numpy_int_stride", "conv2d",
           "stride is checked with type(stride) is int, so a NumPy integer such as "
           "np.int64(2) is rejected.",
           {"conv2d": [(_STRIDE_CHECK,
                        "if type(stride) is not int or stride < 1:\n"
                        "    raise ValueError(f'stride must be an integer >= 1, got {stride!r}')")]},
           bug_class="scalar"),
    Mutant("conv_accepts_float_stride", "conv2d",
           "stride is checked to be a number >= 1 and then truncated with int(), so "
           "stride=2.0 is accepted silently (and 2.5 becomes 2).",
           {"conv2d": [(_STRIDE_CHECK,
                        "if isinstance(stride, bool) or not isinstance(stride, (int, float, np.integer)) "
                        "or stride < 1:\n"
                        "    raise ValueError(f'stride must be a number >= 1, got {stride!r}')\n"
                        "stride = int(stride)")]},
           outputs=("call",), bug_class="scalar"),
    Mutant("conv_float_padding_accepted", "conv2d",
           "padding is checked to be a number >= 0 and then truncated with int(), so "
           "padding=1.5 is accepted as 1.",
           {"conv2d": [("padding = _positive_int('padding', padding, 0)",
                        "if isinstance(padding, bool) or not isinstance(padding, (int, float, np.integer)) "
                        "or padding < 0:\n"
                        "    raise ValueError(f'padding must be a number >= 0, got {padding!r}')\n"
                        "padding = int(padding)")]},
           outputs=("call",), bug_class="error"),
    Mutant("conv_kernel_too_wide_accepted", "conv2d",
           "only the kernel's height is compared with the padded input, so a kernel too "
           "wide (but not too tall) gives an empty output or fails inside NumPy.",
           {"conv2d": [("KH > H + 2 * padding or KW > Wd + 2 * padding", "KH > H + 2 * padding")]},
           outputs=("call",), bug_class="error"),
    Mutant("conv_no_validation", "conv2d",
           "conv2d checks none of its arguments; every contract violation fails somewhere "
           "inside NumPy, or not at all.",
           {"conv2d": _UNCHECKED_CONV},
           outputs=("call",), bug_class="error"),
    Mutant("conv_default_padding_one", "conv2d",
           "padding defaults to 1 ('same' padding for 3x3 kernels) instead of 0.",
           {"conv2d": [("def conv2d(X, W, b, stride=1, padding=0)",
                        "def conv2d(X, W, b, stride=1, padding=1)")]},
           outputs=("out",), bug_class="default"),

    # -- conv2d_backward --------------------------------------------------------------------------
    Mutant("conv_backward_stride_ignored", "conv2d_backward",
           "The backward pass scatters dX as if the stride were 1.",
           {"conv2d_backward": [("dXp[:, u:u + s * Ho:s, v:v + s * Wo:s] += dcols[:, u, v]",
                                 "dXp[:, u:u + Ho, v:v + Wo] += dcols[:, u, v]")]},
           outputs=("dX",)),
    Mutant("conv_backward_dW_first_image", "conv2d_backward",
           "dW uses only the first image of the batch instead of summing over all of them.",
           {"conv2d_backward": [("dWb = (cols @ d.T).T",
                                 "dWb = (cols[:, ::N] @ d[:, ::N].T).T")]},
           outputs=("dW", "db")),
    Mutant("conv_backward_dW_mean", "conv2d_backward",
           "dW is averaged over the batch instead of summed.",
           {"conv2d_backward": [("dWb[:, :K].reshape(Wshape)", "dWb[:, :K].reshape(Wshape) / N")]},
           outputs=("dW",)),
    Mutant("conv_backward_db_mean", "conv2d_backward",
           "db is averaged over the batch instead of summed.",
           {"conv2d_backward": [("dWb[:, K].copy()", "dWb[:, K] / N")]},
           outputs=("db",)),
    Mutant("conv_backward_dX_not_cropped", "conv2d_backward",
           "dX is returned with the padding still on, so it has the padded shape, not X's.",
           {"conv2d_backward": [("dXp[:, p:p + H, p:p + Wd].transpose(3, 0, 1, 2)",
                                 "dXp.transpose(3, 0, 1, 2)")]},
           outputs=("dX",)),
    Mutant("conv_backward_dX_flipped", "conv2d_backward",
           "dX correlates dout with the kernel again instead of undoing the correlation: the "
           "kernel is flipped in the backward pass only.",
           {"conv2d_backward": [("Wb[:, :K].T @ d",
                                 "Wb[:, :K].reshape(Wshape)[:, :, ::-1, ::-1].reshape(F, K).T @ d")]},
           outputs=("dX",)),
    Mutant("conv_backward_db_keepdims", "conv2d_backward",
           "db keeps the summed axes: shape (F, 1) instead of (F,).",
           {"conv2d_backward": [("dWb[:, K].copy()", "dWb[:, K:].copy()")]},
           outputs=("db",)),
    Mutant("conv_backward_float64", "conv2d_backward",
           "The dX buffer is made with np.zeros(shape) and no dtype, so float32 gives a float64 dX.",
           {"conv2d_backward": [("dXp = np.zeros((C, Hp, Wp, N), dtype)",
                                 "dXp = np.zeros((C, Hp, Wp, N))")]},
           outputs=("dX",)),
    # new: state, layout, size, error
    Mutant("conv_backward_overwrites_cached_cols", "conv2d_backward",
           "the backward pass writes the gradient of the im2col matrix into the cached "
           "im2col buffer to save memory, so a second backward pass with the same cache computes "
           "dW from garbage.",
           {"conv2d_backward": [("dcols = (Wb[:, :K].T @ d).reshape(C, KH, KW, Ho, Wo, N)",
                                 "dcols = np.matmul(Wb[:, :K].T, d, out=cols[:K])"
                                 ".reshape(C, KH, KW, Ho, Wo, N)")]},
           outputs=("dW",), bug_class="state"),
    Mutant("conv_backward_accumulates_db_in_cache", "conv2d_backward",
           "conv2d keeps a bias-gradient accumulator in its cache (like a layer object's "
           "self.db) and the backward pass adds to it without zeroing it: a second backward pass "
           "with the same cache doubles db, and changes the db the first one returned.",
           {"conv2d": [("return (out, (X.shape, W.shape, Wb, cols, stride, padding))",
                        "return (out, (X.shape, W.shape, Wb, cols, stride, padding, "
                        "np.zeros(F, dtype)))")],
            "conv2d_backward": [("((N, C, H, Wd), Wshape, Wb, cols, s, p) = cache",
                                 "((N, C, H, Wd), Wshape, Wb, cols, s, p, db_sum) = cache"),
                                ("dWb[:, K].copy()", "np.add(db_sum, dWb[:, K], out=db_sum)")]},
           outputs=("db",), bug_class="state"),
    Mutant("conv_backward_dout_memory_order", "conv2d_backward",
           "the backward pass reads dout through np.ndarray(dout.shape, buffer=dout), "
           "assuming C order: an upstream gradient that is a transposed view gives wrong "
           "gradients, and a strided slice raises.",
           {"conv2d_backward": [("dout.transpose(1, 2, 3, 0)",
                                 "np.ndarray((N, F, Ho, Wo), dout.dtype, buffer=dout)"
                                 ".transpose(1, 2, 3, 0)")]},
           outputs=("dX", "dW", "db"), bug_class="layout"),
    Mutant("conv_backward_dW_chunks_of_8", "conv2d_backward",
           "dW and db are summed over the batch in chunks of 8 images, but each chunk "
           "assigns (dWb = ...) instead of adding (dWb += ...): right for batches of up to 8 "
           "images, wrong beyond.",
           {"conv2d_backward": [("dWb = (cols @ d.T).T",
                                 "c3 = cols.reshape(K + 1, Ho * Wo, N)\n"
                                 "d3 = d.reshape(F, Ho * Wo, N)\n"
                                 "for start in range(0, N, 8):\n"
                                 "    dWb = np.tensordot(d3[:, :, start:start + 8], "
                                 "c3[:, :, start:start + 8], axes=([1, 2], [1, 2]))")]},
           outputs=("dW", "db"), bug_class="size"),
    Mutant("conv_backward_dW_float16", "conv2d_backward",
           "dW and db are computed in float16 to save memory, then cast back: too few "
           "digits for the sums of a gradient, and float16 overflows beyond 65504.",
           {"conv2d_backward": [("dWb = (cols @ d.T).T",
                                 "dWb = (cols.astype(np.float16) @ d.T.astype(np.float16))"
                                 ".T.astype(dtype)")]},
           outputs=("dW", "db"), bug_class="size"),
    Mutant("conv_backward_dout_reshaped", "conv2d_backward",
           "dout is reshaped to the forward output's shape instead of checked, so a dout "
           "of the right size and the wrong shape is accepted silently.",
           {"conv2d_backward": [("dout = _same_shape('dout', dout, (N, F, Ho, Wo))",
                                 "dout = dout.reshape(N, F, Ho, Wo)")]},
           outputs=("call",), bug_class="error"),

    # -- maxpool2d --------------------------------------------------------------------------------
    Mutant("pool_stride_is_pool_size", "maxpool2d",
           "The windows always move by pool_size; the stride argument is ignored.",
           {"maxpool2d": [("stride = _positive_int('stride', stride, 1)",
                           "stride = _positive_int('stride', stride, 1)\nstride = pool_size")]},
           outputs=("out",), reference_cache=True),
    Mutant("pool_too_big_accepted", "maxpool2d",
           "A pool larger than the image is not rejected; NumPy fails later instead.",
           {"maxpool2d": [("pool_size > H or pool_size > Wd", "False")]},
           outputs=("call",)),
    # new: state, layout, scalar, value, error, default, dtype
    Mutant("pool_size_one_returns_input", "maxpool2d",
           "a 1x1 pool with stride 1 is the identity, so maxpool2d returns X itself: the "
           "output shares memory with the input.",
           {"maxpool2d": [("Ho = (H - pool_size) // stride + 1",
                           "if pool_size == 1 and stride == 1:\n"
                           "    return X, (X.shape, X.dtype, np.zeros(X.shape, np.int8), 1, 1)\n"
                           "Ho = (H - pool_size) // stride + 1")]},
           outputs=("out",), bug_class="state"),
    Mutant("pool_ravel_memory_order", "maxpool2d",
           "maxpool2d flattens X with ravel(order='K') (no copy in any layout) and "
           "reshapes it back, which is right only when X is C-ordered: a transposed view is "
           "pooled scrambled.",
           {"maxpool2d": [("N, C, H, Wd = X.shape",
                           "N, C, H, Wd = X.shape\nX = X.ravel(order='K').reshape(X.shape)")]},
           outputs=("out",), reference_cache=True, bug_class="layout"),
    Mutant("pool_accepts_bool_stride", "maxpool2d",
           "stride is checked with isinstance(stride, int), which a bool passes, so "
           "stride=True is accepted as 1.",
           {"maxpool2d": [(_STRIDE_CHECK,
                           "if not isinstance(stride, (int, np.integer)) or stride < 1:\n"
                           "    raise ValueError(f'stride must be an integer >= 1, got {stride!r}')\n"
                           "stride = int(stride)")]},
           outputs=("call",), bug_class="scalar"),
    Mutant("pool_initial_max_minus_1e9", "maxpool2d",
           "the running maximum starts at -1e9 instead of the window's first element, so "
           "windows whose values all lie below -1e9 give -1e9.",
           {"maxpool2d": [("out = window.copy(order='K')",
                           "out = np.maximum(window, X.dtype.type(-1e9))")]},
           outputs=("out",), reference_cache=True, bug_class="value"),
    Mutant("pool_float_size_accepted", "maxpool2d",
           "pool_size is checked to be a number >= 1 and then truncated with int(), so "
           "pool_size=2.0 is accepted silently (and 2.5 becomes 2).",
           {"maxpool2d": [(_POOL_SIZE_CHECK,
                           "if isinstance(pool_size, bool) or not isinstance(pool_size, "
                           "(int, float, np.integer)) or pool_size < 1:\n"
                           "    raise ValueError(f'pool_size must be a number >= 1, got {pool_size!r}')\n"
                           "pool_size = int(pool_size)")]},
           outputs=("call",), bug_class="error"),
    Mutant("pool_default_stride_one", "maxpool2d",
           "the stride defaults to 1 instead of 2, so maxpool2d(X, 2) slides the "
           "window one pixel at a time.",
           {"maxpool2d": [("def maxpool2d(X, pool_size=2, stride=2)",
                           "def maxpool2d(X, pool_size=2, stride=1)")]},
           outputs=("out",), bug_class="default"),
    Mutant("pool_forward_float64", "maxpool2d",
           "The pooled output is accumulated in a float64 array, so float32 input gives a "
           "float64 out; the backward pass is right.",
           {"maxpool2d": [("out = window.copy(order='K')", "out = window.astype(np.float64)")]},
           outputs=("out",), bug_class="dtype"),

    # -- maxpool2d_backward -----------------------------------------------------------------------
    Mutant("pool_every_tied_max", "maxpool2d_backward",
           "The pooling gradient goes to every element equal to the window's maximum, not only "
           "to the first one.",
           {"maxpool2d": [("return (out, (X.shape, X.dtype, first, pool_size, stride))",
                           "return (out, (X.shape, X.dtype, (X.copy(), out), pool_size, stride))")],
            "maxpool2d_backward": _EVERY_TIED_BACKWARD},
           outputs=("dX",)),
    Mutant("pool_last_max", "maxpool2d_backward",
           "On ties the gradient goes to the LAST maximal element of the window, not the first.",
           {"maxpool2d": [("larger = new != out", "larger = window >= out")]},
           outputs=("dX",)),
    Mutant("pool_overlap_not_accumulated", "maxpool2d_backward",
           "Overlapping windows overwrite each other's gradient instead of adding it up.",
           {"maxpool2d_backward": [("window += dout * (first == u * p + v)",
                                    "np.copyto(window, dout, where=first == u * p + v)")]},
           outputs=("dX",)),
    Mutant("pool_backward_float64", "maxpool2d_backward",
           "The pooling gradient is built in a float64 array whatever the input dtype.",
           {"maxpool2d_backward": [
               ("(np.empty_like if tiles else np.zeros_like)(first, dtype=dtype, shape=(N, C, H, Wd))",
                "(np.empty if tiles else np.zeros)((N, C, H, Wd))")]},
           outputs=("dX",)),
    # new: state, size, value, error, the wide input of issue 10
    Mutant("pool_backward_wide_input", "maxpool2d_backward",
           "A loop-based backward pass whose column loop compares the column offset with the "
           "height: on an input wider than tall (W > H) most windows get no gradient.",
           {"maxpool2d_backward": _LOOP_BACKWARD},
           outputs=("dX",), bug_class="size"),
    Mutant("pool_backward_reuses_cached_dX", "maxpool2d_backward",
           "maxpool2d allocates dX once, in the cache, and the backward pass adds the "
           "routed gradient into it: a second backward pass with the same cache doubles dX, and "
           "changes the dX the first one returned.",
           {"maxpool2d": [("return (out, (X.shape, X.dtype, first, pool_size, stride))",
                           "return (out, (X.shape, X.dtype, first, pool_size, stride, "
                           "np.zeros(X.shape, X.dtype)))")],
            "maxpool2d_backward": [("((N, C, H, Wd), dtype, first, p, stride) = cache",
                                    "((N, C, H, Wd), dtype, first, p, stride, dX) = cache"),
                                   ("tiles = stride == p and H == p * Ho and (Wd == p * Wo)\n"
                                    "dX = (np.empty_like if tiles else np.zeros_like)"
                                    "(first, dtype=dtype, shape=(N, C, H, Wd))", ""),
                                   (_POOL_ROUTING, "window += dout * (first == u * p + v)")]},
           outputs=("dX",), bug_class="state"),
    Mutant("pool_offsets_packed_for_4", "maxpool2d_backward",
           "the position of each window's maximum is stored as u * 4 + v, as if pools were "
           "at most 4 wide: for larger pools positions collide and the gradient goes to the "
           "wrong element.",
           {"maxpool2d": [("u * pool_size + v", "u * 4 + v")],
            "maxpool2d_backward": [(_POOL_ROUTING,
                                    "if stride >= p:\n"
                                    "    np.multiply(dout, first == u * 4 + v, out=window)\n"
                                    "else:\n"
                                    "    window += dout * (first == u * 4 + v)")]},
           outputs=("dX",), bug_class="size"),
    Mutant("pool_near_tie_tolerance", "maxpool2d_backward",
           "the position of the maximum is found with np.isclose (a relative tolerance of "
           "1e-5), so of two values closer than that the first gets the gradient even when the "
           "later one is larger.",
           {"maxpool2d": [("larger = new != out", "larger = ~np.isclose(new, out)")]},
           outputs=("dX",), bug_class="value"),
    Mutant("pool_backward_dout_reshaped", "maxpool2d_backward",
           "dout is reshaped to the forward output's shape instead of checked, so a dout "
           "of the right size and the wrong shape is accepted silently.",
           {"maxpool2d_backward": [("_same_shape('dout', dout, (N, C, Ho, Wo))",
                                    "dout.reshape(N, C, Ho, Wo)")]},
           outputs=("call",), bug_class="error"),

    # -- relu -------------------------------------------------------------------------------------
    Mutant("relu_in_place", "relu",
           "relu overwrites its input X with max(0, X) and returns X itself.",
           {"relu": [(_RELU_RETURN,
                      "positive = X > 0\nnp.maximum(X, 0, out=X)\nreturn X, (positive, X.dtype)")]},
           outputs=("inputs", "out")),
    Mutant("relu_float64_mask", "relu",
           "relu multiplies X by a float mask, (X > 0).astype(float), which is float64.",
           {"relu": [("np.maximum(X, 0)", "X * (X > 0).astype(float)")]},
           outputs=("out",)),

    # -- relu_backward ----------------------------------------------------------------------------
    Mutant("relu_gradient_at_zero", "relu_backward",
           "ReLU passes the gradient where X == 0 (it uses X >= 0 instead of X > 0).",
           {"relu": [("(X > 0, X.dtype)", "(X >= 0, X.dtype)")]},
           outputs=("dX",)),
    Mutant("relu_backward_mask_from_dout", "relu_backward",
           "relu_backward keeps the gradient where dout > 0 instead of where X > 0.",
           {"relu_backward": [("dout * positive", "dout * (dout > 0)")]},
           outputs=("dX",)),
    Mutant("relu_backward_modifies_dout", "relu_backward",
           "relu_backward zeroes the upstream gradient dout in place and returns it.",
           {"relu_backward": [(_RELU_BACKWARD_RETURN,
                               "dout *= positive\nreturn dout.astype(dtype, copy=False)")]},
           outputs=("inputs", "dX")),
    Mutant("relu_backward_dout_unchecked", "relu_backward",
           "relu_backward never checks dout's shape, so a wrong shape broadcasts or fails inside "
           "NumPy.",
           {"relu_backward": [("dout = _same_shape('dout', dout, positive.shape)", "")]},
           outputs=("call",)),
    # new: state
    Mutant("relu_backward_buffer_reused", "relu_backward",
           "relu_backward writes dX into a buffer kept between calls (one per shape), so a "
           "second call overwrites the dX the first call returned.",
           {"relu_backward": [(_RELU_BACKWARD_RETURN,
                               "dX = _DX.setdefault((positive.shape, dtype), "
                               "np.empty(positive.shape, dtype))\n"
                               "np.multiply(dout, positive, out=dX, casting='unsafe')\n"
                               "return dX")]},
           outputs=("dX",), extra="_DX = {}", bug_class="state"),
    Mutant("relu_backward_mask_in_place", "relu_backward",
           "relu caches a float mask and relu_backward multiplies it by dout in place and "
           "returns it: a second backward pass with the same cache is wrong, and changes the dX "
           "the first one returned.",
           {"relu": [("(X > 0, X.dtype)", "((X > 0).astype(X.dtype), X.dtype)")],
            "relu_backward": [(_RELU_BACKWARD_RETURN, "positive *= dout\nreturn positive")]},
           outputs=("dX",), bug_class="state"),
    Mutant("relu_backward_overwrites_forward_out", "relu_backward",
           "relu keeps its output as the cache and relu_backward turns it into the 0/1 "
           "mask in place (out[out > 0] = 1): the output the caller got from relu is changed by "
           "the backward pass.",
           {"relu": [(_RELU_RETURN, "out = np.maximum(X, 0)\nreturn out, (out, X.dtype)")],
            "relu_backward": [("(positive, dtype) = cache",
                               "(positive, dtype) = cache\npositive[positive > 0] = 1")]},
           outputs=("inputs", "dX"), bug_class="state"),

    # -- fully_connected_forward ------------------------------------------------------------------
    Mutant("fc_float64_promotion", "fully_connected_forward",
           "The dense layer converts X and W to float64, so float32 input gives a float64 Z.",
           {"fully_connected_forward": [("W = W.astype(X.dtype, copy=False)",
                                         "X = X.astype(np.float64)\nW = W.astype(np.float64)")]},
           outputs=("Z",), reference_cache=True),
    Mutant("fc_missing_bias", "fully_connected_forward",
           "The bias b is never added in the dense layer.",
           {"fully_connected_forward": [("X @ W + b.astype(X.dtype, copy=False)", "X @ W")]},
           outputs=("Z",)),
    Mutant("fc_shape_mismatch_accepted", "fully_connected_forward",
           "W's rows are not compared with X's columns; the matmul fails with NumPy's message.",
           {"fully_connected_forward": [("W.shape[0] != X.shape[1]", "False")]},
           outputs=("call",)),
    # new: error
    Mutant("fc_accepts_1d_X", "fully_connected_forward",
           "a 1-D X is reshaped to one row (X.reshape(1, -1)) instead of rejected.",
           {"fully_connected_forward": [("X = _array('X', X, 2, '(N, D)')",
                                         "if isinstance(X, np.ndarray) and X.ndim == 1:\n"
                                         "    X = X.reshape(1, -1)\n"
                                         "X = _array('X', X, 2, '(N, D)')")]},
           outputs=("call",), bug_class="error"),

    # -- fully_connected_backward -----------------------------------------------------------------
    Mutant("fc_backward_dW_transposed", "fully_connected_backward",
           "dW is computed as dZ.T @ X: the transpose of the right gradient, shape (M, D).",
           {"fully_connected_backward": [("X.T @ dZ", "dZ.T @ X")]},
           outputs=("dW",)),
    Mutant("fc_backward_dX_no_transpose", "fully_connected_backward",
           "dX is computed as dZ @ W without the transpose: wrong for a square W, and the whole "
           "call fails for any other.",
           {"fully_connected_backward": [("(W @ dZ.T).T", "dZ @ W")]}),
    Mutant("fc_backward_db_mean", "fully_connected_backward",
           "db is averaged over the batch instead of summed.",
           {"fully_connected_backward": [("dZ.sum(axis=0)", "dZ.mean(axis=0)")]},
           outputs=("db",)),
    Mutant("fc_backward_db_keepdims", "fully_connected_backward",
           "db keeps the batch axis: shape (1, M) instead of (M,).",
           {"fully_connected_backward": [("dZ.sum(axis=0)", "dZ.sum(axis=0, keepdims=True)")]},
           outputs=("db",)),
    # new: state, error
    Mutant("fc_backward_dW_buffer_reused", "fully_connected_backward",
           "dW is written into a buffer kept between calls (one per shape), so a second "
           "call overwrites the dW the first call returned.",
           {"fully_connected_backward": [(_FC_BACKWARD_RETURN,
                                          "dW = _DW.setdefault((W.shape, X.dtype), "
                                          "np.empty(W.shape, X.dtype))\n"
                                          "np.matmul(X.T, dZ, out=dW)\n"
                                          "return (W @ dZ.T).T, dW, dZ.sum(axis=0)")]},
           outputs=("dW",), extra="_DW = {}", bug_class="state"),
    Mutant("fc_backward_accumulates_dW_in_cache", "fully_connected_backward",
           "the dense layer keeps a dW accumulator in its cache (like a layer object's "
           "self.dW) and the backward pass adds to it without zeroing it: a second backward pass "
           "with the same cache doubles dW.",
           {"fully_connected_forward": [("(X, W)", "(X, W, np.zeros(W.shape, X.dtype))")],
            "fully_connected_backward": [("(X, W) = cache", "(X, W, dW) = cache"),
                                         (_FC_BACKWARD_RETURN,
                                          "dW += X.T @ dZ\nreturn (W @ dZ.T).T, dW, dZ.sum(axis=0)")]},
           outputs=("dW",), bug_class="state"),
    Mutant("fc_backward_dZ_reshaped", "fully_connected_backward",
           "dZ is reshaped to Z's shape instead of checked, so a dZ of the right size and "
           "the wrong shape is accepted silently.",
           {"fully_connected_backward": [("_same_shape('dZ', dZ, (X.shape[0], W.shape[1]))",
                                          "dZ.reshape(X.shape[0], W.shape[1])")]},
           outputs=("call",), bug_class="error"),

    # -- softmax_cross_entropy_loss ---------------------------------------------------------------
    Mutant("loss_no_max_shift", "softmax_cross_entropy_loss",
           "Softmax exponentiates the raw logits without subtracting the row maximum, so large "
           "logits overflow to inf and NaN.",
           {"softmax_cross_entropy_loss": [("shifted = Z - Z.max(axis=1, keepdims=True)",
                                            "shifted = Z")]},
           outputs=("loss", "dZ", "call")),
    Mutant("loss_summed", "softmax_cross_entropy_loss",
           "The loss is summed over the batch instead of averaged (off by a factor N).",
           {"softmax_cross_entropy_loss": [("log_probs[rows, y].mean(dtype=np.float64)",
                                            "log_probs[rows, y].sum(dtype=np.float64)")]},
           outputs=("loss",)),
    Mutant("loss_dZ_not_divided", "softmax_cross_entropy_loss",
           "dZ is softmax - onehot, not divided by the batch size N.",
           {"softmax_cross_entropy_loss": [("dZ / N", "dZ")]},
           outputs=("dZ",)),
    Mutant("loss_returns_array", "softmax_cross_entropy_loss",
           "The loss is returned as a one-element NumPy array, not a Python float.",
           {"softmax_cross_entropy_loss": [("-float(log_probs[rows, y].mean(dtype=np.float64))",
                                            "-np.mean(log_probs[rows, y], keepdims=True)")]},
           outputs=("loss",)),
    Mutant("loss_float64_promotion", "softmax_cross_entropy_loss",
           "The loss converts Z to float64, so float32 logits give a float64 dZ.",
           {"softmax_cross_entropy_loss": [("shifted = Z - Z.max(axis=1, keepdims=True)",
                                            "Z = Z.astype(np.float64)\n"
                                            "shifted = Z - Z.max(axis=1, keepdims=True)")]},
           outputs=("dZ",)),
    Mutant("loss_modifies_Z", "softmax_cross_entropy_loss",
           "The max shift is done in place, so the caller's logits Z are changed.",
           {"softmax_cross_entropy_loss": [("shifted = Z - Z.max(axis=1, keepdims=True)",
                                            "Z -= Z.max(axis=1, keepdims=True)\nshifted = Z")]},
           outputs=("inputs",)),
    Mutant("loss_onehot_broadcast", "softmax_cross_entropy_loss",
           "The one-hot subtraction uses dZ[:, y] -= 1, which subtracts from whole columns.",
           {"softmax_cross_entropy_loss": [("dZ[rows, y] -= 1", "dZ[:, y] -= 1")]},
           outputs=("dZ",)),
    Mutant("loss_float_labels_accepted", "softmax_cross_entropy_loss",
           "Labels are not checked to be integers; float labels fail with an IndexError.",
           {"softmax_cross_entropy_loss": [("not np.issubdtype(y.dtype, np.integer)", "False")]},
           outputs=("call",)),
    Mutant("loss_log_of_softmax", "softmax_cross_entropy_loss",
           "The loss takes the log of the softmax probabilities, which underflow to 0 for large "
           "logits (log(0) = -inf).",
           {"softmax_cross_entropy_loss": [
               ("log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
                "log_probs = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True))")]},
           outputs=("loss", "dZ", "call")),
    Mutant("loss_label_range_unchecked", "softmax_cross_entropy_loss",
           "Labels are not checked to lie in [0, K): -1 silently picks the last class.",
           {"softmax_cross_entropy_loss": [("N and (y.min() < 0 or y.max() >= K)", "False")]},
           outputs=("call",)),
    Mutant("loss_onehot_from_max_label", "softmax_cross_entropy_loss",
           "The one-hot matrix has y.max() + 1 columns instead of K, which breaks when the batch "
           "lacks the last class.",
           {"softmax_cross_entropy_loss": [("dZ[rows, y] -= 1",
                                            "dZ = dZ - np.eye(int(y.max()) + 1, dtype=dZ.dtype)[y]")]}),
    Mutant("loss_global_max_shift", "softmax_cross_entropy_loss",
           "Softmax subtracts the maximum of the whole batch instead of each row's, so rows far "
           "below it underflow to 0 and the log gives -inf.",
           {"softmax_cross_entropy_loss": [("Z - Z.max(axis=1, keepdims=True)", "Z - Z.max()")]},
           outputs=("loss", "dZ", "call")),
    Mutant("loss_bool_labels_accepted", "softmax_cross_entropy_loss",
           "The label check accepts booleans (dtype kind 'b') as integers.",
           {"softmax_cross_entropy_loss": [("not np.issubdtype(y.dtype, np.integer)",
                                            "y.dtype.kind not in 'biu'")]},
           outputs=("call",)),
    # new: state, size, value, error, the NumPy float32 loss of issue 10
    Mutant("loss_float32_scalar", "softmax_cross_entropy_loss",
           "The loss is returned as -log_probs[rows, y].mean(): a NumPy float32 scalar for "
           "float32 logits, not a Python float. dZ is right.",
           {"softmax_cross_entropy_loss": [("-float(log_probs[rows, y].mean(dtype=np.float64))",
                                            "-log_probs[rows, y].mean()")]},
           outputs=("loss",), bug_class="dtype"),
    Mutant("loss_dZ_buffer_reused", "softmax_cross_entropy_loss",
           "dZ is written into a buffer kept between calls (one per shape), so a second "
           "call overwrites the dZ the first call returned.",
           {"softmax_cross_entropy_loss": [("return (loss, dZ / N)",
                                            "buffer = _DZ.setdefault((N, K, Z.dtype), "
                                            "np.empty((N, K), Z.dtype))\n"
                                            "np.divide(dZ, N, out=buffer)\n"
                                            "return loss, buffer")]},
           outputs=("dZ",), extra="_DZ = {}", bug_class="state"),
    Mutant("loss_one_hot_eye_10", "softmax_cross_entropy_loss",
           "the one-hot matrix is np.eye(10)[y], MNIST's ten classes: any other number of "
           "classes fails.",
           {"softmax_cross_entropy_loss": [("dZ[rows, y] -= 1",
                                            "dZ = dZ - np.eye(10, dtype=dZ.dtype)[y]")]},
           bug_class="size"),
    Mutant("loss_shift_only_positive_max", "softmax_cross_entropy_loss",
           "softmax subtracts the row maximum only when it is positive (overflow being "
           "the only danger it guards against): a row whose logits are all hugely negative "
           "underflows to 0 and the log gives -inf.",
           {"softmax_cross_entropy_loss": [("Z - Z.max(axis=1, keepdims=True)",
                                            "Z - np.maximum(Z.max(axis=1, keepdims=True), 0)")]},
           outputs=("loss", "dZ", "call"), bug_class="value"),
    Mutant("loss_labels_column_accepted", "softmax_cross_entropy_loss",
           "the labels are flattened with y.reshape(-1) first, so a column of labels "
           "(N, 1) is accepted silently.",
           {"softmax_cross_entropy_loss": [("y = _array('y', y, 1, f'({Z.shape[0]},)', floating=False)",
                                            "if isinstance(y, np.ndarray):\n"
                                            "    y = y.reshape(-1)\n"
                                            "y = _array('y', y, 1, f'({Z.shape[0]},)', floating=False)")]},
           outputs=("call",), bug_class="error"),
    Mutant("loss_no_validation", "softmax_cross_entropy_loss",
           "the loss checks none of its arguments; wrong shapes and labels fail inside "
           "NumPy or pass silently.",
           {"softmax_cross_entropy_loss": [
               ("Z = _array('Z', Z, 2, '(N, K)')\n"
                "y = _array('y', y, 1, f'({Z.shape[0]},)', floating=False)", ""),
               ("if y.shape != (N,):\n"
                "    raise ValueError(f'y must have shape ({N},) to match Z {Z.shape}, got {y.shape}')",
                ""),
               ("if not np.issubdtype(y.dtype, np.integer):\n"
                "    raise ValueError(f'y must hold integer class labels, got dtype {y.dtype}')", ""),
               ("N and (y.min() < 0 or y.max() >= K)", "False")]},
           outputs=("call",), bug_class="error"),

    # -- initialize_parameters --------------------------------------------------------------------
    Mutant("init_ignores_seed", "initialize_parameters",
           "initialize_parameters ignores the seed, so the same seed gives different parameters.",
           {"initialize_parameters": [("np.random.default_rng(seed)", "np.random.default_rng()")]}),
    Mutant("init_fixed_seed", "initialize_parameters",
           "The generator is always seeded with 0, so every seed gives the same parameters.",
           {"initialize_parameters": [("np.random.default_rng(seed)", "np.random.default_rng(0)")]}),
    Mutant("init_zero_weights", "initialize_parameters",
           "Weights are initialised to zeros, so every filter and unit stays identical.",
           {"initialize_parameters": [
               ("params[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)",
                "params[name] = np.zeros(shape, np.float32)")]}),
    # new: state, default
    Mutant("init_global_random_state", "initialize_parameters",
           "initialize_parameters seeds NumPy's global generator (np.random.seed(seed)) "
           "and draws from it, which resets the random state of the whole program.",
           {"initialize_parameters": [("rng = np.random.default_rng(seed)",
                                       "np.random.seed(seed)\nrng = np.random")]},
           bug_class="state"),
    Mutant("init_draws_seed_from_global_state", "initialize_parameters",
           "without a seed, initialize_parameters draws one from NumPy's global generator "
           "(np.random.randint), which advances the program's global random state.",
           {"initialize_parameters": [("np.random.default_rng(seed)",
                                       "np.random.default_rng(seed if seed is not None "
                                       "else np.random.randint(2 ** 31))")]}, bug_class="state"),
    Mutant("init_cached_result", "initialize_parameters",
           "initialize_parameters memoises its result per seed and returns the same dict "
           "and arrays again: a caller who trains the first result in place changes what the next "
           "call returns.",
           {"initialize_parameters": [("rng = np.random.default_rng(seed)",
                                       "if seed is not None and seed in _PARAMS:\n"
                                       "    return _PARAMS[seed]\n"
                                       "rng = np.random.default_rng(seed)"),
                                      ("return params",
                                       "if seed is not None:\n"
                                       "    _PARAMS[seed] = params\n"
                                       "return params")]},
           extra="_PARAMS = {}", bug_class="state"),
    Mutant("init_biases_share_one_array", "initialize_parameters",
           "the zero biases are slices of one zeros array, so they share memory: updating "
           "b1 in place also changes b2, b3 and b4.",
           {"initialize_parameters": [("params = {}",
                                       "params = {}\nzeros = np.zeros(128, np.float32)"),
                                      ("params[name] = np.zeros(shape, np.float32)",
                                       "params[name] = zeros[:shape[0]]")]}, bug_class="state"),
    Mutant("init_seed_zero_as_none", "initialize_parameters",
           "the seed is tested for truth (seed if seed else None), so seed=0 is treated "
           "as no seed and gives different parameters on every call.",
           {"initialize_parameters": [("np.random.default_rng(seed)",
                                       "np.random.default_rng(seed if seed else None)")]},
           bug_class="default"),

    # -- forward_backward -------------------------------------------------------------------------
    Mutant("net_flatten_cwh", "forward_backward",
           "The pooled maps are flattened in (c, w, h) order instead of (c, h, w).",
           {"_logits@forward_backward": [("h.reshape(len(X), -1)",
                                          "h.transpose(0, 1, 3, 2).reshape(len(X), -1)")]}),
    Mutant("net_loss_after_step", "forward_backward",
           "forward_backward returns the loss after the update instead of before it.",
           {"forward_backward": [("return (loss, new_params)",
                                  "loss = softmax_cross_entropy_loss(_logits(X, new_params)[0], y)[0]\n"
                                  "return loss, new_params")]},
           outputs=("loss",)),
    Mutant("net_wrong_sign", "forward_backward",
           "The update adds the gradient (gradient ascent) instead of subtracting it.",
           {"forward_backward": [("params[k] - learning_rate * g", "params[k] + learning_rate * g")]},
           outputs=UPDATES),
    Mutant("net_missing_hidden_relu", "forward_backward",
           "The ReLU after the first fully connected layer is left out of the forward pass.",
           {"_logits@forward_backward": [("(h, r3) = relu(h)", "(_, r3) = relu(h)")]}),
    Mutant("net_biases_not_updated", "forward_backward",
           "Only the weights are updated; the biases keep their old values.",
           {"forward_backward": [("grads.items()",
                                  "((k, g) for k, g in grads.items() if k.startswith('W'))")]},
           outputs=("new_params", "b1", "b2", "b3", "b4")),
    Mutant("net_params_unchecked", "forward_backward",
           "A params dict with a missing entry is not rejected; it fails with a KeyError.",
           {"_check_network_inputs@forward_backward": [("name not in params", "False")]},
           outputs=("call",)),
    Mutant("net_learning_rate_ignored", "forward_backward",
           "The update uses the notebook's own step size 0.01 instead of the learning_rate "
           "argument.",
           {"forward_backward": [("params[k] - learning_rate * g", "params[k] - 0.01 * g")]},
           outputs=UPDATES),
    # new: state, scalar, error
    Mutant("net_momentum_left_in", "forward_backward",
           "a momentum term is left in from an experiment (v = 0.9 v + g, kept in a "
           "global between calls): the first step is plain SGD, every later one is not.",
           {"forward_backward": [(_UPDATE,
                                  "_VELOCITY[k] = 0.9 * _VELOCITY.get(k, 0) + g\n"
                                  "new_params[k] = (params[k] - learning_rate * _VELOCITY[k])"
                                  ".astype(params[k].dtype, copy=False)")]},
           outputs=UPDATES, extra="_VELOCITY = {}", bug_class="state"),
    Mutant("net_numpy_learning_rate_promotes", "forward_backward",
           "the update is params[k] - learning_rate * g with no cast back: right for a "
           "Python float, but a NumPy float64 learning rate turns float32 parameters into float64 "
           "(NumPy 2's promotion rules).",
           {"forward_backward": [(_UPDATE, "new_params[k] = params[k] - learning_rate * g")]},
           outputs=UPDATES, bug_class="scalar"),
    Mutant("net_rejects_numpy_learning_rate", "forward_backward",
           "learning_rate is checked with isinstance(learning_rate, (int, float)), which "
           "rejects a NumPy float32 scalar.",
           {"forward_backward": [("X = _check_network_inputs(X, params, y)",
                                  "if isinstance(learning_rate, bool) or not isinstance("
                                  "learning_rate, (int, float)):\n"
                                  "    raise ValueError(f'learning_rate must be a number, got "
                                  "{learning_rate!r}')\n"
                                  "X = _check_network_inputs(X, params, y)")]}, bug_class="scalar"),
    Mutant("net_any_image_size_accepted", "forward_backward",
           "only the channel axis of X is checked, so images that are not 28x28 pass the "
           "check (29x29 trains silently; others fail inside a layer with that layer's message).",
           {"_check_network_inputs@forward_backward": [("X.shape[1:] != (1, 28, 28)",
                                                        "X.shape[1] != 1")]},
           outputs=("call",), bug_class="error"),
    Mutant("net_param_shape_message_unnamed", "forward_backward",
           "a params entry of the wrong shape is rejected with a message that does not "
           "say which entry.",
           {"_check_network_inputs@forward_backward": [
               ("raise ValueError(f'params[{name!r}] must have shape {shape}, got {params[name].shape}')",
                "raise ValueError(f'a parameter has shape {params[name].shape}, expected {shape}')")]},
           outputs=("call",), bug_class="error"),

    # -- predict ----------------------------------------------------------------------------------
    Mutant("predict_argmax_wrong_axis", "predict",
           "predict takes the argmax over the batch axis instead of the class axis.",
           {"predict": [("_logits(X[i:i + batch_size], params)[0].argmax(axis=1)",
                         "_logits(X[i:i + batch_size], params)[0].argmax(axis=0)")]},
           outputs=("labels",)),
    Mutant("predict_drops_last_batch", "predict",
           "predict loops over whole batches only, so the last partial batch is dropped.",
           {"predict": [("range(0, len(X), batch_size)",
                         "range(0, len(X) - batch_size + 1, batch_size)")]},
           outputs=("labels",)),
    Mutant("predict_float_labels", "predict",
           "predict returns the labels as a float array.",
           {"predict": [("np.concatenate(labels) if labels else np.zeros(0, np.int64)",
                         "np.concatenate(labels).astype(np.float32) if labels else np.zeros(0)")]},
           outputs=("labels",)),
    # new: state, scalar, size, value, error
    Mutant("predict_casts_params_in_dict", "predict",
           "predict converts the parameters to X's dtype by writing the converted arrays "
           "back into the caller's params dict.",
           {"predict": [("X = _check_network_inputs(X, params)",
                         "X = _check_network_inputs(X, params)\n"
                         "for k in params:\n"
                         "    params[k] = params[k].astype(X.dtype)")]},
           outputs=("inputs",), bug_class="state"),
    Mutant("predict_rejects_numpy_batch_size", "predict",
           "batch_size is checked with isinstance(batch_size, int), which rejects a NumPy "
           "integer such as np.int64(32).",
           {"predict": [("batch_size = _positive_int('batch_size', batch_size, 1)",
                         "if isinstance(batch_size, bool) or not isinstance(batch_size, int) "
                         "or batch_size < 1:\n"
                         "    raise ValueError(f'batch_size must be an integer >= 1, got "
                         "{batch_size!r}')")]}, bug_class="scalar"),
    Mutant("predict_single_image_squeeze", "predict",
           "predict squeezes the logits before the argmax over the last axis: for a single "
           "image (or a last batch of one) the label comes out as a 0-d scalar and the "
           "concatenation fails.",
           {"predict": [(_LOGITS,
                         "np.squeeze(_logits(X[i:i + batch_size], params)[0]).argmax(axis=-1)")]},
           outputs=("labels",), bug_class="size"),
    Mutant("predict_rounds_logits", "predict",
           "the logits are rounded to two decimals (left from printing them) before the "
           "argmax, so a label decided by a small logit gap can go to the wrong class.",
           {"predict": [(_LOGITS,
                         "_logits(X[i:i + batch_size], params)[0].round(2).argmax(axis=1)")]},
           outputs=("labels",), bug_class="value"),
    Mutant("predict_negative_batch_size_accepted", "predict",
           "batch_size is only checked to be a non-zero integer, so a negative batch size "
           "is accepted and gives no labels at all.",
           {"predict": [("batch_size = _positive_int('batch_size', batch_size, 1)",
                         "if isinstance(batch_size, bool) or not isinstance(batch_size, "
                         "(int, np.integer)) or batch_size == 0:\n"
                         "    raise ValueError(f'batch_size must be a non-zero integer, got "
                         "{batch_size!r}')")]},
           outputs=("call",), bug_class="error"),

    # -- test_accuracy ----------------------------------------------------------------------------
    Mutant("accuracy_fraction", "test_accuracy",
           "test_accuracy returns a fraction from 0 to 1 instead of a percentage.",
           {"test_accuracy": [("100.0 * float(np.mean(predict(X, params, batch_size) == y))",
                               "float(np.mean(predict(X, params, batch_size) == y))")]},
           outputs=("accuracy",)),
    # new: value, error
    Mutant("accuracy_rounded", "test_accuracy",
           "the percentage is rounded to a whole number (round(100 * mean)).",
           {"test_accuracy": [("100.0 * float(np.mean(predict(X, params, batch_size) == y))",
                               "float(round(100.0 * np.mean(predict(X, params, batch_size) == y)))")]},
           outputs=("accuracy",), bug_class="value"),
    Mutant("accuracy_labels_unchecked", "test_accuracy",
           "y is never checked, so labels of shape (N, 1) broadcast against the predictions "
           "into an N x N comparison and give a wrong accuracy silently.",
           {"test_accuracy": [("_check_network_inputs(X, params, y)",
                               "_check_network_inputs(X, params)")]},
           outputs=("call",), bug_class="error"),
]

# The mutants written for issue 10, before the tests that catch them (their bug_class is set).
NEW_IN_ISSUE_10 = tuple(m.name for m in MUTANTS if m.bug_class)
