"""Shared fixtures: the behaviour suite runs once per execution mode."""

from __future__ import annotations

import os

import pytest

from gearshift._backends import BACKENDS

#: modes the contract suite runs against; GEARSHIFT_TEST_MODES narrows or extends it
MODES = [m for m in os.environ.get("GEARSHIFT_TEST_MODES", ",".join(BACKENDS)).split(",") if m]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)
