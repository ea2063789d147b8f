"""cnnspec.check(): the conformance suite on the functions of a notebook session, from a cell.

    import cnnspec
    cnnspec.check()                       # every contract function defined in this session
    cnnspec.check("conv2d_backward")      # one function's tests (its own name under a profile)
    cnnspec.check(api="cs231n")           # CS231n's names (conv_forward_naive, ...)
    cnnspec.check(globals())              # the functions of this namespace (a script, a module)

The functions and classes the API needs are found in the caller's namespace, and their SOURCE is
written to a temporary module (inspect.getsource; for classes defined in notebook cells, the
cell's text), with what they use: the modules they import, the helpers and classes they call
(copied the same way), simple constants, and the line of the cell history (`In`) that set any
other global. Nothing of the session's live objects travels: the suite imports that module in a
separate process (`python -m pytest --pyargs cnnspec.spec_tests --isolate`), from the installed
package, so nothing defined in the notebook can edit the checks, and each call of the student's
code runs in a sandboxed worker with a time limit: an endless loop is stopped, a crash ends only
the worker, and the kernel goes on. Then one line per function is printed: passed, or the first
failure's message and its likely cause.
"""
import ast
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import types
from pathlib import Path

from .contract import CONTRACT, FORWARD_OF
from .plugin import CALL_TIMEOUT
from .profiles import get_profile

RUN_TIMEOUT = 1800.0      # seconds for the whole run of the suite (each call has its own limit)
SUITE = "cnnspec.spec_tests"
SIMPLE = (int, float, complex, str, bytes, bool, type(None))


def check(what=None, api="contract", *, namespace=None, seed=0, timeout=CALL_TIMEOUT,
          run_timeout=RUN_TIMEOUT, isolate=True, show=True):
    """Run the conformance suite on this session's functions and print one line per function.

    what: None (the caller's globals), a namespace dict (`globals()`), or the name of one
        function to check (the contract's name, or the API's own: "conv_backward_naive").
    api: "contract" (SPEC.md's names), "cs231n", or the path of an adapter file (.toml).
    namespace: where the functions are (default: the caller's globals), e.g. vars(my_module).
    seed: 0 for the documented inputs, any other number for fresh hidden ones.
    timeout: seconds one call of your code may take before it is stopped.
    isolate: run your code in cnnspec's sandboxed worker (the default; False runs it in the
        suite's process, which a crash or an endless loop ends, within run_timeout).
    Returns a CheckResult ({function: status}); show=False prints nothing.
    """
    only = None
    if isinstance(what, dict):
        namespace = what
    elif isinstance(what, str):
        only = what
    elif what is not None:
        raise TypeError(f"check(what): expected a namespace dict (globals()) or a function's name, "
                        f"got {type(what).__name__}")
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    try:
        profile = get_profile(api)
    except ValueError as error:
        raise ValueError(str(error).replace("--api:", "check(api=...):", 1)) from None
    functions = profile.functions if profile else CONTRACT
    display = {f: profile.display_name(f) if profile else f for f in functions}
    if only is not None:
        function = _function_named(only, functions, display, profile)
        functions = (function,)
    needed = _needed(functions, profile)
    with tempfile.TemporaryDirectory(prefix="cnnspec-check-") as folder:
        folder = Path(folder)
        source, notes = session_source(namespace, needed)
        module = folder / "notebook_session.py"
        module.write_text(source, encoding="utf-8")
        if show:
            what_api = f" through the {profile.name} API" if profile else ""
            print(f"cnnspec: checking {len(functions)} function"
                  f"{'' if len(functions) == 1 else 's'}{what_api} in a separate process ...",
                  flush=True)
        started = time.monotonic()
        log = folder / "log.jsonl"
        command = _command(module, profile, log, seed, timeout, isolate)
        if only is not None:
            keyword = _selection(command, folder, functions[0])
            if keyword is None:
                raise RuntimeError(f"the suite has no tests of {functions[0]}")
            command += ["-k", keyword]
        stopped = _run(command, folder, run_timeout)
        result = CheckResult(_verdicts(log, functions, display, profile, stopped, run_timeout),
                             notes, time.monotonic() - started, profile)
    if show:
        print(result.report(), flush=True)
    return result


