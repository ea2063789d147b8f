"""API profiles: how an implementation under test names and shapes things.

The contract (SPEC.md) fixes thirteen names and their arguments. Most hand-written CNNs use other
names: CS231n's `conv_forward_naive(x, w, b, conv_param)`, or layer classes with forward and
backward methods. A profile maps the contract onto such an API, so the same checks (the same
oracles, finite differences, tie rule and tolerances) judge it:

- `contract` (the default): the implementation is called as it is; nothing is wrapped.
- `cs231n` (cs231n.py): the layer functions of CS231n's layers.py.
- a path to an adapter file (`*.toml`, layer_classes.py): layer classes, NCHW or NHWC.

The suite translates arguments and layouts at the boundary (engine.py) and never the math. What a
profile does not contain is skipped as "not part of this API" (NotInProfile), and a clause it
relaxes is not reported (Relaxed); SPEC.md ("API profiles") has each profile's clause table.
Failure messages and Reproduce lines are rewritten into the profile's own names (reproduce.py).
"""
from pathlib import Path

import numpy as np

from ..contract import ARGUMENTS, CONTRACT, DEFAULTS, HYGIENE
from ..implementation import LoadFailed, MissingFunction, load_implementation
from . import cs231n
from .engine import Adapter, bind

DEFAULT = "contract"
BUILT_IN = (DEFAULT, cs231n.NAME)
RUNTIME_RULES = ("POOL-3",)       # relaxed by checking the answer, not by leaving tests out
# GEN-4 is the rule for errors; these clauses list, per function, the cases it applies to.
IMPLIED = {"GEN-4": ("CONV-6", "POOL-5", "RELU-3", "FC-4", "LOSS-5", "NET-4", "PRED-4", "ACC-2")}


class Profile:
    """One API: which contract functions it has, what it calls them, what it relaxes."""

    def __init__(self, name, title, functions, relaxes=None, displays=None, layout="NCHW",
                 source=None):
        self.name, self.title, self.layout, self.source = name, title, layout, source
        self.entries = dict(functions)
        self.functions = tuple(f for f in CONTRACT if f in self.entries)
        self.relaxes = dict(relaxes or {})
        self.declared = tuple(self.relaxes)            # as the profile states them
        for clause, implied in IMPLIED.items():
            for other in implied if clause in self.relaxes else ():
                self.relaxes.setdefault(other, self.relaxes[clause])
        self.displays = dict(displays or {})
        for function in self.functions:
            entry = self.entries[function]
            self.displays.setdefault(function, entry.get("call") or function)

    def __repr__(self):
        return f"<API profile {self.name}>"

    @property
    def api(self):
        """What --api takes to select this profile again (a name, or the adapter file's path)."""
        return str(self.source) if self.source else self.name

    def display_name(self, function):
        """The implementation's own name for a contract function (conv2d -> conv_forward_naive)."""
        return self.displays.get(function, function)

    def description(self):
        """The plain data engine.Adapter runs on."""
        return {"name": self.name, "layout": self.layout, "functions": self.entries,
                "signatures": {f: {"arguments": list(ARGUMENTS[f]),
                                   "defaults": dict(DEFAULTS.get(f, {}))}
                               for f in self.functions}}

    def skip_reason(self, meta):
        """Why a test (its spec marker: function, output, category, clauses) is not run under
        this profile, or None. A relaxed clause leaves out the tests that are about it: hygiene
        tests citing it (a dtype test for GEN-2, an error test for GEN-4), and tests all of whose
        clauses, tolerances aside, are relaxed. POOL-3 is relaxed by checking the answer."""
        function = meta["function"]
        if function not in self.entries:
            return f"{function} is not part of the {self.name} API"
        clauses = list(meta.get("clauses") or [])
        relaxed = [c for c in clauses if c in self.relaxes and c not in RUNTIME_RULES]
        if not relaxed:
            return None
        about = [c for c in clauses if not c.startswith("TOL-")]
        if meta.get("category") in HYGIENE or all(c in self.relaxes for c in about):
            clause = next((c for c in relaxed if c in self.declared), relaxed[0])
            if clause not in self.declared:          # implied: name the clause that was relaxed
                clause = next(k for k, v in IMPLIED.items() if clause in v)
            return f"{clause} is relaxed by the {self.name} API: {self.relaxes[clause]}"
        return None

    def translate_message(self, text):
        from .reproduce import translate_message
        return translate_message(text, self)

    def adapt(self, implementation):
        """The implementation (an implementation.Implementation, loaded in this process) seen
        through the contract."""
        return ProfiledImplementation(implementation, self)

    def defines(self, module, function):
        entry = self.entries.get(function)
        if entry is None:
            return False
        if entry["kind"] == "function":
            return callable(getattr(module, entry["call"], None))
        if entry.get("forward_of"):
            entry = self.entries[entry["forward_of"]]
        return isinstance(getattr(module, entry["class"], None), type)

    def missing_message(self, function, name):
        entry = self.entries[function]
        if entry["kind"] == "function":
            return f"{entry['call']} is not defined in {name}"
        cls = entry.get("class") or self.entries[entry["forward_of"]]["class"]
        return f"{self.display_name(function)}: the class {cls} is not defined in {name}"


