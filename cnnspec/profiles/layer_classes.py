"""Layer classes: a profile read from an adapter file, a small TOML file the user writes.

An adapter file says, for each layer, which class implements it, how the suite constructs it from
the test's sizes and weights, which methods run forward and backward, where the gradients of the
weights are after backward, and whether images are NCHW or NHWC. SPEC.md ("API profiles")
documents the format; tests/profiles/nhwc_layers.toml is a worked example:

    [adapter]
    layout = "NHWC"
    relaxes = { "GEN-2" = "the layers compute in float64, whatever the input's dtype" }

    [conv2d]                            # conv2d and conv2d_backward
    class = "Conv2D"
    init = { filters = "F", kernel = ["KH", "KW"], stride = "stride", pad = "padding" }
    set = { kernel_weights = { from = "W", axes = "KH KW C F" }, bias = "b" }
    grads = { dW = { at = "grad_kernel", axes = "KH KW C F" }, db = "grad_bias" }

The file is data: reading it runs nothing. The classes are only touched by the adapter
(engine.py), wherever the implementation runs.
"""
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:                                   # Python 3.10
    import tomli as tomllib

from ..contract import ARGUMENTS, FORWARD_OF, RETURNS
from .engine import SIZES, WEIGHT_AXES, AdapterError, parse_path, permutation

BACKWARD_OF = {forward: backward for backward, forward in FORWARD_OF.items()}
LAYERS = tuple(SIZES)          # the tables an adapter file may have besides [adapter]
KEYS = ("class", "init", "set", "forward", "backward", "grads", "forward_args", "backward_args")
ADAPTER_KEYS = ("name", "layout", "relaxes")
WEIGHTS = {"conv2d": ("W", "b"), "fully_connected_forward": ("W", "b")}


def load(path):
    """(name, layout, functions, relaxes, displays) from the adapter file at `path`; a ValueError
    that names the file, the table and the key for anything it cannot use."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"adapter file {path}: cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"adapter file {path}: not valid TOML: {error}") from None
    where = f"adapter file {path}"
    unknown = sorted(set(data) - {"adapter", *LAYERS})
    if unknown:
        raise ValueError(f"{where}: unknown table(s) {', '.join(f'[{t}]' for t in unknown)}; "
                         f"the tables are [adapter] and {', '.join(f'[{t}]' for t in LAYERS)} "
                         "(each layer's table covers its backward too)")
    head = _table(data.get("adapter", {}), f"{where}: [adapter]", ADAPTER_KEYS)
    name = _string(head.get("name", path.name.split(".")[0]), f"{where}: [adapter] name")
    layout = head.get("layout", "NCHW")
    if layout not in ("NCHW", "NHWC"):
        raise ValueError(f"{where}: [adapter] layout must be \"NCHW\" or \"NHWC\", got {layout!r}")
    relaxes = _table(head.get("relaxes", {}), f"{where}: [adapter] relaxes", None)
    for clause, reason in relaxes.items():
        _string(reason, f"{where}: [adapter] relaxes.{clause} (the reason)")
    functions, displays = {}, {}
    for layer in LAYERS:
        if layer in data:
            entries = _layer(layer, _table(data[layer], f"{where}: [{layer}]", KEYS),
                             f"{where}: [{layer}]")
            for function, (entry, display) in entries.items():
                functions[function], displays[function] = entry, display
    if not functions:
        raise ValueError(f"{where}: no layer tables; add at least one of "
                         f"{', '.join(f'[{t}]' for t in LAYERS)}")
    return name, layout, functions, dict(relaxes), displays


def _layer(layer, table, where):
    """{contract function: (engine entry, display name)} for one layer's table."""
    if "class" not in table:
        raise ValueError(f"{where}: class is missing: the name of the class that implements "
                         f"{layer}")
    cls = _identifier(table["class"], f"{where} class")
    forward = _identifier(table.get("forward", "forward"), f"{where} forward")
    backward = _identifier(table.get("backward", "backward"), f"{where} backward")
    arguments = ARGUMENTS[layer]
    names = set(SIZES[layer]({a: _Shape() for a in arguments})) | set(arguments)
    init = _table(table.get("init", {}), f"{where} init", None)
    for key, spec in init.items():
        _identifier(key, f"{where} init (a keyword argument of {cls})")
        _quantity(spec, names, f"{where} init.{key}")
    weights = WEIGHTS.get(layer, ())
    settings = _table(table.get("set", {}), f"{where} set", None)
    for key, spec in settings.items():
        _path(key, f"{where} set (a place on the layer)")
        _array(spec, "from", weights, layer, f"{where} set.{key}")
    forward_args = table.get("forward_args", [arguments[0]])
    _names(forward_args, arguments, f"{where} forward_args")
    entry = {"kind": "class", "class": cls, "init": init, "set": settings, "forward": forward,
             "forward_args": list(forward_args)}
    if layer == "softmax_cross_entropy_loss":
        backward_args = table.get("backward_args", [])
        _names(backward_args, arguments, f"{where} backward_args")
        if "grads" in table:
            raise ValueError(f"{where}: grads is not used for the loss: its backward method "
                             "returns dZ")
        entry.update(returns="loss", backward=backward, backward_args=list(backward_args))
        return {layer: (entry, cls)}
    if "backward_args" in table:
        raise ValueError(f"{where}: backward_args is only for the loss; a layer's backward "
                         "method gets the upstream gradient")
    outputs = RETURNS[BACKWARD_OF[layer]][1:]           # dW, db (after dX)
    grads = _table(table.get("grads", {}), f"{where} grads", outputs)
    missing = [o for o in outputs if o not in grads]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ValueError(f"{where}: grads must say where {' and '.join(missing)} {verb} found on "
                         f"the layer after backward (e.g. {missing[0]} = \"{missing[0]}\" or "
                         f"\"grads['{missing[0][1:]}']\")")
    for output, spec in grads.items():
        _array(spec, "at", weights, layer, f"{where} grads.{output}", output=output)
    backward_entry = {"kind": "class", "forward_of": layer, "backward": backward,
                      "grads": {o: grads[o] for o in outputs}}
    return {layer: (entry, f"{cls}.{forward}"),
            BACKWARD_OF[layer]: (backward_entry, f"{cls}.{backward}")}


