"""A profiled implementation in a sandboxed worker: the adapter runs beside the submission.

The worker (cnnspec/sandbox) imports a .py file or a package folder and serves the contract's
functions by name, keeping caches in the worker. So the submission is wrapped in a package that
the worker imports like any other:

    cnnspec_api_<name>/
        __init__.py          binds the contract's names to engine.Adapter(submission, ...)
        _cnnspec_engine.py   a copy of engine.py (NumPy only: nothing of cnnspec is importable
                             in the worker)
        submission.py        the submission (or submission/, a package), copied without
                             following links

The profile's description is written into __init__.py as a Python literal of plain data. The
sandbox, its limits and its copy rules apply to the whole package unchanged.
"""
import inspect
from pathlib import Path

from ..sandbox import files
from ..sandbox.proxy import RemoteImplementation
from . import engine

INIT = '''"""The submission seen through the {name} API, for cnnspec's sandboxed worker."""
from . import _cnnspec_engine
from . import submission as _submission

_adapter = _cnnspec_engine.Adapter(_submission, {description!r})
for _function in {functions!r}:
    try:
        globals()[_function] = getattr(_adapter, _function)
    except AttributeError:          # the submission lacks it: the suite reports it missing
        pass
'''


class ProfiledRemote(RemoteImplementation):
    """RemoteImplementation of the package above, for the profile `profile`."""

    def __init__(self, spec, profile, **settings):
        self.profile = profile
        super().__init__(spec, **settings)

    def _materialize(self, spec):
        path = super()._materialize(spec)      # the .py file or package folder to import
        if path is None:
            return None
        package = Path(self._scratch.name) / f"cnnspec_api_{_identifier(self.profile.name)}"
        package.mkdir()
        target = package / ("submission" if path.is_dir() else "submission.py")
        try:
            files.copy_submission(path, target)
        except files.SubmissionRefused as error:
            self.load_error = str(error)
            return None
        (package / "_cnnspec_engine.py").write_text(inspect.getsource(engine))
        (package / "__init__.py").write_text(INIT.format(
            name=self.profile.name, description=self.profile.description(),
            functions=list(self.profile.functions)))
        return package


def _identifier(name):
    text = "".join(c if c.isalnum() else "_" for c in name)
    return text if text.isidentifier() else "profile"
