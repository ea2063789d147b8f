"""`python scripts/make_golden.py ...`: a thin entry point; the work is done by cnnspec.golden_vectors."""
import sys

from cnnspec.golden_vectors import main

if __name__ == "__main__":
    sys.exit(main())
