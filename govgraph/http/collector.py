"""The cyclic garbage collector, told once what a long-lived server process keeps for its whole life.

Start-up builds a large heap that lives as long as the process: the schema,
graphql-core's and strawberry's types, the catalog, the policy, modules.
CPython's full collections walk all of it again each time, and a list of
10,000 people allocates enough objects to set off several: the list took
13x as long as one of 1000 (8x with the collector off). Once start-up is
done, ``settle`` collects and then freezes what survived, so collections no
longer walk it. Measured on a 2-core machine: a 1000-person list 26 -> 20 ms,
a 10,000-person one 340 -> 183 ms, memory as flat as before over 80 such
lists.

Then the youngest generation is collected only once 5000 objects more than
were freed have been made (CPython's default is 700). Requests leave no
reference cycles (``tests/plan/test_request_freed.py``), so what sets a
young collection off is the live objects of the requests in flight, not
garbage: at 700, 32 clients' portal queries set off one every two requests,
and each walked the in-flight requests' rows and frames for nothing (0.14 ms
a request, 8% of a worker's CPU). At 5000 they almost never run: a worker
spent 1.48 ms of CPU a request instead of 1.64, and answered 13% more. A
1000-person list is as fast as before (at 10,000 it was slower, 2.9-3.1x the
floor against 2.7-2.8x). What does become garbage in a cycle is still
collected, within 5000 objects. (Measured while requests still left
cycles, higher thresholds bought 10% and cost 75% more memory; now that
they leave none, memory stays as flat: ``bench`` scenario 7.)

Only ``govgraph serve`` does this, in each worker: a process that embeds the
app (tests, a host application) keeps its collector as it is.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 5_000
"""Objects allocated beyond those freed before the youngest generation is collected."""


def settle() -> None:
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
