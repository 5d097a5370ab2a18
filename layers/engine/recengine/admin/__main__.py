"""`python -m recengine.admin ...`"""

import sys

from .cli import main

sys.exit(main())
