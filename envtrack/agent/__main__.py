"""`python3 -m envtrack.agent --state DIR [--root /]` inside the container."""

import sys

from envtrack.agent.run import main

sys.exit(main())