class _Shape:
    shape = (0, 0, 0, 0)


def _table(value, where, allowed):
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a table, got {value!r}")
    if allowed is not None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; the keys are "
                             f"{', '.join(allowed)}")
    return value


def _string(value, where):
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _identifier(value, where):
    if not isinstance(value, str) or not value.isidentifier():
        raise ValueError(f"{where} must be a Python name, got {value!r}")
    return value


def _path(value, where):
    try:
        parse_path(value)
    except AdapterError as error:
        raise ValueError(f"{where}: {error}") from None


def _names(value, allowed, where):
    if not isinstance(value, list) or not all(v in allowed for v in value):
        raise ValueError(f"{where} must be a list of the contract's arguments "
                         f"({', '.join(allowed)}), got {value!r}")


def _quantity(spec, names, where):
    if isinstance(spec, dict):
        if set(spec) != {"value"}:
            raise ValueError(f"{where}: a table here must be {{ value = ... }}, got {spec!r}")
    elif isinstance(spec, list):
        for item in spec:
            _quantity(item, names, where)
    elif spec not in names:
        raise ValueError(f"{where}: {spec!r} is not something the suite knows here; use one of "
                         f"{', '.join(sorted(names))}, a list of them, or {{ value = ... }}")


def _array(spec, place, weights, layer, where, output=None):
    """A weight (set) or a gradient (grads): a plain string, or {from|at = ..., axes = ...}."""
    if isinstance(spec, str):
        target, axes = spec, None
    elif isinstance(spec, dict) and place in spec and set(spec) <= {place, "axes"}:
        target, axes = spec[place], spec.get("axes")
    else:
        raise ValueError(f"{where} must be a string or {{ {place} = ..., axes = \"...\" }}, got "
                         f"{spec!r}")
    if place == "from":
        if target not in weights:
            raise ValueError(f"{where}: {target!r} is not a weight of {layer}; the weights are "
                             f"{', '.join(weights) or 'none'}")
        weight = target
    else:
        _path(target, where)
        weight = output[1:]
    if axes is not None:
        contract = WEIGHT_AXES.get((layer, weight))
        if contract is None:
            raise ValueError(f"{where}: axes only apply to {layer}'s W")
        try:
            permutation(contract, axes)
        except AdapterError as error:
            raise ValueError(f"{where}: {error}") from None
