"""Failure messages in the profile's own names.

The suite writes its messages and Reproduce lines in the contract's names (`out, cache =
impl.conv2d(case.X, case.W, case.b, **case.kwargs)`). Under a profile, a student should read and
paste their own API instead:

    out, cache = impl.conv_forward_naive(case.X, case.W, case.b, {'stride': case.kwargs.get(
        'stride', 1), 'pad': case.kwargs.get('padding', 0)})

Each Reproduce line is parsed (ast) and every call `impl.<contract function>(...)` in it is
rewritten from the profile's description: for function profiles the call itself, for layer
classes the statement (construct the layer, set its weights, call forward; call backward, read
the gradients), with the layout's transposes written out. A call that cannot be rewritten (one
nested inside another expression, for layer classes) goes through `api = adapt(impl, ...)`, which
calls the implementation by the contract's names, and the block says so. The rest of the message
has the contract's function names replaced by the profile's.
"""
import ast
import re

from ..contract import ARGUMENTS, CONTRACT, DEFAULTS, RETURNS
from .engine import IMAGE_FUNCTIONS, TO_NCHW, TO_NHWC, WEIGHT_AXES, permutation

HEADER = "Reproduce ("
INDENT = "    "
# The sizes a layer's constructor may use, as source: (contract argument, axis) they come from.
SIZE_SOURCES = {
    "conv2d": {"N": ("X", 0), "C": ("W", 1), "F": ("W", 0), "KH": ("W", 2), "KW": ("W", 3)},
    "maxpool2d": {"N": ("X", 0), "C": ("X", 1)},
    "relu": {},
    "fully_connected_forward": {"N": ("X", 0), "D": ("W", 0), "M": ("W", 1)},
    "softmax_cross_entropy_loss": {"N": ("Z", 0), "K": ("Z", 1)},
}


class Untranslatable(Exception):
    pass


def translate_message(text, profile):
    """`text` (a failure message) with its Reproduce block rewritten and the contract's function
    names replaced by the profile's."""
    lines = text.split("\n")
    out, k = [], 0
    while k < len(lines):
        line = lines[k]
        if line.lstrip().startswith(HEADER):
            indent = line[:len(line) - len(line.lstrip())] + INDENT
            block = []
            k += 1
            while k < len(lines) and lines[k].startswith(indent):
                block.append(lines[k][len(indent):])
                k += 1
            out.append(_names(line, profile))
            out += [indent + b for b in translate_lines(block, profile)]
            continue
        out.append(_names(line, profile))
        k += 1
    return "\n".join(out)


def _names(line, profile):
    def swap(match):
        return profile.display_name(match.group(1))
    pattern = "|".join(sorted((re.escape(f) for f in profile.functions), key=len, reverse=True))
    return re.sub(rf"(?<![\w.])({pattern})(?!\w)", swap, line) if pattern else line


def translate_lines(lines, profile):
    """Reproduce lines (statements, `impl` the module) in the profile's own API."""
    result, adapted = [], False
    for line in lines:
        try:
            translated, used_adapter = translate_line(line, profile)
        except Untranslatable:
            translated, used_adapter = [line], False
        adapted = adapted or used_adapter
        for text in translated:              # a compound statement unparses to several lines
            result += text.split("\n")
    if adapted:
        result.insert(_after_imports(result), f"from cnnspec.profiles import adapt; api = adapt("
                      f"impl, {profile.api!r})  # api.<contract name> calls your code")
    return result


def _after_imports(lines):
    k = 0
    while k < len(lines) and lines[k].startswith("import "):
        k += 1
    return k


def _is_impl_call(node, profile):
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "impl"
            and node.func.attr in CONTRACT)


def translate_line(line, profile):
    """(lines, whether `api` is used) for one Reproduce line."""
    try:
        tree = ast.parse(line)
    except SyntaxError:
        return [line], False
    if not any(_is_impl_call(n, profile) for n in ast.walk(tree)):
        return [line], False
    lines, adapted = [], False
    for statement in tree.body:
        if not any(_is_impl_call(n, profile) for n in ast.walk(statement)):
            lines.append(ast.unparse(statement))
            continue
        try:
            lines += _statement(statement, profile)
        except Untranslatable:
            lines.append(ast.unparse(_ToAdapter(profile).visit(statement)))
            adapted = True
    return lines, adapted


