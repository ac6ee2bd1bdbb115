"""Entry point for `python3 -m training <command>`; all parsing lives in training/cli.py."""
import sys

from training.cli import main

if __name__ == "__main__":
    sys.exit(main())
