"""Hypothesis profiles for the whole suite."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# "ci" runs more examples with no deadline (shared CI machines are noisy); "dev" is quick.
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
