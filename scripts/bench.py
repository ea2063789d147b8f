"""`python scripts/bench.py ...` is `cnnspec benchmark ...`: a thin entry point."""
import sys

from cnnspec.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))
