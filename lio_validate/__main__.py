"""``python -m lio_validate``: the command line."""

from lio_validate.cli import main

raise SystemExit(main())
