"""``python -m fast2dgs_cli`` runs the ``f2dgs`` command line."""

from .entry import main

if __name__ == "__main__":  # not when a worker process of a batch imports this module as its parent's main
    main()
