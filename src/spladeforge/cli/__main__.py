"""`python -m spladeforge.cli`: the same as the `spladeforge` command."""

from spladeforge.cli import main

main()
