"""`python scripts/bench_suite.py ...` is `cnnspec bench-suite ...`: a thin entry point."""
import sys

from cnnspec.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench-suite", *sys.argv[1:]]))
