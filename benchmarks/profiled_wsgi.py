"""Our WSGI application under cProfile, for ``ack.py --profile``: each request is profiled in
its own thread's profiler, and every worker writes its profiles to ``BENCH_PROFILE_DIR`` as it
exits (and every 200 requests, in case it is killed). Only for measuring; never deployed."""

import atexit
import cProfile
import os
import threading
from pathlib import Path

from whatsappcrm.wsgi import application as _application

_DIR = Path(os.environ["BENCH_PROFILE_DIR"])
_local = threading.local()
_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
_count = 0


def _dump() -> None:
    with _lock:
        for n, profile in enumerate(_profiles):
            profile.dump_stats(_DIR / f"worker-{os.getpid()}-{n}.prof")


def application(environ, start_response):
    global _count
    profile = getattr(_local, "profile", None)
    if profile is None:
        profile = _local.profile = cProfile.Profile()
        with _lock:
            _profiles.append(profile)
    profile.enable()
    try:
        response = _application(environ, start_response)
        body = b"".join(response)  # the whole answer inside the profile
        if hasattr(response, "close"):
            response.close()
    finally:
        profile.disable()
    with _lock:
        _count += 1
        due = _count % 200 == 0
    if due:
        _dump()
    return [body]


atexit.register(_dump)