def get_profile(api=None):
    """The profile `api` names: None or "contract" for the contract itself (returns None: nothing
    to wrap), "cs231n", or the path of an adapter file (.toml)."""
    if api in (None, "", DEFAULT):
        return None
    if api == cs231n.NAME:
        return Profile(cs231n.NAME, cs231n.TITLE, cs231n.FUNCTIONS, cs231n.RELAXES)
    if str(api).endswith(".toml"):
        from . import layer_classes
        path = Path(str(api)).expanduser()
        name, layout, functions, relaxes, displays = layer_classes.load(path)
        return Profile(name, f"the layer classes described by {path.name}", functions, relaxes,
                       displays, layout, source=path.resolve())
    raise ValueError(f"--api: unknown API {api!r}; expected one of {', '.join(BUILT_IN)}, or the "
                     "path of an adapter file ending in .toml (see SPEC.md, \"API profiles\")")


def adapt(module, api):
    """`module` (an imported module, or anything with the API's functions and classes as
    attributes) seen through the contract: adapt(layers, "cs231n").conv2d(X, W, b, 1, 0) calls
    layers.conv_forward_naive(X, W, b, {'stride': 1, 'pad': 0}). Reproduce lines use it when a
    call cannot be written in the profile's own names."""
    profile = get_profile(api)
    if profile is None:
        return module
    return Adapter(module, profile.description())


class ProfiledImplementation:
    """The implementation under test, called through a profile; for the suite it looks like an
    implementation.Implementation (or a sandbox's RemoteImplementation): `impl.conv2d(...)`."""

    def __init__(self, inner, profile, adapter=None):
        self.inner, self.profile = inner, profile
        self.name = getattr(inner, "name", str(inner))
        self.api = profile
        module = getattr(inner, "module", None)
        # in this process: the adapter wraps the module; isolated: the worker runs the adapter
        self.adapter = adapter if adapter is not None else (
            Adapter(module, profile.description()) if module is not None else None)

    # what the plugin logs and the tools read
    @property
    def notes(self):
        return getattr(self.inner, "notes", [])

    @property
    def load_error(self):
        return getattr(self.inner, "load_error", None)

    @property
    def isolation(self):
        return getattr(self.inner, "isolation", None)

    def close(self):
        close = getattr(self.inner, "close", None)
        if close:
            close()

    def display_name(self, function):
        return self.profile.display_name(function)

    def defines(self, function):
        if function not in self.profile.entries or self.load_error is not None:
            return False
        if self.adapter is not None:
            return self.profile.defines(self.inner.module, function)
        return self.inner.defines(function)

    def __repr__(self):
        return f"<{self.name} through the {self.profile.name} API>"

    def __getattr__(self, function):
        if function not in CONTRACT:
            raise AttributeError(function)
        from .outcomes import NotInProfile
        profile = self.__dict__["profile"]
        if function not in profile.entries:
            raise NotInProfile(f"{function} is not part of the {profile.name} API")
        if self.load_error is not None:
            raise LoadFailed(f"{profile.display_name(function)} cannot be tested: {self.name} "
                             f"failed to load:\n{self.load_error}")
        if self.adapter is not None:
            if not profile.defines(self.inner.module, function):
                raise MissingFunction(profile.missing_message(function, self.name))
            call = getattr(self.adapter, function)
        else:
            try:
                call = getattr(self.inner, function)
            except MissingFunction:
                raise MissingFunction(profile.missing_message(function, self.name)) from None
        if "POOL-3" in profile.relaxes and function in ("maxpool2d", "maxpool2d_backward"):
            return self._any_tie(function, call)
        return call

    # -- POOL-3 relaxed: any one tied maximum takes the window's gradient ---------------------

    def _any_tie(self, function, call):
        """maxpool2d's cache carries the input it pooled (TieCache: opaque to the suite, which
        passes it back as it is), so that the backward's answer can be judged by the relaxed
        rule when the input had ties."""
        signature = (ARGUMENTS[function], DEFAULTS.get(function, {}))

        def forward(*args, **kwargs):
            bound = bind(function, signature, args, kwargs)
            X = bound["X"]
            kept = np.array(X, copy=True) if isinstance(X, np.ndarray) else None
            result = call(*args, **kwargs)
            if kept is None or not isinstance(result, (tuple, list)) or len(result) != 2:
                return result
            return type(result)((result[0], TieCache(result[1], kept, bound["pool_size"],
                                                     bound["stride"])))

        def backward(*args, **kwargs):
            bound = bind(function, signature, args, kwargs)
            pooled = bound["cache"]
            if isinstance(pooled, TieCache):
                bound["cache"] = pooled.cache
            dX = call(**bound)
            if isinstance(pooled, TieCache) and isinstance(dX, np.ndarray) and \
                    accepted_tie_routing(dX, pooled.X, bound["dout"], pooled.size, pooled.stride):
                from .outcomes import Relaxed
                raise Relaxed(f"POOL-3 is relaxed by the {self.profile.name} API: "
                              f"{self.display_name(function)} sent a tied window's gradient to "
                              "another of its tied maxima than the first, which this API accepts")
            return dX
        return forward if function == "maxpool2d" else backward


