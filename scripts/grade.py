"""`python scripts/grade.py ...` is `cnnspec grade ...`: a thin entry point."""
import sys

from cnnspec.cli import main

if __name__ == "__main__":
    sys.exit(main(["grade", *sys.argv[1:]]))
