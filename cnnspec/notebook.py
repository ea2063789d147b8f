"""A notebook's definitions without its side effects: the source the suite and the grader import.

Students' notebooks mount Google Drive, load CSVs, train for minutes and plot at top level. Run
blindly, that would make grading slow and fragile; dropped blindly, a global that a function uses
(`rng = np.random.default_rng(42)`) goes missing. So from each code cell we keep what defines
things, and nothing that does work:

- imports, function and class definitions, and `try` blocks made only of those;
- simple globals: assignments to plain names whose right side uses only literals, earlier kept
  names and pure calls (NumPy, math and pure standard-library modules, a few builtins, methods of
  kept values): `LR = 0.1 * BATCH / 64`, `rng = np.random.default_rng(42)`, `SHAPE = tuple(...)`.
  A function may need such a global to exist; anything else at top level is work (loading data,
  training, plotting, calling the notebook's own functions) and must not run when grading;
- everything else is dropped: loops, plain calls, other assignments, magics and shell lines.

The generated source runs each kept statement on its own (see _CnnspecNotebook at the bottom), so
that one failure at load costs only the functions that use it:

- an import that fails (a module not installed where the code runs: tqdm, a data-loading helper,
  a plotting backend) binds a stand-in that raises ImportError, naming the import and its cell,
  only when it is used. Imports of ALWAYS_STUBBED modules (Colab) are never run at all;
- any other kept statement that raises binds the names it would have set to a stand-in that
  raises NameError with the same details when used.

Each cell is compiled under the file name "<notebook>, code cell N" with the cell's own line
numbers (dropped lines are left blank), and its text is put in linecache, so a traceback reads
`File "hw3.ipynb, code cell 4", line 12, in conv2d` followed by the student's own line. Cells are
numbered among code cells only, from the top (markdown cells do not count).

Only the notebook's text is read here (nbformat + ast); nothing in it is executed in this module.
"""
import ast
import builtins
import functools
import importlib.util
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SNIPPET = 70   # characters of a statement quoted in the report

# Never imported when grading, even where installed: they talk to the notebook's host (Drive,
# the browser), and a grade must not depend on whether the grader happens to run inside Colab.
# Module (and its submodules) -> why, as the student reads it.
ALWAYS_STUBBED = {"google.colab": "it only works inside Google Colab"}

# A kept global may call only these modules: pure computation, nothing that reads files, talks
# to the network, plots or draws a progress bar. An allow list, so that an unknown data-loading
# helper is dropped rather than run.
PURE_MODULES = frozenset({
    "numpy", "math", "cmath", "random", "fractions", "decimal", "statistics", "collections",
    "functools", "itertools", "operator", "string", "re", "copy", "dataclasses", "enum",
    "typing", "numbers"})
# ... except these functions and methods, which read or write files (np.load, ndarray.tofile).
FILE_CALLS = frozenset({
    "load", "loadtxt", "genfromtxt", "fromfile", "fromregex", "memmap", "open_memmap", "save",
    "savez", "savez_compressed", "savetxt", "tofile", "dump", "DataSource", "open", "read",
    "write"})
ONLY_PURE = "only NumPy, math and pure standard-library calls run when grading"
SAFE_BUILTINS = frozenset({
    "abs", "all", "any", "bool", "bytes", "chr", "complex", "dict", "divmod", "enumerate",
    "filter", "float", "format", "frozenset", "int", "isinstance", "issubclass", "len", "list",
    "map", "max", "min", "object", "ord", "pow", "range", "repr", "reversed", "round", "set",
    "slice", "sorted", "str", "sum", "tuple", "type", "zip"})

# What a kept name is, for the rules above: a module path ("numpy.random") for imported names.
CODE = "code"      # a def, class or lambda, or a value holding one: calling it is top-level work
VALUE = "value"    # built from literals and pure calls only

_DROPPED_KIND = {
    ast.For: "loop", ast.AsyncFor: "loop", ast.While: "loop", ast.If: "if block",
    ast.With: "with block", ast.AsyncWith: "with block", ast.Try: "try block",
    ast.Expr: "expression", ast.Assign: "assignment", ast.AnnAssign: "assignment",
    ast.AugAssign: "assignment", ast.Delete: "del", ast.Assert: "assert", ast.Raise: "raise"}
