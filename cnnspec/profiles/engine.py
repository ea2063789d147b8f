"""The adapter: an implementation written in another API, seen through the contract's 13 names.

`Adapter(module, description)` has one attribute per contract function the description maps:
`adapter.conv2d(X, W, b, stride=1, padding=0)` calls, say, `module.conv_forward_naive(X, W, b,
{'stride': stride, 'pad': padding})` and returns what it returns. Only arguments, names and layouts
are translated at the boundary, never the math: what comes back is the implementation's own
answer, so every check of the suite judges it as it is.

The description is plain data (JSON-able; cnnspec.profiles builds it from a profile or an adapter
file), so that this module can run where nothing of cnnspec is importable: it is copied, alone,
into a sandboxed worker next to the submission. It imports only NumPy.

Two kinds of entries:

- "function": the contract function is one function of the module, called with arguments built
  from the contract's ({"call": name, "args": [...]}; an item of "args" is the name of a contract
  argument, or {"dict": {key: argument}}, a dict built from several). Its result is returned as
  it is (its tuple is already the contract's, in the same order).
- "class": a forward constructs a layer object from the test's sizes and weights, sets its
  weights, runs its forward method and returns (out, the layer); the layer is the cache. The
  backward runs the backward method on that layer and reads the weights' gradients from the
  attributes the description names. Images may be NHWC in the class: they are transposed (as
  views, never copies, so an in-place change still shows) on the way in and on the way out.
"""
import re

import numpy as np

# How each contract forward's sizes are read from its (contract-layout) arguments.
SIZES = {
    "conv2d": lambda a: {"N": a["X"].shape[0], "C": a["W"].shape[1], "F": a["W"].shape[0],
                         "KH": a["W"].shape[2], "KW": a["W"].shape[3]},
    "maxpool2d": lambda a: {"N": a["X"].shape[0], "C": a["X"].shape[1]},
    "relu": lambda a: {},
    "fully_connected_forward": lambda a: {"N": a["X"].shape[0], "D": a["W"].shape[0],
                                          "M": a["W"].shape[1]},
    "softmax_cross_entropy_loss": lambda a: {"N": a["Z"].shape[0], "K": a["Z"].shape[1]},
}
# The contract's axes of each weight array, by the forward that takes it.
WEIGHT_AXES = {("conv2d", "W"): ("F", "C", "KH", "KW"), ("fully_connected_forward", "W"): ("D", "M")}
IMAGE_FUNCTIONS = ("conv2d", "maxpool2d")          # X and out are images (layout applies)
TO_NHWC, TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)

_PATH = re.compile(r"""\s*(?:\.?\s*([A-Za-z_]\w*)|\[\s*(?:'([^']*)'|"([^"]*)"|(-?\d+))\s*\])""")


class AdapterError(Exception):
    """The description does not fit the implementation (a class or method that is missing)."""


def parse_path(text):
    """'grads["W"]' -> [('attr', 'grads'), ('key', 'W')]: where a value sits on a layer object.
    Attribute names, string keys and integer indices; nothing is evaluated."""
    steps, position, text = [], 0, str(text).strip()
    while position < len(text):
        match = _PATH.match(text, position)
        if not match or match.end() == position:
            raise AdapterError(f"cannot read the path {text!r} at {text[position:]!r}: write "
                               "attribute names, ['key'] or [index], e.g. grads['W']")
        attribute, key1, key2, index = match.groups()
        if attribute is not None:
            steps.append(("attr", attribute))
        elif index is not None:
            steps.append(("key", int(index)))
        else:
            steps.append(("key", key1 if key1 is not None else key2))
        position = match.end()
    if not steps or steps[0][0] != "attr":
        raise AdapterError(f"the path {text!r} must start with an attribute name")
    return steps


def get_path(obj, steps):
    for kind, name in steps:
        obj = getattr(obj, name) if kind == "attr" else obj[name]
    return obj


def set_path(obj, steps, value):
    for kind, name in steps[:-1]:
        obj = getattr(obj, name) if kind == "attr" else obj[name]
    kind, name = steps[-1]
    if kind == "attr":
        setattr(obj, name, value)
    else:
        obj[name] = value


def permutation(contract_axes, class_axes):
    """The transpose that takes an array from the contract's axes to the class's."""
    class_axes = tuple(class_axes.split()) if isinstance(class_axes, str) else tuple(class_axes)
    if sorted(class_axes) != sorted(contract_axes):
        raise AdapterError(f"axes {' '.join(class_axes)!r} must name each of "
                           f"{' '.join(contract_axes)} once")
    return tuple(contract_axes.index(axis) for axis in class_axes)


def bind(function, signature, args, kwargs):
    """{argument: value} for a call of a contract function, as Python would bind it."""
    names, defaults = signature
    if len(args) > len(names):
        raise TypeError(f"{function}() takes {len(names)} positional arguments but {len(args)} "
                        "were given")
    bound = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise TypeError(f"{function}() got an unexpected keyword argument {key!r}")
        if key in bound:
            raise TypeError(f"{function}() got multiple values for argument {key!r}")
        bound[key] = value
    for name in names:
        if name not in bound:
            if name not in defaults:
                raise TypeError(f"{function}() missing required argument: {name!r}")
            bound[name] = defaults[name]
    return bound


