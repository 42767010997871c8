"""`python -m breachkit …` works like the `breachkit` command."""

from breachkit.cli import main

main()
