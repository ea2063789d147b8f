"""cnnspec: a spec-first conformance suite for CNN-from-scratch implementations.

The package map (README.md, "What is where") lists every module; SPEC.md is the contract.
"""
__version__ = "0.2.0"
