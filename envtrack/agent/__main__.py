"""`python3 -m envtrack.agent --state DIR [--root /]` inside the container."""

import sys

if sys.version_info < (3, 8):
    # One line in agent.log, which `envtrack up` shows when the agent does not start.
    sys.stderr.write("envtrack-agent: needs Python 3.8 or newer, this is %d.%d\n" % sys.version_info[:2])
    sys.exit(3)

from envtrack.agent.run import main  # noqa: E402 - after the version check, which must parse on any python3

sys.exit(main())
