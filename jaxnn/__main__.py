"""``python -m jaxnn``: the same command line as the ``jaxnn`` script."""

import sys

from jaxnn.cli import main

sys.exit(main())
