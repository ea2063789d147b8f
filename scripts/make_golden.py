"""`python scripts/make_golden.py ...` is `cnnspec golden ...`: a thin entry point."""
import sys

from cnnspec.cli import main

if __name__ == "__main__":
    sys.exit(main(["golden", *sys.argv[1:]]))
