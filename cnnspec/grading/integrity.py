"""Integrity flags: submissions that match the reference, and pairs of submissions that match
each other. Flags for the instructor to read, never points taken.

Each contract function of a submission is reduced to its shape: parsed (never run), docstrings
dropped, every identifier renamed by order of first use (v0, v1, ...; attributes such as
`np.maximum` stay), every string (an error message) replaced by one placeholder, and printed back
by `ast.unparse`, so comments, names, messages and formatting are gone.
Two versions of a function are compared by the Jaccard similarity of their sets of K-token
shingles. Functions shorter than MIN_TOKENS tokens (a one-line relu) are left out: everyone writes
them alike. The reference is read from the installed package in the grader's process (students are
never given it); a submission's notebook is compared through the source it keeps
(`notebook_to_source`). Comparing every pair of a class is O(n^2) set intersections over functions:
a few seconds for a few hundred submissions.
"""
import ast
import builtins
import re
from importlib import resources
from pathlib import Path

from ..contract import CONTRACT
from ..notebook import RUNTIME, notebook_to_source

K = 5                 # tokens per shingle
MIN_TOKENS = 40       # shorter functions are too generic to tell anything
MATCH = 0.8           # a function "matches" at this similarity or above
REFERENCE_FUNCTIONS = 3   # a reference copy: at least this many functions match the reference
PAIR_FLOOR = 0.6      # pairs listed: this mean similarity or above
MAX_BYTES = 2_000_000     # larger sources are not read (a file that size is not a homework)
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\S")
_BUILTINS = frozenset(dir(builtins))


def reference_source():
    """The reference implementation's source text, from the installed package."""
    folder = resources.files("cnnspec.reference")
    return "\n".join(f.read_text(encoding="utf-8") for f in sorted(folder.iterdir(),
                     key=lambda f: f.name) if f.name.endswith(".py"))


def submission_source(path):
    """The Python source of a submission (a .py file, a notebook, or a folder of them), read as
    text. Files that are not regular, or larger than MAX_BYTES, are skipped."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".py", ".ipynb"))[:200]
    else:
        files = [path]
    parts = []
    for f in files:
        try:
            if not f.is_file() or f.stat().st_size > MAX_BYTES:
                continue
            if f.suffix == ".ipynb":
                parts.append(kept_cells(notebook_to_source(f)[0]))
            else:
                parts.append(f.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError):
            continue
    return "\n".join(parts)


def kept_cells(generated):
    """The code a notebook keeps, from notebook_to_source's generated module: the text of each
    `RUNTIME.cell(number, text)` call, joined (the runtime copied in around them is cnnspec's)."""
    try:
        tree = ast.parse(generated)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ""
    return "\n".join(
        node.args[1].value for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == "cell" and isinstance(node.func.value, ast.Name)
        and node.func.value.id == RUNTIME and len(node.args) == 2
        and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str))


class _Canonical(ast.NodeTransformer):
    """Rename identifiers by order of first use (builtins keep their names); every string,
    f-strings too, becomes "s"."""

    def __init__(self):
        self.names = {}

    def _name(self, name):
        if name is None or name in _BUILTINS:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Constant(self, node):
        return ast.Constant("s") if isinstance(node.value, (str, bytes)) else node

    def visit_JoinedStr(self, node):      # an f-string: a message a copier rewords first
        return ast.Constant("s")

    def visit_Name(self, node):
        node.id = self._name(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._name(node.arg)
        node.annotation = None
        return node

    def visit_keyword(self, node):
        node.arg = self._name(node.arg)
        self.generic_visit(node)
        return node

    def visit_FunctionDef(self, node):
        node.name = self._name(node.name)
        node.returns = None
        node.body = _without_strings(node.body)
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        node.name = self._name(node.name)
        node.body = _without_strings(node.body)
        self.generic_visit(node)
        return node

    def visit_alias(self, node):
        node.asname = self._name(node.asname or node.name.split(".")[0])
        return node


def _without_strings(body):
    """A body without its docstring and other bare string statements."""
    kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                    and isinstance(s.value.value, str))]
    return kept or [ast.Pass()]


