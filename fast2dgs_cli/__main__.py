"""``python -m fast2dgs_cli`` runs the ``f2dgs`` command line."""

from .entry import main

main()
