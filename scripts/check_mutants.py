"""`python scripts/check_mutants.py ...` is `cnnspec mutants ...`: a thin entry point."""
import sys

from cnnspec.cli import main

if __name__ == "__main__":
    sys.exit(main(["mutants", *sys.argv[1:]]))
