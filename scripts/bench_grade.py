"""`python scripts/bench_grade.py ...` is `cnnspec bench-grade ...`: a thin entry point."""
import sys

from cnnspec.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench-grade", *sys.argv[1:]]))
