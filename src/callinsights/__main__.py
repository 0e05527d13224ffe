"""`python -m callinsights ...` runs the command line."""

from callinsights.cli import main

raise SystemExit(main())
