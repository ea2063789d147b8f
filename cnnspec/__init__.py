"""cnnspec: a spec-first conformance suite for CNN-from-scratch implementations.

The package map (README.md, "What is where") lists every module; SPEC.md is the contract.
"""
__version__ = "0.2.0"


def __getattr__(name):
    """cnnspec.check, imported on first use (it brings pytest and hypothesis), so that
    `import cnnspec` stays light: `import cnnspec; cnnspec.check()` in a notebook cell."""
    if name == "check":
        from .checking import check
        return check
    raise AttributeError(f"module 'cnnspec' has no attribute {name!r}")
