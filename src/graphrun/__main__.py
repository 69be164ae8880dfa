"""``python -m graphrun`` is the ``graphrun`` command."""

from graphrun.cli import main

main()
