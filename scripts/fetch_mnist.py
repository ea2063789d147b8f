"""`python scripts/fetch_mnist.py ...`: a thin entry point; the work is done by cnnspec.mnist."""
import sys

from cnnspec.mnist import main

if __name__ == "__main__":
    sys.exit(main())