class _ToAdapter(ast.NodeTransformer):
    def __init__(self, profile):
        self.profile = profile

    def visit_Call(self, node):
        self.generic_visit(node)
        if _is_impl_call(node, self.profile):
            node.func.value = ast.Name("api", ast.Load())
        return node


def _statement(statement, profile):
    """The lines for one statement that calls the implementation."""
    function_kind = all(profile.entries.get(n.func.attr, {}).get("kind") == "function"
                        for n in ast.walk(statement) if _is_impl_call(n, profile))
    if function_kind:
        rewriter = _FunctionCalls(profile)
        new = rewriter.visit(statement)
        return rewriter.before + [ast.unparse(new)]
    call = statement.value if isinstance(statement, (ast.Assign, ast.Expr)) else None
    if not _is_impl_call(call, profile) or \
            (isinstance(statement, ast.Assign) and len(statement.targets) != 1) or \
            sum(_is_impl_call(n, profile) for n in ast.walk(statement)) != 1:
        raise Untranslatable(ast.unparse(statement))
    target = statement.targets[0] if isinstance(statement, ast.Assign) else None
    function = call.func.attr
    entry = profile.entries.get(function)
    if entry is None or entry.get("kind") != "class":
        raise Untranslatable(function)
    before, bound = bind_source(call, function)
    if entry.get("forward_of"):
        return before + _class_backward(function, entry, bound, target, profile)
    return before + _class_forward(function, entry, bound, target, profile)


def bind_source(call, function):
    """(statements to run first, {argument: source}) for a call written against the contract."""
    names, defaults = ARGUMENTS[function], DEFAULTS.get(function, {})
    explicit = {k.arg for k in call.keywords if k.arg}
    bound, before, position = {}, [], 0
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            # *(...): it fills the required arguments not given by name (as the suite uses it)
            rest = [n for n in names[position:] if n not in defaults and n not in explicit]
            if not rest:
                raise Untranslatable("a starred argument fills nothing")
            temps = [f"_{n}" for n in rest]
            before.append(f"{', '.join(temps)}{',' if len(temps) == 1 else ''} = "
                          f"{ast.unparse(arg.value)}")
            for n, t in zip(rest, temps):
                bound[n] = t
            position += len(rest)
            continue
        if position >= len(names):
            raise Untranslatable("too many arguments")
        bound[names[position]] = ast.unparse(arg)
        position += 1
    for keyword in call.keywords:
        if keyword.arg is not None:
            bound[keyword.arg] = ast.unparse(keyword.value)
    for keyword in call.keywords:
        if keyword.arg is None:                         # **mapping
            mapping = ast.unparse(keyword.value)
            for n in names:
                if n not in bound:
                    bound[n] = (f"{mapping}.get({n!r}, {defaults[n]!r})" if n in defaults
                                else f"{mapping}[{n!r}]")
    for n in names:
        if n not in bound:
            if n not in defaults:
                raise Untranslatable(f"missing {n}")
            bound[n] = repr(defaults[n])
    return before, bound


class _FunctionCalls(ast.NodeTransformer):
    """impl.<contract>(...) -> impl.<the profile's function>(<its arguments>)."""

    def __init__(self, profile):
        self.profile, self.before = profile, []

    def visit_Call(self, node):
        self.generic_visit(node)
        if not _is_impl_call(node, self.profile):
            return node
        function = node.func.attr
        entry = self.profile.entries[function]
        before, bound = bind_source(node, function)
        self.before += before
        parts = []
        for item in entry["args"]:
            if isinstance(item, dict):
                parts.append("{" + ", ".join(f"{key!r}: {bound[name]}"
                                             for key, name in item["dict"].items()) + "}")
            else:
                parts.append(bound[item])
        return ast.parse(f"impl.{entry['call']}({', '.join(parts)})", mode="eval").body


def _simple(source):
    """Whether an argument's source can be repeated (a name, attribute or subscript of one)."""
    try:
        node = ast.parse(source, mode="eval").body
    except SyntaxError:
        return False
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Constant):
            return False
        node = node.value
    return isinstance(node, ast.Name)


def _names_of(target):
    if isinstance(target, ast.Tuple):
        return [ast.unparse(e) for e in target.elts]
    return None


