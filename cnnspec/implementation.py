"""Finding the implementation under test: a .py file, a package folder, a notebook or a module name.

`load_implementation(spec)` never raises: a submission that fails to import still yields an
Implementation whose every function fails with the import error, so that each test reports it and
the rest of the run goes on. A function the module lacks fails only its own tests.
"""
import importlib
import importlib.util
import itertools
import os
import sys
import traceback
from pathlib import Path

from .contract import CONTRACT

REFERENCE = "reference"
REFERENCE_MODULE = "cnnspec.reference"


class MissingFunction(AssertionError):
    """The implementation does not define a contract function (a test failure, not an error)."""


class LoadFailed(AssertionError):
    """The implementation could not be imported at all."""


class Implementation:
    """The module under test, seen through the contract: `impl.conv2d(...)` and so on."""

    def __init__(self, name, module=None, load_error=None, notes=()):
        self.name = name
        self.module = module
        self.load_error = load_error
        self.notes = list(notes)       # e.g. what a notebook loader dropped

    def __getattr__(self, function):
        if function not in CONTRACT:
            raise AttributeError(function)
        if self.load_error is not None:
            raise LoadFailed(f"{function} cannot be tested: {self.name} failed to load:\n{self.load_error}")
        value = getattr(self.module, function, None)
        if not callable(value):
            raise MissingFunction(f"{function} is not defined in {self.name}")
        return value

    def defines(self, function):
        return self.load_error is None and callable(getattr(self.module, function, None))

    def __repr__(self):
        return f"<implementation {self.name}>"


def describe(spec):
    return "the reference (cnnspec.reference)" if spec in (None, "", REFERENCE) else str(spec)


_counter = itertools.count()


def _import_file(path, package=False):
    """Import a file or package folder under a fresh private name, so two never collide."""
    name = f"cnnspec_impl_{next(_counter)}_{path.stem.replace('-', '_').replace(' ', '_')}"
    target = path / "__init__.py" if package else path
    spec = importlib.util.spec_from_file_location(
        name, target, submodule_search_locations=[str(path)] if package else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # A submission may import its own helper modules that sit beside it.
    folder = str(path if package else path.parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def _import_notebook(path):
    """(module, notes): the notebook's kept statements run in a fresh module; notes are the
    report's summary line, its stubbed and dropped statements, then what raised at load."""
    from .notebook import load_notes, read_notebook
    source, report = read_notebook(path)
    notes = [report.summary()] + report.lines()
    module = type(sys)(f"cnnspec_notebook_{next(_counter)}")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)  # in-process: the user's own code
    return module, notes + load_notes(module)


def notebook_report(spec):
    """For a notebook: lines saying what its loader keeps, stubs and drops (read, not run);
    [] for anything else or a notebook that cannot be read (loading it says why)."""
    path = Path(os.path.expanduser(str(spec or "")))
    if path.suffix != ".ipynb" or not path.is_file():
        return []
    from .notebook import read_notebook
    try:
        report = read_notebook(path)[1]
    except ValueError:
        return []
    return [f"cnnspec: notebook {report.summary()}"] + [f"  {line}" for line in report.lines()]


def load_implementation(spec=None):
    """Load the implementation named by `spec` in this process (trusted code only).

    spec: None or "reference" for the reference; a path to a .py file, a package folder or an
    .ipynb notebook; or a dotted module name importable from sys.path.
    """
    name = describe(spec)
    notes = []
    try:
        if spec in (None, "", REFERENCE):
            module = importlib.import_module(REFERENCE_MODULE)
        else:
            path = Path(os.path.expanduser(str(spec)))
            if path.suffix == ".ipynb" and path.is_file():
                module, notes = _import_notebook(path)
            elif path.suffix == ".py" and path.is_file():
                module = _import_file(path)
            elif path.is_dir() and (path / "__init__.py").is_file():
                module = _import_file(path, package=True)
            elif path.suffix in (".py", ".ipynb") or os.sep in str(spec):
                return Implementation(name, load_error=f"no such file or package folder: {spec}")
            else:
                module = importlib.import_module(str(spec))
    except BaseException as error:  # noqa: BLE001 - a submission may raise anything, even SystemExit
        if isinstance(error, KeyboardInterrupt):
            raise
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        return Implementation(name, load_error=detail, notes=notes)
    return Implementation(name, module=module, notes=notes)
