"""``python -m simulator`` runs the ``reesim`` command line."""

from .cli import main

main()