class TieCache:
    """A pooling cache, with the input the forward pass saw (for the relaxed tie rule)."""

    def __init__(self, cache, X, size, stride):
        self.cache, self.X, self.size, self.stride = cache, X, size, stride

    def __repr__(self):
        return f"<maxpool cache {type(self.cache).__name__}>"


def _windows(shape, size, stride):
    N, C, H, W = shape
    for i in range((H - size) // stride + 1):
        for j in range((W - size) // stride + 1):
            yield i, j, slice(i * stride, i * stride + size), slice(j * stride, j * stride + size)


def routing(X, dout, size, stride, rule):
    """Max-pool backward with the tie rule `rule` ("first" or "last" maximum, row-major)."""
    dX = np.zeros(X.shape, np.float64)
    for i, j, rows, cols in _windows(X.shape, int(size), int(stride)):
        window = X[:, :, rows, cols].reshape(X.shape[0], X.shape[1], -1)
        flat = window if rule == "first" else window[:, :, ::-1]
        k = np.argmax(flat, axis=2)
        if rule == "last":
            k = window.shape[2] - 1 - k
        u, v = np.unravel_index(k, (rows.stop - rows.start, cols.stop - cols.start))
        n, c = np.indices(k.shape)
        np.add.at(dX, (n, c, rows.start + u, cols.start + v), dout[:, :, i, j])
    return dX


def accepted_tie_routing(dX, X, dout, size, stride):
    """Whether dX is right under the relaxed POOL-3 but not under the contract's first-maximum
    rule: the input has ties, and each window's gradient went, whole, to one of its tied maxima.
    Windows that do not overlap may each pick any tied maximum; overlapping windows must all
    follow one rule (first or last), as code does."""
    try:
        X, dout = np.asarray(X, np.float64), np.asarray(dout, np.float64)
        size, stride = int(size), int(stride)
        if X.ndim != 4 or dX.shape != X.shape or dout.ndim != 4 or size < 1 or stride < 1:
            return False
        got = dX.astype(np.float64)
        if np.allclose(got, routing(X, dout, size, stride, "first"), rtol=1e-6, atol=0):
            return False                 # the contract's own answer: judged as usual
        if stride >= size:               # windows apart: each may pick any of its ties
            outside = np.ones(X.shape, bool)
            for i, j, rows, cols in _windows(X.shape, size, stride):
                outside[:, :, rows, cols] = False
                window, part = X[:, :, rows, cols], got[:, :, rows, cols]
                g = dout[:, :, i, j]
                ties = window == window.max(axis=(2, 3), keepdims=True)
                nonzero = part != 0
                hits = nonzero & ties & np.isclose(part, g[:, :, None, None], rtol=1e-6, atol=0)
                count, hit = nonzero.sum(axis=(2, 3)), hits.sum(axis=(2, 3))
                if not np.where(g == 0, count == 0, (count == 1) & (hit == 1)).all():
                    return False
            return not got[outside].any()
        return bool(np.allclose(got, routing(X, dout, size, stride, "last"), rtol=1e-6, atol=0))
    except Exception:  # noqa: BLE001 - an answer this cannot read is judged by the tests as usual
        return False


def load(spec, api, isolate=None):
    """The implementation at `spec` through the profile `api` (get_profile). isolate: None to
    load it in this process, else a dict of RemoteImplementation's settings (timeout_per_call,
    memory_mb, hide, use_bwrap) to run it in a sandboxed worker."""
    profile = api if isinstance(api, Profile) else get_profile(api)
    if isolate is None:
        implementation = load_implementation(spec)
        return implementation if profile is None else profile.adapt(implementation)
    if profile is None:
        from ..sandbox.proxy import RemoteImplementation
        return RemoteImplementation(spec, **isolate)
    from .isolated import ProfiledRemote
    return ProfiledImplementation(ProfiledRemote(spec, profile, **isolate), profile,
                                  adapter=None)