# `%matplotlib inline`, `!pip install x`, `files = !ls`: IPython lines (group 1 tells which).
_MAGIC_LINE = re.compile(r"(?:[A-Za-z_][\w\s,]*=\s*)?([%!])")
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


# -- the report ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Statement:
    """One statement of the notebook: where it is, what it is, and why it was not kept as is."""
    cell: int       # code cell number, counting code cells only, from 1
    line: int       # line in that cell, from 1
    kind: str       # "import", "definition", "global", "loop", "magic", ...
    text: str       # the statement's first line, shortened
    why: str = ""   # for stubbed and dropped statements

    @property
    def where(self):
        return f"code cell {self.cell}, line {self.line}"


@dataclass
class NotebookReport:
    """What was kept, stubbed and dropped, statement by statement."""
    notebook: str
    kept: list = field(default_factory=list)
    stubbed: list = field(default_factory=list)   # imports that become stand-ins (predicted)
    dropped: list = field(default_factory=list)

    def lines(self):
        """One plain-English line per stubbed or dropped statement, in notebook order."""
        tagged = [(s, "stubbed") for s in self.stubbed] + [(s, "dropped") for s in self.dropped]
        tagged.sort(key=lambda pair: (pair[0].cell, pair[0].line))
        return [f"{s.where}: {verb} {s.kind}" + (f" {s.text!r}" if s.text else "")
                + (f" ({s.why})" if s.why else "") for s, verb in tagged]

    def summary(self):
        """One line: how many statements of each kind were kept, stubbed and dropped."""
        counts = {}
        for s in self.kept:
            counts[s.kind] = counts.get(s.kind, 0) + 1
        kept = ", ".join(_count(n, kind) for kind, n in counts.items())
        text = f"{self.notebook}: kept {kept or 'nothing'}"
        if self.stubbed:
            text += f"; stubbed {_count(len(self.stubbed), 'import')}"
        if self.dropped:
            text += f"; dropped {_count(len(self.dropped), 'statement')}"
        return text


