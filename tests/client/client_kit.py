"""Shared constants of the client tests."""

import os

#: Seconds a test waits for an event, scaled for slow machines.
WAIT = 10.0 * float(os.environ.get("DREAMLOOM_TIMEOUT_FACTOR", "1"))
