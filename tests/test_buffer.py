"""The replay buffer: capacity, FIFO order, re-initialisation rate, state round trip."""

import math

import pytest
import torch

from ebmlab.train.buffer import ReplayBuffer


def numbered(start, n):
    """States whose single value is their serial number, to follow them through the buffer."""
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1)


def stored(buf):
    return sorted(buf.data[: len(buf)].view(-1).tolist())


def test_capacity_and_newest_replace_oldest():
    buf = ReplayBuffer(10)
    buf.add(numbered(0, 4))
    assert len(buf) == 4 and stored(buf) == [0, 1, 2, 3]
    buf.add(numbered(4, 4))
    buf.add(numbered(8, 4))   # 12 added: the two oldest (0, 1) are gone
    assert len(buf) == 10
    assert stored(buf) == list(range(2, 12))
    buf.add(numbered(12, 7))  # 19 added: 0..8 gone
    assert stored(buf) == list(range(9, 19))
    buf.add(numbered(100, 25))  # more than the capacity at once: the last 10 stay
    assert stored(buf) == list(range(115, 125))


def test_fifo_slot_order():
    """Slots are overwritten in ring order, so the oldest state is always the next to go."""
    buf = ReplayBuffer(5)
    buf.add(numbered(0, 5))
    buf.add(numbered(5, 2))
    assert buf.data.view(-1).tolist() == [5, 6, 2, 3, 4]
    buf.add(numbered(7, 4))
    assert buf.data.view(-1).tolist() == [10, 6, 7, 8, 9]


def test_sample_draws_stored_states_and_fresh_ones_while_filling():
    buf = ReplayBuffer(100)
    gen = torch.Generator().manual_seed(0)
    x, idx, fresh = buf.sample(8, lambda n: torch.full((n, 1), -1.0), generator=gen)
    assert fresh.all() and (idx == -1).all() and (x == -1).all()  # empty: everything is fresh
    buf.add(numbered(0, 5))
    x, idx, fresh = buf.sample(8, lambda n: torch.full((n, 1), -1.0), generator=gen)
    assert fresh.sum() == 3  # only 5 stored: the other 3 start fresh
    assert torch.equal(x[~fresh].view(-1), idx[~fresh].float())  # state value == its slot here


@pytest.mark.parametrize("p", [0.05, 0.3])
def test_reinit_rate_within_binomial_error(p):
    buf = ReplayBuffer(1000)
    buf.add(numbered(0, 1000))
    gen = torch.Generator().manual_seed(1)
    draws = [buf.sample(500, lambda k: torch.full((k, 1), -1.0), reinit_prob=p, generator=gen) for _ in range(40)]
    x, idx, fresh = (torch.cat(parts) for parts in zip(*draws))
    n, k = fresh.numel(), int(fresh.sum())
    se = math.sqrt(n * p * (1 - p))
    assert abs(k - n * p) < 4 * se, (k, n * p, se)
    assert torch.equal(fresh, x.view(-1) == -1)   # fresh starts are exactly the re-initialised ones
    assert (idx[fresh] == -1).all() and (idx[~fresh] >= 0).all()


def test_state_round_trip_resumes_identically():
    a = ReplayBuffer(6)
    a.add(numbered(0, 9))  # wrapped around
    b = ReplayBuffer(6)
    b.load_state_dict(a.state_dict())
    assert len(b) == len(a) and b.ptr == a.ptr and torch.equal(b.data, a.data)
    for buf in (a, b):
        buf.add(numbered(50, 2))
    ga, gb = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    xa = a.sample(7, lambda n: torch.zeros(n, 1), 0.2, ga)[0]
    xb = b.sample(7, lambda n: torch.zeros(n, 1), 0.2, gb)[0]
    assert torch.equal(xa, xb)
    partial = ReplayBuffer(6)
    partial.add(numbered(0, 2))
    c = ReplayBuffer(6)
    c.load_state_dict(partial.state_dict())
    assert len(c) == 2 and stored(c) == [0, 1]
    with pytest.raises(ValueError, match="capacity 5 != saved 6"):
        ReplayBuffer(5).load_state_dict(a.state_dict())
