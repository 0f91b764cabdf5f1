"""`python3 -m envtrack.agent --state DIR [--root /]` inside the container."""

import sys

try:
    from envtrack.agent.run import main
except (ImportError, SyntaxError, TypeError) as error:
    # The bundle carries the host's watchdog/sqlite-utils; an older container python may not
    # import them. One line in agent.log, which `envtrack up` shows when the agent does not start.
    sys.stderr.write("envtrack-agent: cannot load the agent bundle on Python %d.%d: %s: %s\n"
                     % (sys.version_info[0], sys.version_info[1], type(error).__name__, error))
    sys.exit(3)

sys.exit(main())