class CheckResult(dict):
    """{contract function: (status, detail)}: status is "passed", "failed", "timed out",
    "crashed", "not defined", "not part of the API" or "not run"."""

    def __init__(self, verdicts, notes, seconds, profile):
        super().__init__({f: (v["status"], v["detail"]) for f, v in verdicts.items()})
        self.lines_by_function = {f: v["lines"] for f, v in verdicts.items()}
        self.notes, self.seconds, self.profile = list(notes), seconds, profile

    @property
    def passed(self):
        return all(status in ("passed", "not part of the API") for status, _ in self.values())

    def report(self):
        judged = [s for s, _ in self.values() if s != "not part of the API"]
        lines = [f"cnnspec: {judged.count('passed')} of {len(judged)} functions passed "
                 f"({self.seconds:.0f} s)"]
        for function in self:
            lines += self.lines_by_function[function]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self):
        counts = {}
        for status, _ in self.values():
            counts[status] = counts.get(status, 0) + 1
        return f"<cnnspec check: {', '.join(f'{n} {s}' for s, n in counts.items())}>"


# -- which functions, and their source -----------------------------------------------------------

def _function_named(name, functions, display, profile):
    for function in functions:
        if name in (function, display[function]):
            return function
    if name in CONTRACT and profile is not None:
        raise ValueError(f"check({name!r}): {name} is not part of the {profile.name} API")
    known = ", ".join(display[f] for f in functions)
    raise ValueError(f"check({name!r}): no such function; expected one of {known}")


def _needed(functions, profile):
    """The names the implementation must define for `functions` (its own names): a backward's
    tests run its forward pass too."""
    functions = list(dict.fromkeys(f for function in functions for f in (
        (FORWARD_OF[function], function) if function in FORWARD_OF else (function,))))
    if profile is None:
        return functions
    names = []
    for function in functions:
        entry = profile.entries[function]
        if entry.get("forward_of"):
            entry = profile.entries[entry["forward_of"]]
        name = entry.get("call") or entry.get("class")
        if name not in names:
            names.append(name)
    return names


def session_source(namespace, names):
    """(source of a module defining `names` as `namespace` has them, notes on what could not be
    copied). Functions and classes come with what they use, found in their own globals."""
    collector = _Collector(namespace)
    for name in names:
        if name in namespace:
            collector.need(name, namespace[name], namespace)
    return collector.source(), collector.notes


class _Collector:
    def __init__(self, namespace):
        self.namespace = namespace
        self.history = _history(namespace)
        self.imports, self.constants, self.definitions, self.assignments = [], [], [], []
        self.seen, self.notes = {}, []

    def need(self, name, value, scope):
        if name in self.seen:
            if self.seen[name] is not value and not _same(self.seen[name], value):
                self.notes.append(f"two different objects are called {name}; the first is used")
            return
        self.seen[name] = value
        if isinstance(value, types.ModuleType):
            line = (f"import {value.__name__}" if value.__name__ == name
                    else f"import {value.__name__} as {name}")
            self.imports.append(line)
            return
        if isinstance(value, SIMPLE) or _literal(value):
            self.constants.append(f"{name} = {value!r}")
            return
        if isinstance(value, (types.FunctionType, type)):
            if _importable(value):
                self.imports.append(f"from {value.__module__} import {value.__qualname__}"
                                    + ("" if value.__qualname__ == name else f" as {name}"))
                return
            text = _definition(value, self.history)
            if text is not None:
                self.definitions.append(_renamed(text, value.__name__, name))
                scope = _globals_of(value, self.namespace)
                for used in _uses(value):
                    self._use(used, scope)
                return
        if callable(value) and _importable(value):
            self.imports.append(f"from {value.__module__} import {value.__name__}"
                                + ("" if value.__name__ == name else f" as {name}"))
            return
        statement = self.history.get(name)
        if statement is not None:
            self.assignments.append(statement)
            for used in _names_in(statement):
                self._use(used, self.namespace)
            return
        self.notes.append(f"{name} (a {type(value).__name__}) could not be copied: define it "
                          "inside the function that uses it, or in a cell of its own")

    def _use(self, name, scope):
        if name in scope and not name.startswith("__"):
            self.need(name, scope[name], scope)

    def source(self):
        parts = ["# The definitions of a notebook session, copied by cnnspec.check().",
                 *dict.fromkeys(self.imports), *self.constants, ""]
        parts += [d + "\n" for d in self.definitions]
        parts += self.assignments
        return "\n".join(parts) + "\n"


