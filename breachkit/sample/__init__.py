"""Seeded sample data: a consumer energy platform's logs and user directory with planted attacks.

`write_sample` writes the committed dataset in `samples/`; `iter_api_events` and `iter_access_lines` stream
any number of lines of mixed traffic for benchmarks.
"""

from .generator import DEFAULT_START, write_sample
from .manifest import AttackPart, PlantedAttack, SampleFile, SampleManifest
from .stream import iter_access_lines, iter_api_events

__all__ = [
    "DEFAULT_START",
    "AttackPart",
    "PlantedAttack",
    "SampleFile",
    "SampleManifest",
    "iter_access_lines",
    "iter_api_events",
    "write_sample",
]
