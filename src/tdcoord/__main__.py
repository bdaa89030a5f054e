"""``python -m tdcoord`` runs the command line."""

from tdcoord.cli import main

main()
