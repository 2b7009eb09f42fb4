"""Replay buffer of persistent chain states (Du & Mordatch 2019; thesis section 3.2.4).

Start points for the sampler are drawn uniformly from the stored states; each draw is
replaced, with probability ``reinit_prob``, by a fresh start from ``reinit_fn`` (uniform
noise for the NLL regime, a data point for true CD). While the buffer holds fewer
states than requested, the missing ones also come from ``reinit_fn``. Two update
policies cover the two code bases the papers build on:

* ``add``: newest replaces oldest (a FIFO of ``capacity`` states; IGEBM);
* ``replace``: write the chains' end states back where their starts were drawn (JEM).

With ``reinit_in_place`` a re-initialised draw keeps the slot it was drawn from, so
``replace`` writes its chain's end state back there (JEM overwrites a random stored
state this way); without it the fresh chain's end state is appended.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

ReinitFn = Callable[[int], Tensor]


class ReplayBuffer:
    def __init__(self, capacity: int, device: str | torch.device = "cpu", reinit_in_place: bool = False):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.reinit_in_place = reinit_in_place
        self.device = torch.device(device)
        self.data: Tensor | None = None
        self.size = 0  # states stored
        self.ptr = 0   # next FIFO slot

    def __len__(self) -> int:
        return self.size

    def _alloc(self, like: Tensor) -> None:
        if self.data is None:
            self.data = torch.empty((self.capacity, *like.shape[1:]), dtype=like.dtype, device=self.device)

    def fill(self, x: Tensor) -> None:
        """Initialise with states ``x`` (e.g. uniform noise, or real images for true CD)."""
        self.data, self.size, self.ptr = None, 0, 0
        self.add(x)

    def add(self, x: Tensor) -> None:
        """Append states; once full, the newest overwrite the oldest."""
        x = x.detach().to(self.device)
        self._alloc(x)
        n = x.shape[0]
        if n >= self.capacity:
            self.data.copy_(x[-self.capacity:])
            self.size, self.ptr = self.capacity, 0
            return
        idx = (self.ptr + torch.arange(n, device=self.device)) % self.capacity
        self.data[idx] = x
        self.ptr = (self.ptr + n) % self.capacity
        self.size = min(self.capacity, self.size + n)

    def replace(self, idx: Tensor, x: Tensor) -> None:
        """Write end states back to the slots their starts came from (idx < 0: append)."""
        x = x.detach().to(self.device)
        self._alloc(x)
        stored = idx >= 0
        if stored.any():
            self.data[idx[stored].to(self.device)] = x[stored.to(x.device)]
        if (~stored).any():
            self.add(x[(~stored).to(x.device)])

    def sample(self, n: int, reinit_fn: ReinitFn, reinit_prob: float = 0.0,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Draw ``n`` start points.

        Returns ``(x, idx, fresh)``: the states, their buffer slots (-1 for fresh ones,
        unless ``reinit_in_place`` keeps a re-initialised draw's slot) and a boolean mask
        of the starts that came from ``reinit_fn``.
        """
        gen_device = generator.device if generator is not None else torch.device("cpu")
        if self.size == 0:
            idx = torch.full((n,), -1, dtype=torch.long, device=gen_device)
        else:
            idx = torch.randint(self.size, (n,), generator=generator, device=gen_device)
            if self.size < n:  # not enough stored states yet: the rest start fresh
                idx[self.size:] = -1
        fresh = idx < 0
        if reinit_prob > 0:
            fresh = fresh | (torch.rand((n,), generator=generator, device=gen_device) < reinit_prob)
        if not self.reinit_in_place:
            idx = torch.where(fresh, torch.full_like(idx, -1), idx)
        n_fresh = int(fresh.sum())
        if self.size == 0:
            x = reinit_fn(n)
        else:
            x = self.data[idx.clamp(min=0).to(self.device)].clone()
            if n_fresh:
                x[fresh.to(self.device)] = reinit_fn(n_fresh).to(x.device, x.dtype)
        return x, idx, fresh

    def state_dict(self) -> dict:
        return {"capacity": self.capacity, "size": self.size, "ptr": self.ptr,
                "data": None if self.data is None else self.data[: self.size].cpu()
                if self.size < self.capacity else self.data.cpu()}

    def load_state_dict(self, state: dict) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"buffer capacity {self.capacity} != saved {state['capacity']}")
        self.data, self.size, self.ptr = None, 0, 0
        if state["data"] is not None:
            data = state["data"].to(self.device)
            self._alloc(data)
            self.data[: data.shape[0]] = data
            self.size, self.ptr = state["size"], state["ptr"]