def _globals_of(value, namespace):
    """The globals a function or class resolves its names in (a class: its methods')."""
    if isinstance(value, types.FunctionType):
        return value.__globals__
    for member in vars(value).values():
        member = getattr(member, "__func__", member)
        if isinstance(member, types.FunctionType):
            return member.__globals__
    module = sys.modules.get(value.__module__)
    return namespace if module is None or value.__module__ == namespace.get("__name__") \
        else vars(module)


def _same(a, b):
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and odd objects: not the same
        return False


def _literal(value):
    if isinstance(value, (tuple, list, frozenset, set)):
        return all(isinstance(v, SIMPLE) or _literal(v) for v in value) and len(value) < 1000
    if isinstance(value, dict):
        return all(isinstance(k, SIMPLE) and (isinstance(v, SIMPLE) or _literal(v))
                   for k, v in value.items()) and len(value) < 1000
    return False


def _importable(value):
    """Whether `value` can be imported by name from an installed module (NumPy, SciPy, the
    standard library), rather than copied as source (the notebook's own code, or a module of
    the student's own beside it)."""
    module = sys.modules.get(getattr(value, "__module__", None) or "")
    if module is None or module.__name__ == "__main__" or not hasattr(module, "__file__"):
        return module is not None and module.__name__ in sys.builtin_module_names
    path = str(Path(module.__file__ or "").resolve())
    roots = {str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    installed = any(path.startswith(root + os.sep) for root in roots) or \
        "site-packages" in path or "dist-packages" in path
    found = getattr(module, value.__qualname__.split(".")[0], None) if hasattr(
        value, "__qualname__") else None
    return installed and found is not None


def _definition(value, history):
    """The source of a function or class, or None."""
    try:
        return textwrap.dedent(inspect.getsource(value))
    except (OSError, TypeError):
        pass
    if isinstance(value, type):             # a class of a notebook cell: find it in its cell
        for member in vars(value).values():
            function = getattr(member, "__func__", member)
            code = getattr(function, "__code__", None)
            if code is None:
                continue
            import linecache
            text = "".join(linecache.getlines(code.co_filename))
            found = _class_in(text, value.__name__, code.co_firstlineno)
            if found:
                return found
    return history.get(f"def {value.__name__}") or history.get(f"class {value.__name__}")


def _class_in(text, name, line):
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name and \
                node.lineno <= line <= (node.end_lineno or line):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            return textwrap.dedent("".join(text.splitlines(True)[start - 1:node.end_lineno]))
    return None


def _renamed(text, own, name):
    """A definition bound to another name (`relu = my_relu`): define it, then alias it."""
    return text if own == name else f"{text}\n{name} = {own}"


def _uses(value):
    """The global names a function or class refers to."""
    codes = []
    if isinstance(value, type):
        for base in value.__bases__:
            if base is not object:
                yield base.__name__
        for member in vars(value).values():
            member = getattr(member, "__func__", member)
            if isinstance(member, property):
                codes += [f.__code__ for f in (member.fget, member.fset, member.fdel) if f]
            elif hasattr(member, "__code__"):
                codes.append(member.__code__)
    else:
        codes.append(value.__code__)
    while codes:
        code = codes.pop()
        yield from code.co_names
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]


def _names_in(statement):
    try:
        return {n.id for n in ast.walk(ast.parse(statement)) if isinstance(n, ast.Name)}
    except SyntaxError:
        return set()


def _history(namespace):
    """{name: the last top-level statement of the cell history (`In`) that set it, and
    'def name' / 'class name': the last definition}, for what cannot be copied otherwise."""
    cells = namespace.get("In")
    found = {}
    if not isinstance(cells, list):
        return found
    for cell in cells:
        if not isinstance(cell, str):
            continue
        try:
            tree = ast.parse(cell)
        except SyntaxError:
            continue
        for node in tree.body:
            text = ast.get_source_segment(cell, node)
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                kind = "class" if isinstance(node, ast.ClassDef) else "def"
                found[f"{kind} {node.name}"] = textwrap.dedent(text)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    for n in ast.walk(target):
                        if isinstance(n, ast.Name):
                            found[n.id] = text
    return found


# -- running the suite, reading its log ----------------------------------------------------------

def _command(module, profile, log, seed, timeout, isolate):
    command = [sys.executable, "-m", "pytest", "--pyargs", SUITE, "--impl", str(module),
               "-m", "not mnist", "-q", "-p", "no:cacheprovider", "--cnnspec-log", str(log),
               "--seed", str(int(seed)), "--tb=no", "-o", "addopts="]
    if profile is not None:
        command += ["--api", profile.api]
    if isolate:
        command += ["--isolate", "--call-timeout", f"{float(timeout):g}"]
    return command


