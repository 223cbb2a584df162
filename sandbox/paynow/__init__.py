"""An emulated Paynow (Zimbabwe) on loopback: express/web checkout, poll, trace, status updates.

Verifies our hashes as Paynow does, plays the test-mode numbers on a time scale, delivers signed
status updates with retries, and has a JSON control API for demos and fault tests (README.md).
"""

from sandbox.paynow.server import PaynowEmulator
from sandbox.paynow.state import normalise_phone

__all__ = ["PaynowEmulator", "normalise_phone"]