class Adapter:
    """The contract's functions, each calling the implementation `module` as `description` says."""

    def __init__(self, module, description):
        self._module, self._description = module, description
        self._forward_of = {}
        for function, entry in description["functions"].items():
            if entry.get("kind") == "class" and entry.get("forward_of"):
                self._forward_of[function] = entry["forward_of"]

    def __dir__(self):
        return list(self._description["functions"])

    def __getattr__(self, function):
        entries = self.__dict__.get("_description", {}).get("functions", {})
        if function not in entries:
            raise AttributeError(function)
        entry = entries[function]
        if entry["kind"] == "function":
            target = getattr(self._module, entry["call"], None)
            if not callable(target):
                raise AttributeError(function)
            call = self._function_call(function, entry, target)
        elif entry.get("forward_of"):
            forward = entries[entry["forward_of"]]
            if not isinstance(getattr(self._module, forward["class"], None), type):
                raise AttributeError(function)
            call = self._class_backward(function, entry)
        else:
            cls = getattr(self._module, entry["class"], None)
            if not isinstance(cls, type):
                raise AttributeError(function)
            call = self._class_forward(function, entry, cls)
        call.__name__ = function
        return call

    def _signature(self, function):
        signature = self._description["signatures"][function]
        return signature["arguments"], signature.get("defaults", {})

    # -- functions ---------------------------------------------------------------------------

    def _function_call(self, function, entry, target):
        signature = self._signature(function)

        def call(*args, **kwargs):
            bound = bind(function, signature, args, kwargs)
            built = [{key: bound[name] for key, name in item["dict"].items()}
                     if isinstance(item, dict) else bound[item] for item in entry["args"]]
            return target(*built)
        return call

    # -- classes -----------------------------------------------------------------------------

    def _images(self, function):
        return self._description.get("layout", "NCHW") == "NHWC" and function in IMAGE_FUNCTIONS

    def _class_forward(self, function, entry, cls):
        signature = self._signature(function)
        images = self._images(function)

        def forward(*args, **kwargs):
            bound = bind(function, signature, args, kwargs)
            sizes = SIZES[function](bound)
            init = {key: _quantity(spec, bound, sizes) for key, spec in
                    entry.get("init", {}).items()}
            layer = cls(**init)
            held = {}          # weight -> (the contract's shape, the shape the class holds it in)
            for where, spec in entry.get("set", {}).items():
                name, axes = (spec, None) if isinstance(spec, str) else (spec["from"],
                                                                         spec.get("axes"))
                value = bound[name]
                contract_shape = np.shape(value)
                if axes:
                    value = np.transpose(value, permutation(WEIGHT_AXES[function, name], axes))
                steps = parse_path(where)
                try:
                    before = get_path(layer, steps)
                except (AttributeError, KeyError, IndexError, TypeError):
                    before = None
                if isinstance(before, np.ndarray) and before.shape != value.shape and \
                        before.size == value.size:
                    value = value.reshape(before.shape)   # the class's own shape, e.g. (1, M)
                set_path(layer, steps, value)
                held[name] = (contract_shape, np.shape(value))
            inputs = [bound[name] for name in entry.get("forward_args", [signature[0][0]])]
            if images:
                inputs[0] = np.transpose(inputs[0], TO_NHWC)
            out = getattr(layer, entry.get("forward", "forward"))(*inputs)
            if images and isinstance(out, np.ndarray) and out.ndim == 4:
                out = np.transpose(out, TO_NCHW)
            if entry.get("returns") == "loss":             # the loss: forward, then backward
                gradient = getattr(layer, entry.get("backward", "backward"))(
                    *[bound[name] for name in entry.get("backward_args", [])])
                return out, gradient
            return out, LayerCache(layer, held)
        return forward

    def _class_backward(self, function, entry):
        forward = entry["forward_of"]
        images = self._images(forward)
        signature = self._signature(function)

        def backward(*args, **kwargs):
            bound = bind(function, signature, args, kwargs)
            gradient, cache = bound[signature[0][0]], bound[signature[0][1]]
            if not isinstance(cache, LayerCache):        # a layer made by hand (Reproduce)
                cache = LayerCache(cache, {})
            if images and isinstance(gradient, np.ndarray) and gradient.ndim == 4:
                gradient = np.transpose(gradient, TO_NHWC)
            dX = getattr(cache.layer, entry.get("backward", "backward"))(gradient)
            if images and isinstance(dX, np.ndarray) and dX.ndim == 4:
                dX = np.transpose(dX, TO_NCHW)
            grads = entry.get("grads", {})
            if not grads:
                return dX
            results = [dX]
            for output, spec in grads.items():
                where, axes = (spec, None) if isinstance(spec, str) else (spec["at"],
                                                                          spec.get("axes"))
                value = get_path(cache.layer, parse_path(where))
                if isinstance(value, np.ndarray):
                    weight = output[1:]                    # dW -> W, db -> b
                    contract_shape, held_shape = cache.held.get(weight, (None, None))
                    if axes:
                        order = permutation(WEIGHT_AXES[forward, weight], axes)
                        if value.ndim == len(order):
                            value = np.transpose(value, np.argsort(order))
                    elif held_shape is not None and value.shape == held_shape != contract_shape:
                        value = value.reshape(contract_shape)     # the class's (1, M) bias
                    value = value.copy()    # an attribute, read now: its value at this call
                results.append(value)
            return tuple(results)
        return backward


class LayerCache:
    """A class-based forward's cache: the layer object, and the shapes its weights were given."""

    def __init__(self, layer, held):
        self.layer, self.held = layer, held

    def __repr__(self):
        return f"<cache: the {type(self.layer).__name__} layer of this forward pass>"


def _quantity(spec, bound, sizes):
    """A constructor argument: a size ('C'), a contract argument ('stride'), a list of those,
    or {"value": literal}."""
    if isinstance(spec, dict):
        return spec["value"]
    if isinstance(spec, list):
        return tuple(_quantity(item, bound, sizes) for item in spec)
    if spec in sizes:
        return int(sizes[spec])
    return bound[spec]
