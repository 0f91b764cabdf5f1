"""The in-container agent: watches installer records and journals every package change.

It runs on the container's own python3 (3.8 or newer) from a read-only bundle mounted at
/opt/envtrack-agent, or, in an environment without a usable python3, in a companion
container that shares the environment's PID namespace and reads it through /proc/1/root.
What ships is decided by package structure (see `SHIPPED` below): this package, the journal
package and the records package, all standard library only and parsed under the 3.8 grammar
(tests/unit/test_agent_bundle.py walks their imports).
"""

# The envtrack modules and packages that ship into containers, relative to envtrack/.
# Everything under a shipped package ships; nothing outside these does.
SHIPPED = ("agent", "journal", "records")
