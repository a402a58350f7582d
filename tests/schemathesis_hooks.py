"""Schemathesis hooks for the control API's test (crates/livekit-cli/tests/control.rs).

WHEP offers are SDP, a text format schemathesis has no serializer for: it sends them as
plain text under their own media type, application/sdp.
"""

import schemathesis

schemathesis.serializer.alias("application/sdp", "text/plain")
