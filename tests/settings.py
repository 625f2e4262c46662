"""Settings for the test suite: the project settings with a fixed secret and fast timers."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("COLLAB_FLUSH_INTERVAL", "0.2")
os.environ.setdefault("COLLAB_ROOM_GRACE_SECONDS", "0.5")
# Spill files of test servers stay out of the repository's own var/spill.
os.environ.setdefault("COLLAB_SPILL_DIR", f"/tmp/collab-test-spill-{os.getpid()}")
# The per-address rate throttles count in a cache that outlives each test (the test process's, a server's), and the
# suites log in and ask for tokens far more often than a person does. django-axes keeps its real limits (its
# counts are in the database, emptied between tests); tests/test_security.py starts servers with small rates.
os.environ.setdefault("LOGIN_THROTTLE_RATE", "100000/min")
os.environ.setdefault("TOKEN_THROTTLE_RATE", "100000/min")
os.environ.setdefault("UPDATE_THROTTLE_RATE", "100000/min")

from collab.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Whitenoise warns (an error under pytest) when STATIC_ROOT is missing; tests serve from the finders instead.
STATIC_ROOT = BASE_DIR / ".test-static"  # noqa: F405
STATIC_ROOT.mkdir(exist_ok=True)

# The test process creates short-lived stores whose writer threads would otherwise leave connections open.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
