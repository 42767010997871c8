"""Run breachkit from a checkout without installing it: `python cli.py …`."""

from breachkit.cli import main

if __name__ == "__main__":
    main()
