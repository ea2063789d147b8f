"""`python scripts/train.py ...`: a thin entry point; the work is done by cnnspec.training."""
import sys

from cnnspec.training import main

if __name__ == "__main__":
    sys.exit(main())