def _class_forward(function, entry, bound, target, profile):
    lines = []
    for name in ("X", "W", "b", "Z"):                  # arrays used more than once: bind them
        if name in bound and not _simple(bound[name]):
            lines.append(f"_{name} = {bound[name]}")
            bound[name] = f"_{name}"
    names = _names_of(target)
    returns = RETURNS[function]
    if names and len(names) == len(returns) and names[1] != "_" and \
            names[1].isidentifier() and entry.get("returns") != "loss":
        layer = names[1]
    else:
        layer = "layer"

    def size(spec):
        if isinstance(spec, dict):
            return repr(spec["value"])
        if isinstance(spec, list):
            return "(" + ", ".join(size(s) for s in spec) + ")"
        if spec in SIZE_SOURCES[function]:
            array, axis = SIZE_SOURCES[function][spec]
            return f"{bound[array]}.shape[{axis}]"
        return bound[spec]
    init = ", ".join(f"{key}={size(spec)}" for key, spec in entry.get("init", {}).items())
    lines.append(f"{layer} = impl.{entry['class']}({init})")
    for where, spec in entry.get("set", {}).items():
        name, axes = (spec, None) if isinstance(spec, str) else (spec["from"], spec.get("axes"))
        value = bound[name]
        if axes:
            value = f"np.transpose({value}, {permutation(WEIGHT_AXES[function, name], axes)})"
        lines.append(f"{layer}{_access(where)} = {value}")
    images = profile.layout == "NHWC" and function in IMAGE_FUNCTIONS
    inputs = [bound[n] for n in entry.get("forward_args", [ARGUMENTS[function][0]])]
    if images:
        inputs[0] = f"np.transpose({inputs[0]}, {TO_NHWC})"
    result = f"{layer}.{entry.get('forward', 'forward')}({', '.join(inputs)})"
    if images:
        result = f"np.transpose({result}, {TO_NCHW})"
    if entry.get("returns") == "loss":
        backward = (f"{layer}.{entry.get('backward', 'backward')}("
                    f"{', '.join(bound[n] for n in entry.get('backward_args', []))})")
        if names and len(names) == 2:
            lines += [f"{names[0]} = {result}", f"{names[1]} = {backward}"]
        elif target is not None:
            lines.append(f"{ast.unparse(target)} = ({result}, {backward})")
        else:
            lines += [result, backward]
        return lines
    if names and len(names) == 2:
        lines.append(f"{names[0]} = {result}" if names[0] != "_" else result)
        if layer != names[1] and names[1] != "_":
            lines.append(f"{names[1]} = {layer}")
    elif target is not None:
        lines.append(f"{ast.unparse(target)} = ({result}, {layer})")
    else:
        lines.append(result)
    return lines


def _class_backward(function, entry, bound, target, profile):
    forward = entry["forward_of"]
    dout_name, cache_name = ARGUMENTS[function]
    cache, dout = bound[cache_name], bound[dout_name]
    images = profile.layout == "NHWC" and forward in IMAGE_FUNCTIONS
    if images:
        dout = f"np.transpose({dout}, {TO_NHWC})"
    result = f"{cache}.{entry.get('backward', 'backward')}({dout})"
    if images:
        result = f"np.transpose({result}, {TO_NCHW})"
    grads = []
    for output, spec in entry.get("grads", {}).items():
        where, axes = (spec, None) if isinstance(spec, str) else (spec["at"], spec.get("axes"))
        value = f"{cache}{_access(where)}"
        if axes:
            order = permutation(WEIGHT_AXES[forward, output[1:]], axes)
            inverse = tuple(sorted(range(len(order)), key=order.__getitem__))
            value = f"np.transpose({value}, {inverse})"
        grads.append(value)
    names = _names_of(target)
    if not grads:
        return [f"{ast.unparse(target)} = {result}" if target is not None else result]
    if names and len(names) == 1 + len(grads):
        lines = [f"{names[0]} = {result}" if names[0] != "_" else result]
        lines += [f"{n} = {g}" for n, g in zip(names[1:], grads) if n != "_"]
        return lines
    if target is not None:
        return [f"_dX = {result}", f"{ast.unparse(target)} = (_dX, {', '.join(grads)})"]
    return [result]


def _access(path):
    """'grads["W"]' -> '.grads["W"]': the path as Python source on a layer object."""
    from .engine import parse_path
    text = ""
    for kind, name in parse_path(path):
        text += f".{name}" if kind == "attr" else f"[{name!r}]"
    return text