def normalised_functions(source):
    """{contract function: its normalised text} for the contract functions `source` defines
    (the last definition of a name wins, as when the code runs). Unparsable source gives {}."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in CONTRACT:
            found[node.name] = node
    out = {}
    for name, node in found.items():
        try:
            canonical = _Canonical()
            body = [canonical.visit(s) for s in _without_strings(node.body)]
            args = canonical.visit(node.args)
            shell = ast.FunctionDef(name="f", args=args, body=body, decorator_list=[],
                                    returns=None, type_comment=None)
            out[name] = ast.unparse(ast.fix_missing_locations(ast.Module([shell], [])))
        except (RecursionError, ValueError, AttributeError, TypeError):
            continue
    return out


def shingles(text):
    """(token count, set of K-token shingles) of a normalised text."""
    tokens = _TOKEN.findall(text)
    return len(tokens), {hash(tuple(tokens[i:i + K])) for i in range(max(1, len(tokens) - K + 1))}


def fingerprint(source):
    """{contract function: (tokens, shingles)} for the functions long enough to compare."""
    prints = {}
    for name, text in normalised_functions(source).items():
        count, grams = shingles(text)
        if count >= MIN_TOKENS:
            prints[name] = (count, grams)
    return prints


def compare(a, b):
    """(mean similarity weighted by length, {function: similarity}) over the functions both
    fingerprints hold; (0.0, {}) when they share none."""
    each, weighted, weights = {}, 0.0, 0
    for name in a.keys() & b.keys():
        (na, ga), (nb, gb) = a[name], b[name]
        common = len(ga & gb)
        similarity = common / (len(ga) + len(gb) - common)
        each[name] = similarity
        weighted += similarity * (na + nb)
        weights += na + nb
    return (weighted / weights if weights else 0.0), each


def _ordered(names):
    names = set(names)
    return [f for f in CONTRACT if f in names]


def check(submissions, reference=None):
    """Integrity findings for a class: `submissions` maps a name to its source text.

    Returns {"reference": {name: [matching functions]} for the reference copies,
             "pairs": [(a, b, similarity, [matching functions])] most similar first,
             "flags": {name: one line for summary.csv}}."""
    ref = fingerprint(reference_source() if reference is None else reference)
    prints = {name: fingerprint(source) for name, source in submissions.items()}
    copies = {}
    for name, mine in prints.items():
        _, each = compare(mine, ref)
        matching = _ordered(f for f, s in each.items() if s >= MATCH)
        if len(matching) >= REFERENCE_FUNCTIONS:
            copies[name] = matching
    names = list(prints)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            similarity, each = compare(prints[a], prints[b])
            if similarity >= PAIR_FLOOR:
                pairs.append((a, b, similarity, _ordered(f for f, s in each.items() if s >= MATCH)))
    pairs.sort(key=lambda p: (-p[2], p[0], p[1]))
    flags = {name: [] for name in submissions}
    for name, matching in copies.items():
        flags[name].append(f"matches the reference in {len(matching)} function(s)")
    more = {name: 0 for name in submissions}
    for a, b, similarity, _ in pairs:          # most similar first: each keeps its first three
        for mine, other in ((a, b), (b, a)):
            if len(flags[mine]) - (mine in copies) < 3:
                flags[mine].append(f"{similarity:.2f} similar to {other}")
            else:
                more[mine] += 1
    for name, count in more.items():
        if count:
            flags[name].append(f"and {count} more pair(s)")
    return {"reference": copies, "pairs": pairs,
            "flags": {name: "; ".join(lines) for name, lines in flags.items()}}


def check_paths(graded):
    """check() for graded submissions (dicts with "name" and "submission", as grade returns)."""
    return check({g["name"]: submission_source(g["submission"]) for g in graded})
