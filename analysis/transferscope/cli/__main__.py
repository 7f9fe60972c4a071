"""``python -m transferscope.cli``."""

from transferscope.cli import main

raise SystemExit(main())
