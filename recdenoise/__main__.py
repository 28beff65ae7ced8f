"""``python -m recdenoise`` = the ``recdenoise`` command."""

import sys

from .cli import main

sys.exit(main())
