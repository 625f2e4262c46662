"""Support for the fault tests: private databases, real daphne servers on them, typists, and the token oracle.

Nothing here touches the machine's own databases: SQLite is a file in the test's temporary directory, PostgreSQL a
cluster of its own (Debian's binaries, run as the ``postgres`` user when the tests run as root) on a spare loopback
port, removed at teardown.

The oracle: every typist types unique tokens (``c1-000123``) and remembers each one; after the fault and the
recovery the document is read back from a fresh server process (REST ``text`` and a fresh y-websocket client) and
every token typed must be there.

Modules: ``databases`` (the private SQLite file and PostgreSQL cluster), ``rig`` (one test's world: the servers on
the private database, the owner's token, HTTP exchanges), ``typists`` (the y-websocket clients that type tokens),
``oracle`` (re-sync, read-back and the token count, the findings), ``progress`` (progress lines under ``pytest -s``).
"""
