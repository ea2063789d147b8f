"""Before grading: prove, from inside a sandbox like the workers', that the answers are out of reach.

`leaks(...)` starts a worker whose "submission" is a probe: as a student would, it tries to import
the reference, the suite's oracles and the golden vectors under every name the project has had,
through any editable-install hook it can find; to read each of the project's files at the paths
the grader sees them; and it walks the whole filesystem it can see for a copy of the reference,
the oracles or the golden vectors (by name, and by size and SHA-256, so a renamed copy is found
too). It answers with what it managed; the grader refuses to grade if that is anything.
"""
import hashlib
import importlib.util
import tempfile
import textwrap
from pathlib import Path

from .proxy import RemoteImplementation

MODULES = ("cnnspec.reference.cnn", "cnnspec.spec_tests.oracles", "reference.cnn",
           "spec_tests.oracles", "reference", "spec_tests", "golden", "cnnspec.golden")
DISTINCT = ("cnn.py", "oracles.py", "manifest.json", ".npz")   # files a hash search looks for


def project_files():
    """The project's files a submission must not read: the reference, the suite, the golden
    vectors and the rubric, wherever this installation keeps them."""
    found = []
    for package in ("cnnspec.reference", "cnnspec.spec_tests", "cnnspec.golden",
                    "cnnspec.grading"):
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            found += [p for p in Path(folder).iterdir() if p.is_file()
                      and p.suffix in (".py", ".npz", ".json", ".toml")]
    return sorted(set(found))


PROBE = '''
import hashlib, importlib, os, sys, time

def _try_imports():
    found = []
    for name in {modules!r}:
        try:
            module = importlib.import_module(name)
        except BaseException:
            continue
        where = getattr(module, "__file__", None)
        paths = list(getattr(module, "__path__", []) or [])
        if where and os.path.exists(where):
            found.append(f"imported {{name}} from {{where}}")
        elif any(os.listdir(p) for p in paths if os.path.isdir(p)):
            found.append(f"imported {{name}} (a package with files at {{paths}})")
    for folder in list(sys.path):          # editable-install hooks, run by hand
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith("__editable__") and "cnnspec" in name and name.endswith(".py"):
                try:
                    hook = importlib.import_module(name[:-3])
                    hook.install()
                    module = importlib.import_module("cnnspec.reference.cnn")
                    found.append(f"imported cnnspec.reference.cnn through {{name}} from "
                                 f"{{module.__file__}}")
                except BaseException:
                    pass
    return found

def _try_reads():
    found = []
    for path in {files!r}:
        try:
            with open(path, "rb") as f:
                f.read(1)
            found.append(f"read {{path}}")
        except OSError:
            pass
    return found

def _search(deadline):
    sizes, names, found = {sizes!r}, {names!r}, []
    skip = ("/proc", "/sys", "/dev", os.path.dirname(os.getcwd()))   # and this probe's own folder
    for root, dirs, files in os.walk("/"):
        if time.monotonic() > deadline:
            found.append("the search of the filesystem did not finish in time")
            break
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]
        for name in dirs:      # an installed copy of the package (another version), by its parts
            path = os.path.join(root, name)
            if name.lower().startswith("cnnspec") and not os.path.islink(path):
                try:
                    parts = {{"reference", "spec_tests", "golden"}} & set(os.listdir(path))
                except OSError:
                    parts = set()
                if parts:
                    found.append(f"found a copy of cnnspec at {{path}} (with {{sorted(parts)}})")
        for name in files:
            path = os.path.join(root, name)
            try:
                size = os.lstat(path).st_size
                if size in sizes or name in names:
                    with open(path, "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                    if digest in sizes.get(size, ()):
                        found.append(f"found a copy of {{sizes[size][digest]}} at {{path}}")
            except OSError:
                pass
    return found

def predict(X, params, batch_size=128):
    return _try_imports() + _try_reads() + _search(time.monotonic() + {seconds!r})
'''


def probe_source(files, seconds=120.0):
    """The probe submission's text, for the project files `files` (paths as the grader sees them)."""
    sizes, names = {}, set()
    for path in files:
        if path.name in DISTINCT or path.suffix in DISTINCT:
            data = path.read_bytes()
            sizes.setdefault(len(data), {})[hashlib.sha256(data).hexdigest()] = path.name
            names.add(path.name)
    names -= {"__init__.py"}
    return textwrap.dedent(PROBE).format(modules=MODULES, files=[str(p) for p in files],
                                         sizes=sizes, names=sorted(names), seconds=seconds)


def leaks(hide=(), use_bwrap=None, memory_mb=2048, seconds=120.0):
    """What a submission graded with these settings could get of the project: a list of plain
    sentences (empty when nothing). The probe runs exactly as a submission's worker does."""
    with tempfile.TemporaryDirectory(prefix="cnnspec-audit-") as folder:
        probe = Path(folder) / "cnnspec_isolation_probe.py"
        probe.write_text(probe_source(project_files(), seconds))
        impl = RemoteImplementation(probe, timeout_per_call=seconds + 30, memory_mb=memory_mb,
                                    hide=hide, use_bwrap=use_bwrap)
        try:
            found = impl.predict(None, None)
        except Exception as error:  # noqa: BLE001 - the probe must answer, or nothing is proven
            found = [f"the isolation probe did not answer ({type(error).__name__}: "
                     f"{str(error)[:300]}), so nothing is proven"]
        finally:
            impl.close()
    return [str(line) for line in found] if isinstance(found, list) else [
        f"the isolation probe answered {type(found).__name__}, not a list"]
