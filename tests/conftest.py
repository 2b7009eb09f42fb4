"""Shared test set-up."""

import pytest

import ebmlab.progress


@pytest.fixture(autouse=True)
def _fresh_progress_heartbeat():
    # the heartbeat carries a job's 30-second line cadence across its loops; a test is a job
    ebmlab.progress._heartbeat.update(clock=None, t=None)
    yield