def _environment():
    env = dict(os.environ)
    for name in ("CNNSPEC_IMPL", "CNNSPEC_SEED", "PYTEST_ADDOPTS", "PYTHONSTARTUP"):
        env.pop(name, None)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _selection(command, folder, function):
    """A -k expression selecting exactly the tests of `function`, from a collection run's log
    (tests are chosen by their spec marker; -k only names them)."""
    log = folder / "collected.jsonl"
    collect = [a for a in command if a != "--isolate"]
    collect[collect.index("--cnnspec-log") + 1] = str(log)
    subprocess.run(collect + ["--collect-only"], cwd=folder, env=_environment(),
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    names = set()
    for record in _records(log):
        if record.get("kind") == "collected":
            names |= {t["nodeid"].split("::")[-1].split("[")[0] for t in record["tests"]
                      if t.get("function") == function}
    return " or ".join(sorted(names)) or None


def _run(command, folder, run_timeout):
    """Run the suite; True when it had to be stopped (its time was up)."""
    process = subprocess.Popen(command, cwd=folder, env=_environment(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        process.wait(timeout=run_timeout)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return True
    except BaseException:                   # Ctrl-C in the notebook: stop the suite too
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def _records(log):
    try:
        lines = Path(log).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def _verdicts(log, functions, display, profile, stopped, run_timeout):
    tests, results = {}, {}
    for record in _records(log):
        if record.get("kind") == "collected":
            tests = {t["nodeid"]: t for t in record["tests"]}
        elif record.get("kind") == "result":
            results[record["nodeid"]] = record
    verdicts = {}
    for function in CONTRACT:
        if profile is not None and function not in profile.functions:
            if function in functions or len(functions) > 1:
                verdicts[function] = _verdict(display.get(function, function),
                                              "not part of the API",
                                              f"not part of the {profile.name} API")
            continue
        if function not in functions:
            continue
        mine = [n for n, t in tests.items() if t.get("function") == function]
        done = [results[n] for n in mine if n in results]
        failed = [r for r in done if r["outcome"] == "failed"]
        name = display[function]
        if not mine:
            verdicts[function] = _verdict(name, "not run", "the suite did not run")
        elif failed:
            verdicts[function] = _failure(name, failed, len(done))
        elif len(done) < len(mine):
            why = (f"the run was stopped after {run_timeout:g} s" if stopped else
                   "the suite ended early")
            verdicts[function] = _verdict(name, "not run", f"{len(mine) - len(done)} of "
                                          f"{len(mine)} tests did not run: {why}")
        else:
            passed = sum(r["outcome"] == "passed" for r in done)
            skipped = len(done) - passed
            verdicts[function] = _verdict(name, "passed", f"passed ({passed} tests" + (
                f"; {skipped} not applicable" if skipped else "") + ")")
    return verdicts


def _verdict(name, status, detail, more=()):
    return {"status": status, "detail": detail,
            "lines": [f"  {name:28s} {detail}"] + [f"  {'':28s} {m}" for m in more]}


def _failure(name, failed, ran):
    """The first failure that says most (its own, not a "not judged" of another function)."""
    own = [r for r in failed if not r["message"].startswith("not judged")] or failed
    message = own[0]["message"]
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    causes = [line.strip()[len("Likely cause:"):].strip() for line in message.splitlines()
              if line.strip().startswith("Likely cause:")]
    status = "failed"
    if "did not return within" in message:
        status = "timed out"
        first = (f"timed out: {_between(message, 'WorkerFailure: ', ' on a valid input')} "
                 "(an endless loop, or far too slow)")
    elif "crashed the worker" in message:
        status = "crashed"
        first = f"crashed the process: {_between(message, 'WorkerFailure: ', ' on a valid input')}"
    elif "is not defined in" in first:
        status = "not defined"
        first = "not defined in this session"
    elif "is not called again" in message:
        status = "timed out" if "timed out" in message else "crashed"
    detail = f"FAILED {len(failed)} of {ran}: {first}" if status == "failed" else first
    return _verdict(name, status, detail, [f"likely cause: {c}" for c in causes[:1]])


def _between(text, start, end):
    text = text.split(start, 1)[-1]
    return text.split(end, 1)[0].strip().splitlines()[0]
