"""`python scripts/bench.py ...`: a thin entry point; the work is done by cnnspec.benchmark."""
import sys

from cnnspec.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
