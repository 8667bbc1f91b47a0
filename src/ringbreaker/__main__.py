"""Allow ``python -m ringbreaker``."""

from ringbreaker.cli import main

main()
