"""A notebook's definitions without its side effects: the source the suite and the grader import.

Students' notebooks load CSVs, train for minutes and plot at top level. Running them blindly would
make grading slow and fragile, so from each code cell we keep only what defines things: imports,
function and class definitions, and plain constant assignments (`LR = 0.01`, `SHAPE = (8, 1, 3, 3)`,
`EPS = 1e-7 * SCALE`). Everything else is dropped and reported, as is any cell that does not parse.
Only the notebook's text is read here (nbformat + ast); nothing in it is executed.
"""
import ast

import nbformat

SNIPPET = 70   # characters of a dropped statement quoted in the report

_KIND = {ast.For: "loop", ast.AsyncFor: "loop", ast.While: "loop", ast.If: "if block",
         ast.With: "with block", ast.AsyncWith: "with block", ast.Try: "try block",
         ast.Expr: "expression", ast.Assign: "assignment", ast.AnnAssign: "assignment",
         ast.AugAssign: "assignment", ast.Delete: "del", ast.Assert: "assert", ast.Raise: "raise"}


def notebook_to_source(path):
    """Return (source, report) for the notebook at `path`.

    source: Python text with the kept statements of every code cell, in order.
    report: one plain-English line per dropped statement, magic line or unparsable cell.
    Raises ValueError when the file is not a readable notebook.
    """
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as error:  # nbformat raises several unrelated types for a corrupt file
        raise ValueError(f"{path} is not a readable Jupyter notebook: {error}") from None
    future, parts, report = [], [], []
    kept_names = set()
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        kept = _cell(number, cell.source, kept_names, future, report)
        if kept:
            parts.append(f"# --- notebook code cell {number} ---\n" + "\n".join(kept) + "\n")
    return "".join(future) + "\n".join(parts), report


def _cell(number, text, kept_names, future, report):
    """The kept statements of one cell (as text), updating kept_names, future and report."""
    where = f"cell {number}"
    if text.lstrip().startswith("%%"):
        report.append(f"{where}: dropped the whole cell (cell magic {_first_line(text.lstrip())!r})")
        return []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            # Replace with `pass` at the same indent so the cell still parses and line numbers hold.
            kind = "shell command" if stripped.startswith("!") else "magic"
            report.append(f"{where}, line {i + 1}: dropped {kind} {_short(stripped)!r}")
            lines[i] = line[:len(line) - len(stripped)] + "pass"
    source = "\n".join(lines)
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        report.append(f"{where} does not parse ({error.msg}, line {error.lineno}): "
                      "dropped the whole cell")
        return []
    kept = []
    for node in tree.body:
        text_of = _segment(source, lines, node)
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            future.append(text_of + "\n")          # must stay first in the module
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            kept.append(text_of)
            kept_names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kept.append(text_of)
            kept_names.add(node.name)
        elif _is_constant_assignment(node, kept_names):
            kept.append(text_of)
            kept_names.update(_target_names(node))
        elif isinstance(node, ast.Pass) or _is_docstring(node):
            continue
        else:
            kind = _KIND.get(type(node), type(node).__name__.lower())
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                kind = "assignment that computes (only constant assignments are kept)"
            report.append(f"{where}, line {node.lineno}: dropped {kind} {_short(text_of)!r}")
    return kept


def _is_constant_assignment(node, kept_names):
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None and node.simple:
        targets, value = [node.target], node.value
    else:
        return False
    return all(_plain_target(t) for t in targets) and _is_constant(value, kept_names)


def _plain_target(target):
    if isinstance(target, ast.Name):
        return True
    return isinstance(target, (ast.Tuple, ast.List)) and all(_plain_target(t) for t in target.elts)


def _is_constant(node, kept_names):
    """Literals, containers of them, arithmetic on them, names already kept (np.float32, LR)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in kept_names
    if isinstance(node, ast.Attribute):
        return _is_constant(node.value, kept_names)
    if isinstance(node, ast.UnaryOp):
        return _is_constant(node.operand, kept_names)
    if isinstance(node, ast.BinOp):
        return _is_constant(node.left, kept_names) and _is_constant(node.right, kept_names)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_is_constant(e, kept_names) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_constant(k, kept_names) and _is_constant(v, kept_names)
                   for k, v in zip(node.keys, node.values))
    return False


def _target_names(node):
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = set()
    for t in targets:
        names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _is_docstring(node):
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
        and isinstance(node.value.value, str)


def _segment(source, lines, node):
    """The statement's exact text; definitions from their first decorator on, as whole lines."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        return "\n".join(lines[first - 1:node.end_lineno])
    return ast.get_source_segment(source, node)


def _first_line(text):
    return text.splitlines()[0] if text else ""


def _short(text):
    line = _first_line(text.strip())
    more = len(line) > SNIPPET or "\n" in text.strip()
    return line[:SNIPPET] + (" ..." if more else "")
