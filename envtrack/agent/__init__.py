"""The in-container agent: watches installer records and journals every package change.

It runs on the container's own python3 from a read-only bundle mounted at
/opt/envtrack-agent (see `bundle.py`), so everything here stays Python 3.9 compatible
and imports only the standard library, records.py, the journal, watchdog and sqlite-utils.
"""
