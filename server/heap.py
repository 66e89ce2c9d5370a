"""The cyclic garbage collector's share of the event loop.

CPython's cyclic collector walks every object it tracks at each full collection,
and a full collection comes once the objects that survived since the last one
reach a quarter of those that survived it: its cost per object created stays
constant, but each full collection holds the event loop (every connection of
every sanctuary) for as long as the walk takes. A 100,000-fragment tapestry in
plain dicts and lists was 560,000 tracked objects, and a walk of half a second.

Two measures keep the walk short whatever the tapestries hold:

1. The tapestry tracks nothing per fragment (see ``Tapestry``): a fragment is a
   dict of atoms, its container fields msgpack bytes, its stamps plain tuples;
   the kept encodings are bytes. Measured with 100,000 fragments: 23,500
   tracked objects in all, a full collection 10-20 ms (540-770 ms before).
2. At start-up, once the app is built, what survives a collection (modules,
   classes, functions, the app) is frozen (:func:`gc.freeze`): never garbage,
   never walked again.

Alternatives measured or weighed: freezing after each load or snapshot would
also hide a tapestry of plain objects, but it freezes whatever cyclic garbage
exists at that moment for good, and each freeze adds more; raising the
thresholds only spaces the walks, each as long as before.
"""

from __future__ import annotations

import gc


def freeze_startup() -> int:
    """Collect, then move every object that survived out of the collector's reach; returns how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


__all__ = ["freeze_startup"]
