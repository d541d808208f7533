"""Issue 12: Sequential and Network say which use of a child is running through thread-local
state, so two threads running one model never mislabel module paths in graph exports."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.nn.module import Module, Parameter
from graphgrad.nn.network import Network
from graphgrad.nn.sequential import Sequential


class Interleaved(Module):
    """A layer used twice per forward; __call__ forces one interleaving of two threads.

    Thread T1 stops at its second use (just before its path is computed) until
    thread T2 has entered its first use; then T1 computes its path while T2's
    container is positioned at the first use.  With per-instance "running"
    state, T1's second use was labelled with the first use's name.
    """

    def __init__(self):
        super().__init__()
        self.w = Parameter(np.ones(3))
        self.calls = {}
        self.t1_second, self.t2_first, self.t1_done = (threading.Event() for _ in range(3))

    def __call__(self, x):
        me = threading.current_thread().name
        self.calls[me] = n = self.calls.get(me, 0) + 1
        if me == "T1" and n == 2:
            self.t1_second.set()
            assert self.t2_first.wait(10)
            try:
                return super().__call__(x)
            finally:
                self.t1_done.set()
        if me == "T2" and n == 1:
            assert self.t1_second.wait(10)
            self.t2_first.set()
            assert self.t1_done.wait(10)
        return super().__call__(x)

    def forward(self, x):
        return x * self.w


def _siamese(layer):
    net = Network(inputs=["a", "b"], outputs=["left", "right"])
    net.add("left", layer, inputs="a")
    net.add("right", layer, inputs="b")
    return net, ("left", "right")


def _twice(layer):
    return Sequential({"first": layer, "second": layer}), ("first", "second")


@pytest.mark.parametrize("build", [_siamese, _twice], ids=["network", "sequential"])
def test_two_threads_running_one_model_record_their_own_paths(build):
    layer = Interleaved()
    model, names = build(layer)
    results, errors = {}, []

    def run():
        try:
            x = gg.tensor(np.ones((2, 3)), requires_grad=True)
            out = model(x, x) if isinstance(model, Network) else model(x)
            results[threading.current_thread().name] = out
        except BaseException as err:  # reported below, so a failure in a thread fails the test
            errors.append(err)

    threads = [threading.Thread(target=run, name=n) for n in ("T1", "T2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    for thread in ("T1", "T2"):
        out = results[thread]
        if isinstance(model, Network):
            paths = [o.grad_fn.module[0] for o in out]
        else:  # the second use's op, then the first use's op it consumes
            second = out.grad_fn
            first = second.next_edges[0][0]
            paths = [first.module[0], second.module[0]]
        assert paths == list(names), (thread, paths)
