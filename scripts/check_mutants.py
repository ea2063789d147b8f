"""`python scripts/check_mutants.py ...`: a thin entry point; the work is done by cnnspec.selftest.check."""
import sys

from cnnspec.selftest.check import main

if __name__ == "__main__":
    sys.exit(main())
