"""The two protocols every stage from preprocessing on runs under (docs/protocols.md).

``paper`` is the released code step for step, defects included: the published numbers came
from it. ``corrected`` fixes those defects. The raw data is obtained once; each protocol
then has its own ``results/<dataset>/<protocol>/`` (:mod:`weaklesion.layout`).
"""

PAPER = "paper"
CORRECTED = "corrected"

PROTOCOLS = (PAPER, CORRECTED)
"""Every protocol, in the order of the tables and figures."""

DEFAULT_PROTOCOLS = (PAPER,)
"""What a dataset runs under when the config names no protocol."""
