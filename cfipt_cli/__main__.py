"""`python -m cfipt_cli ...`: the same entry point as the `cfipt` script (used by torchrun)."""

from cfipt_cli.cli.app import main

if __name__ == "__main__":
    main()
