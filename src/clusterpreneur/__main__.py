"""``python -m clusterpreneur``: the command line (see :mod:`clusterpreneur.cli`)."""

import sys

from clusterpreneur.cli import main

sys.exit(main())
