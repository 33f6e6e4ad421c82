"""``python -m a2a_fast.cli``: the ``a2a-fast`` command."""

import sys

from a2a_fast.cli import main

sys.exit(main())
