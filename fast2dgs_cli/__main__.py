"""``python -m fast2dgs_cli`` runs the ``f2dgs`` command line."""

from .cli import main

main()
