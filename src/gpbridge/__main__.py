"""``python -m gpbridge`` is the ``gpbridge`` command."""

from gpbridge.cli import main

main()