def _count(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


# -- reading a notebook -------------------------------------------------------------------------

def notebook_to_source(path):
    """(source, notes): read_notebook's source and its report as plain lines (report.lines())."""
    source, report = read_notebook(path)
    return source, report.lines()


def read_notebook(path):
    """Return (source, report) for the notebook at `path`.

    source: Python text that, imported or exec'd, defines what the notebook keeps (see above).
    report: a NotebookReport of every statement kept, stubbed or dropped.
    Raises ValueError when the file is not a readable notebook.
    """
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as error:  # nbformat raises several unrelated types for a corrupt file
        raise ValueError(f"{path} is not a readable Jupyter notebook: {error}") from None
    name = Path(str(path)).name
    report = NotebookReport(name)
    names = {}      # kept name -> CODE, VALUE or the module path it was imported from
    cells = []
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        text = _cell(number, cell.source, names, report)
        if text.strip():
            cells.append((number, text))
    return _generate(name, cells, [s.where for s in report.stubbed]), report


def _cell(number, text, names, report):
    """The kept text of one cell (dropped lines blank), updating names and report."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.lstrip().startswith("%%"):
        line = text[:len(text) - len(text.lstrip())].count("\n") + 1
        magic = _short(text.lstrip().split("\n")[0])
        report.dropped.append(Statement(number, line, "the whole cell", "",
                                        f"cell magic {magic!r}"))
        return ""
    lines = text.split("\n")
    tree = _parse(text)
    if tree is None:
        for i, line in enumerate(lines):
            stripped = line.lstrip()
            magic = _MAGIC_LINE.match(stripped)
            if magic:
                # `pass` at the same indent: the cell then parses and its line numbers hold.
                kind = "shell command" if magic.group(1) == "!" else "magic"
                report.dropped.append(Statement(number, i + 1, kind, _short(stripped)))
                lines[i] = line[:len(line) - len(stripped)] + "pass"
    source = "\n".join(lines)
    try:
        if tree is None:
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError) as error:   # ValueError: a null byte
        line, why = getattr(error, "lineno", None) or 1, getattr(error, "msg", None) or error
        report.dropped.append(Statement(number, line, "the whole cell", "",
                                        f"it does not parse: {why}"))
        return ""
    kept = []
    for node in tree.body:
        verdict, kind, why = _judge(node, names)
        if verdict == "skip":
            continue
        getattr(report, verdict).append(
            Statement(number, node.lineno, kind, _snippet(lines, node), why))
        if verdict != "dropped":
            kept.append(node)
    return _kept_text(lines, kept)


def _parse(text):
    """The cell's syntax tree, or None when it does not parse as plain Python."""
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return None


# -- which statements are kept -----------------------------------------------------------------

def _judge(node, names):
    """(verdict, kind, why) for one top-level statement, updating names for what is kept.

    verdict: "kept", "stubbed" (an import predicted to fail), "dropped", or "skip" (a docstring
    or `pass`, not worth a line in the report)."""
    if isinstance(node, ast.Pass) or _is_docstring(node):
        return "skip", "", ""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        names.update(_imported_names(node))
        why = _stub_reason(node)
        return ("kept", "import", "") if why is None else ("stubbed", "import", why)
    if isinstance(node, _DEFINITIONS):
        names[node.name] = CODE
        return "kept", "definition", ""
    if isinstance(node, ast.Try):
        trial = dict(names)
        if all(_keepable_in_try(s, trial) for s in _try_statements(node)):
            names.update(trial)
            return "kept", "try block", ""
        return "dropped", "try block", "it holds more than imports, definitions and globals"
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        try:
            why = _why_not_global(node, names)
        except RecursionError:
            why = "it is too deeply nested to check"
        if why is not None:
            return "dropped", "assignment", why
        if not isinstance(node, ast.AugAssign):
            names.update(dict.fromkeys(_target_names(node), _kind_of(node.value, names)))
        return "kept", "global", ""
    return "dropped", _DROPPED_KIND.get(type(node), type(node).__name__.lower()), ""


def _keepable_in_try(node, names):
    """Inside a kept try block, imports run as written: the student's own fallback handles them."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        names.update(_imported_names(node))
        return True
    verdict, _, _ = _judge(node, names)
    return verdict in ("kept", "skip")


def _try_statements(node):
    handlers = [s for h in node.handlers for s in h.body]
    return node.body + handlers + node.orelse + node.finalbody


def _stub_reason(node):
    """Why this import will be a stand-in when loaded, or None when it should import.

    Only a guess for missing modules (this process's sys.path, top-level package only): the
    runtime stubs whatever fails where the code actually runs."""
    for module in _modules_of(node):
        if module is None:
            return "a notebook is not a package: relative imports fail"
        for stubbed, why in ALWAYS_STUBBED.items():
            if module == stubbed or module.startswith(stubbed + "."):
                return f"{stubbed}: {why}; using it fails when graded"
        top = module.partition(".")[0]
        try:
            found = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"{top} is not installed here; using it fails when graded"
    return None


def _modules_of(node):
    """The modules an import statement imports (None for a relative import)."""
    if isinstance(node, ast.ImportFrom):
        return [None] if node.level else [node.module]
    return [alias.name for alias in node.names]


def _imported_names(node):
    """{bound name: module path it refers to} for an import statement."""
    if isinstance(node, ast.Import):
        return {a.asname or a.name.partition(".")[0]: a.name if a.asname else
                a.name.partition(".")[0] for a in node.names}
    base = "." * node.level + (node.module or "")
    return {a.asname or a.name: f"{base}.{a.name}" for a in node.names if a.name != "*"}


def _why_not_global(node, names):
    """None when an assignment is a simple global to keep, else why it is dropped."""
    if isinstance(node, ast.AnnAssign) and node.value is None:
        return None                                   # `x: int` sets nothing
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for target in targets:
        if not _plain_target(target):
            return f"it assigns to {_short(ast.unparse(target))}, not to a plain name"
    if isinstance(node, ast.AugAssign) and names.get(node.target.id) not in (VALUE, CODE):
        return f"it updates {node.target.id}, which was not kept"
    if isinstance(node.value, ast.Lambda):
        return None                                   # a definition: its body runs only if called
    return _why_not_pure(node.value, names)


def _plain_target(target):
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, ast.Starred):
        return _plain_target(target.value)
    return isinstance(target, (ast.Tuple, ast.List)) and all(_plain_target(t) for t in target.elts)


def _why_not_pure(node, names, local=frozenset()):
    """None when the expression may run at load (see the module docstring), else why not.

    local: names bound inside the expression (lambda arguments, comprehension variables)."""
    if isinstance(node, ast.Name):
        if node.id in local or node.id in names or node.id in SAFE_BUILTINS:
            return None
        return f"it uses {node.id}, which was not kept"
    if isinstance(node, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
        return "it binds or waits inside an expression"
    if isinstance(node, _COMPREHENSIONS):
        parts = []
        for generator in node.generators:      # each `for` sees the variables of those before
            parts += [(generator.iter, local)]
            local = local | {n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)}
            parts += [(condition, local) for condition in generator.ifs]
        results = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        return _first_reason(_why_not_pure(part, names, scope)
                             for part, scope in parts + [(r, local) for r in results])
    if isinstance(node, ast.Lambda):
        local = local | {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    if isinstance(node, ast.Call):
        # What a call may run: its callee, and anything callable handed to it (`map(f, xs)`).
        handed = [part for argument in node.args + [k.value for k in node.keywords]
                  for part in ast.walk(argument) if isinstance(part, (ast.Name, ast.Attribute))]
        why = _first_reason([_why_not_callable(node.func, names, "calls", local)] +
                            [_why_not_callable(part, names, "passes", local) for part in handed])
        if why:
            return why
    return _first_reason(_why_not_pure(child, names, local) for child in ast.iter_child_nodes(node))


def _why_not_callable(node, names, verb, local):
    """None when what a call runs (verb "calls") or may run (verb "passes": an argument) is pure
    computation, else why not. A name nobody kept is left to _why_not_pure when passed."""
    attributes = []
    while isinstance(node, ast.Attribute):
        attributes.insert(0, node.attr)
        node = node.value
    shown = ".".join([node.id if isinstance(node, ast.Name) else "(...)"] + attributes)
    if attributes and attributes[-1] in FILE_CALLS:
        return f"it {verb} {shown}, which reads or writes files"
    if not isinstance(node, ast.Name):        # a method of a computed value, checked on its own
        return "it calls the result of an expression" if verb == "calls" and not attributes \
            else None
    kind = names.get(node.id)
    if node.id in local or (kind is None and node.id in SAFE_BUILTINS) or kind == VALUE:
        return None
    if kind is None and verb == "calls" and hasattr(builtins, node.id):
        return f"it calls {node.id}; {ONLY_PURE}"
    if kind is None:
        return f"it calls {node.id}, which was not kept" if verb == "calls" else None
    if kind == CODE:
        return (f"it {verb} {shown}, the notebook's own code: top-level work does not run "
                "when grading")
    path = ".".join([kind] + attributes)      # an imported name: judge the module it names
    if path.startswith(".") or path.partition(".")[0] not in PURE_MODULES:
        return f"it {verb} {shown}; {ONLY_PURE}"
    if FILE_CALLS.intersection(path.split(".")):
        return f"it {verb} {shown}, which reads or writes files"
    return None


def _kind_of(value, names):
    """What a kept global holds: CODE when calling it could run the notebook's code or impure
    code (a lambda, `ACTIVATIONS = {"relu": relu}`, `show = plt.show`), else VALUE."""
    if isinstance(value, ast.Lambda):
        return CODE
    parts = [p for p in ast.walk(value) if isinstance(p, (ast.Name, ast.Attribute))]
    if any(_why_not_callable(p, names, "passes", frozenset()) for p in parts):
        return CODE
    return VALUE


def _first_reason(reasons):
    return next((r for r in reasons if r), None)


def _target_names(node):
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _is_docstring(node):
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
        and isinstance(node.value.value, str)


# -- the kept text of a cell --------------------------------------------------------------------

def _first_line(node):
    """A statement's first line: a definition's first decorator."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _snippet(lines, node):
    """How the report quotes a statement: a compound one by its first line, a simple one alone
    (it may share its line with others)."""
    if hasattr(node, "body"):
        return _short("\n".join(lines[node.lineno - 1:node.end_lineno]))
    return _short("\n".join(_segment(lines, node)))


def _segment(lines, node):
    """A statement's exact text, as lines (ast.get_source_segment, without re-splitting the cell
    each time; ast's column offsets count UTF-8 bytes)."""
    first, last = node.lineno - 1, node.end_lineno - 1
    rows = [line.encode() for line in lines[first:last + 1]]
    rows[-1] = rows[-1][:node.end_col_offset]
    rows[0] = rows[0][node.col_offset:]
    return [row.decode() for row in rows]


def _kept_text(lines, kept):
    """The cell with only the kept statements: every other line blank, so line numbers hold."""
    rows = [""] * len(lines)
    for node in kept:
        if hasattr(node, "body"):
            # A compound statement owns its lines (nothing can share them at top level).
            first = _first_line(node)
            rows[first - 1:node.end_lineno] = lines[first - 1:node.end_lineno]
            continue
        # A simple statement may share a line with others (`import numpy as np; data = load()`).
        for row, part in enumerate(_segment(lines, node), start=node.lineno - 1):
            rows[row] = f"{rows[row]}; {part}" if rows[row] else part
    return "\n".join(rows).rstrip() + "\n"


def _short(text):
    line = text.strip().split("\n")[0]
    more = len(line) > SNIPPET or "\n" in text.strip()
    return line[:SNIPPET] + (" ..." if more else "")


# -- the generated source -----------------------------------------------------------------------

RUNTIME = "_cnnspec"   # the name of the generated source's _CnnspecNotebook


def _generate(name, cells, reported):
    """The source: the runtime below, copied in (the worker that imports this has nothing of
    cnnspec), then one call per cell with the cell's kept text."""
    parts = [f"# The kept definitions of the notebook {name!r}, written by cnnspec.notebook.\n"
             "# Each code cell below runs statement by statement under the file name\n"
             f"# {name + ', code cell N'!r}, with the cell's own line numbers; dropped lines "
             "are blank.\n",
             *_runtime_source(),
             f"{RUNTIME} = _CnnspecNotebook(globals(), {name!r},\n"
             f"    always_stubbed={ALWAYS_STUBBED!r},\n    reported={tuple(reported)!r})\n"]
    for number, text in cells:
        body = "".join(f"    {line!r}\n" for line in text.splitlines(keepends=True))
        parts.append(f"{RUNTIME}.cell({number}, (\n{body}))\n")
    return "\n\n".join(parts)


@functools.lru_cache(maxsize=None)
def _runtime_source():
    return inspect.getsource(_CnnspecStub), inspect.getsource(_CnnspecNotebook)


def load_notes(module):
    """What happened when a generated source ran that the report could not predict (an import
    that failed anyway, a kept statement that raised), as plain strings; [] for anything else.

    module: the module (or the namespace dict) the generated source ran in."""
    runtime = module.get(RUNTIME) if isinstance(module, dict) else getattr(module, RUNTIME, None)
    notes = getattr(runtime, "notes", None)
    return [str(n) for n in notes] if isinstance(notes, list) else []


# -- the runtime: copied verbatim into every generated source (stdlib only) ---------------------

class _CnnspecStub:
    """Stands in for a name the notebook could not set when loaded: using it raises the error."""

    def __init__(self, error, message):
        self._cnnspec_error, self._cnnspec_message = error, message

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)   # Python's own probes (copy, inspect) see a plain object
        raise self._cnnspec_error(self._cnnspec_message)

    def __call__(self, *args, **kwargs):
        raise self._cnnspec_error(self._cnnspec_message)

    # Any other use (`W @ X`, `len(W)`, `if W:`, np.asarray(W)) says what the stand-in is, too.
    __iter__ = __getitem__ = __len__ = __bool__ = __array__ = __int__ = __float__ = __call__
    __index__ = __neg__ = __abs__ = __lt__ = __le__ = __gt__ = __ge__ = __call__
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __matmul__ = __call__
    __rmatmul__ = __truediv__ = __rtruediv__ = __floordiv__ = __pow__ = __rpow__ = __call__

    def __repr__(self):
        return f"<stand-in: {self._cnnspec_message}>"


class _CnnspecNotebook:
    """Runs a notebook's kept statements one at a time, each cell under its own file name.

    An import that fails, or of an always-stubbed module, binds stand-ins that raise ImportError
    when used; any other statement that raises binds the names it would have set (and that are not
    set yet) to stand-ins that raise NameError. Either way only the code that uses them fails.
    `notes` lists what happened that the static report (`reported`: where it predicted a
    stand-in) did not say.
    """

    def __init__(self, namespace, notebook, always_stubbed=None, reported=()):
        self.namespace, self.notebook = namespace, notebook
        self.always_stubbed, self.reported = dict(always_stubbed or {}), set(reported)
        self.flags = 0      # `from __future__ import ...` holds for later statements, as in Jupyter
        self.notes = []

    def cell(self, number, source):
        import ast
        import linecache
        filename = f"{self.notebook}, code cell {number}"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        lines = source.split("\n")
        for node in ast.parse(source, filename).body:
            line = lines[node.lineno - 1].encode()   # ast's column offsets count UTF-8 bytes
            end = node.end_col_offset if node.end_lineno == node.lineno else len(line)
            text = line[node.col_offset:end].decode().strip()      # the statement's first line
            statements = [node]
            if isinstance(node, ast.Import):     # `import os, tqdm`: each module on its own
                statements = [ast.copy_location(ast.Import([a]), node) for a in node.names]
            for statement in statements:
                self.run(statement, text, filename, f"code cell {number}, line {node.lineno}")

    def run(self, node, text, filename, where):
        import ast
        module = None
        if isinstance(node, ast.Import):
            module = node.names[0].name
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
        for stubbed, why in self.always_stubbed.items():
            if module and (module == stubbed or module.startswith(stubbed + ".")):
                why = f"{stubbed} is not imported when grading: {why}"
                self.stand_in(node, ImportError, text, where, why)
                return
        try:
            exec(compile(ast.Module([node], []), filename, "exec", self.flags, True),
                 self.namespace)
        except Exception as error:  # noqa: BLE001 - whatever the notebook raises, fail on use
            happened = f"{type(error).__name__}: {error}"
            if module is not None:
                self.stand_in(node, ImportError, text, where, f"it failed ({happened})")
            else:
                self.stand_in(node, NameError, text, where,
                              f"it raised {happened} when the notebook was loaded")
            return
        if module == "__future__":
            import __future__
            for alias in node.names:
                self.flags |= getattr(__future__, alias.name).compiler_flag

    def stand_in(self, node, error, text, where, why):
        names = [n for n in self.bound(node) if n not in self.namespace]
        verb = "is a stand-in for" if error is ImportError else "was not set by"
        for name in names:
            self.namespace[name] = _CnnspecStub(error, f"{name} {verb} `{text}` ({where}): {why}")
        if where not in self.reported:
            self.notes.append(f"{where}: `{text}`: {why}" +
                              (f"; {', '.join(names)} will fail when used" if names else ""))

    def bound(self, node):
        """The names a kept statement binds (not those local to a function or comprehension)."""
        import ast
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return [node.name]
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return [a.asname or a.name.partition(".")[0] for a in node.names if a.name != "*"]
        if isinstance(node, ast.Name):
            return [node.id] if isinstance(node.ctx, ast.Store) else []
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                             ast.GeneratorExp)):
            return []
        return [n for child in ast.iter_child_nodes(node) for n in self.bound(child)]
