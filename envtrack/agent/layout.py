"""Where things are inside an environment's container: the contract between host and agent.

Both sides read these names: the host mounts and probes them (`envtrack.container`), the
agent writes them. Shipped into containers, so standard library only and Python 3.8 syntax.
"""

WORKSPACE = "/workspace"               # the project directory, bind-mounted; the image's WORKDIR
STATE_MOUNT = "/envtrack-state"        # the project's .envtrack/ directory
AGENT_MOUNT = "/opt/envtrack-agent"    # the read-only agent bundle
JOURNAL_FILE = "journal.db"
STATUS_FILE = "agent.json"             # pid, container, heartbeat: what `status` judges health by
AGENT_LOG = "agent.log"
LOCK_PATH = "/run/envtrack-agent.lock"  # one agent per container
HEARTBEAT_SECONDS = 15.0               # how often the agent rewrites STATUS_FILE
STATE_DIR_MODE = 0o700                 # .envtrack/: the journal can name private sources
STATE_FILE_MODE = 0o600                # every file in it (journal, -wal, -shm, status, log, stamp, lock)
