"""`python -m callinsights ...` runs the command line."""

from callinsights.pipelines.cli import main

raise SystemExit(main())
