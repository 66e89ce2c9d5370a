"""The weaver's local replica of the tapestry, kept by the protocol merge layer.

Theory of operation:

1. ``confirmed`` is a :class:`~dreamloom.protocol.Tapestry` fed only with what the server
   sent (welcome snapshot and ops, broadcasts), in seq order. It equals the server's
   tapestry byte for byte once the same seq is reached.
2. Local ops are applied optimistically: ``view`` is ``confirmed`` plus the local ops the
   server has not broadcast back yet. With no such op ``view`` *is* ``confirmed``; else it
   is a copy, rebuilt lazily when a local op has to be taken back (rejected, or confirmed
   with other values, such as server-stamped provenance).
3. A local op leaves the overlay when its broadcast arrives (same stamp), or when a
   snapshot at or past its acknowledged seq replaces ``confirmed``.
4. Fragment events are derived from ``confirmed`` only, so every client sees the same
   events in the same order; queries read ``view``, so a weaver sees its own work at once.
5. Recency: the seq at which each fragment last changed, as seen by this replica.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from dreamloom.protocol import Change, Fragment, Op, Stamp, Tapestry, zorder

from .events import FragmentAction, FragmentEvent
from .geometry import Box, bounds


class Replica:
    """A queryable local copy of a sanctuary's tapestry.

    Example::

        strokes = self.tapestry.fragments(kind="stroke", origin="organic")
        near = self.tapestry.in_region(0, 0, 200, 200)
        latest = self.tapestry.recent(5)
    """

    def __init__(self, replica_id: str) -> None:
        self.replica_id = replica_id
        self.confirmed = Tapestry()
        self.seq = 0
        self._view: Tapestry | None = None
        self._dirty = False
        self._local: dict[Stamp, Op] = {}
        self._acked: dict[Stamp, int] = {}
        self._changed_at: dict[str, int] = {}
        self._authors: dict[str, tuple[str, str]] = {}
        self._top_z: str | None = None
        self._bottom_z: str | None = None
        self._snapshot_seq = -1

    # -- the two states ------------------------------------------------------
    @property
    def view(self) -> Tapestry:
        """The confirmed state plus this weaver's not yet confirmed ops.

        Example: ``self.tapestry.view.get("f1")``.
        """
        if not self._local:
            return self.confirmed
        if self._view is None or self._dirty:
            view = self.confirmed.copy()
            view.apply_many(self._local.values())
            self._view, self._dirty = view, False
        return self._view

    @property
    def pending(self) -> int:
        """How many local ops the server has not broadcast back yet. Example: ``if not r.pending: ...``."""
        return len(self._local)

    # -- feeding it (the SDK calls these) ------------------------------------
    def apply_local(self, op: Op) -> None:
        """Apply one of this weaver's own ops optimistically."""
        self._local[op.stamp] = op
        self._note_z(op)
        if self._view is not None and not self._dirty:
            self._view.apply(op)
        else:
            self._dirty = True

    def replace_local(self, old: Stamp, op: Op) -> None:
        """Swap a local op for another (a new stamp for a retry, or server-stamped provenance)."""
        self._local.pop(old, None)
        self._acked.pop(old, None)
        self._local[op.stamp] = op
        self._dirty = True

    def drop_local(self, stamp: Stamp) -> None:
        """Take back a local op the server rejected."""
        if self._local.pop(stamp, None) is not None:
            self._dirty = True
        self._acked.pop(stamp, None)
        self._settle()

    def note_ack(self, stamp: Stamp, seq: int) -> None:
        """A local op is durable at ``seq``; its broadcast may come before or after this."""
        if stamp not in self._local:
            return
        if seq <= self._snapshot_seq:
            # A snapshot loaded since then already holds it: its broadcast will not come.
            self.drop_local(stamp)
        else:
            self._acked[stamp] = seq

    def apply_remote(self, op: Op, seq: int) -> FragmentEvent | None:
        """Apply an op the server broadcast at ``seq``; return the event it makes, if any."""
        change = self.confirmed.apply(op)
        if seq > self.seq:
            self.seq = seq
        if op.t == "c":
            self._authors[op.stamp.replica] = (op.fields.get("author", ""), op.fields.get("origin", "organic"))
        self._note_z(op)
        local = self._local.pop(op.stamp, None)
        if local is not None:
            self._acked.pop(op.stamp, None)
            if local.fields != op.fields:
                self._dirty = True
        elif self._local and self._view is not None and not self._dirty:
            self._view.apply(op)
        self._settle()
        if change is None:
            return None
        self._changed_at[op.id] = seq
        return self._event_of(change, seq)

    def load_snapshot(self, tapestry: Tapestry, seq: int, *, diff: bool) -> list[FragmentEvent]:
        """Replace the confirmed state by a snapshot taken at ``seq``.

        With ``diff``, return events for what differs from the previous state (a reconnect
        that could not resume op by op); a first load returns none.
        """
        old, self.confirmed = self.confirmed, tapestry
        self.seq, self._snapshot_seq = seq, seq
        for stamp, acked in list(self._acked.items()):
            if acked <= seq:
                self._local.pop(stamp, None)
                del self._acked[stamp]
        self._dirty = True
        self._settle()
        events = []
        for fid in tapestry.ids():
            regs = tapestry.registers(fid)
            for name, (stamp, value) in regs.items():
                if name == "kind":
                    self._authors[stamp.replica] = (_value(regs, "author", ""), _value(regs, "origin", "organic"))
                if name == "z":
                    self._note_z_key(value)
            before = old.registers(fid)
            if before == regs:
                continue
            self._changed_at[fid] = seq
            if diff:
                event = self._diff_event(fid, before, regs)
                if event is not None:
                    events.append(event)
        return events

    # -- queries (on the view) ------------------------------------------------
    def get(self, fragment_id: str) -> Fragment | None:
        """The fragment with this id, deleted or not. Example: ``self.tapestry.get(event.id)``."""
        return self.view.get(fragment_id)

    def __contains__(self, fragment_id: object) -> bool:
        """Whether a live fragment has this id. Example: ``if "f1" in self.tapestry: ...``."""
        frag = self.view.get(fragment_id) if isinstance(fragment_id, str) else None
        return frag is not None and not frag.deleted

    def __len__(self) -> int:
        """The number of live fragments. Example: ``len(self.tapestry)``."""
        counts = self.view.live_counts
        return counts["organic"] + counts["ai"]

    def __iter__(self) -> Iterator[Fragment]:
        """Every live fragment. Example: ``for frag in self.tapestry: ...``."""
        return self.view.fragments()

    def fragments(
        self,
        *,
        kind: str | None = None,
        author: str | None = None,
        origin: str | None = None,
        region: Box | tuple[float, float, float, float] | None = None,
        since: int | None = None,
        include_deleted: bool = False,
    ) -> list[Fragment]:
        """Live fragments matching every given filter, in paint order (bottom to top).

        ``region`` keeps fragments whose bounding box meets ``(x0, y0, x1, y1)``; ``since``
        keeps fragments changed after that seq (and this weaver's unconfirmed ones).

        Example::

            ai_near = self.tapestry.fragments(origin="ai", region=(0, 0, 300, 300))
        """
        box = None if region is None else Box(*region)
        out = []
        for frag in self.view.fragments(include_deleted):
            if kind is not None and frag.kind != kind:
                continue
            if author is not None and frag.author != author:
                continue
            if origin is not None and frag.origin != origin:
                continue
            if since is not None and self._changed_after(frag.id, since) is False:
                continue
            if box is not None and not bounds(frag).intersects(box):
                continue
            out.append(frag)
        out.sort(key=lambda f: (f.z, f.id))
        return out

    def by_kind(self, kind: str) -> list[Fragment]:
        """Live fragments of one kind. Example: ``self.tapestry.by_kind("symbol")``."""
        return self.fragments(kind=kind)

    def by_author(self, author: str) -> list[Fragment]:
        """Live fragments of one author (an identity id). Example: ``self.tapestry.by_author(self.identity.id)``."""
        return self.fragments(author=author)

    def by_origin(self, origin: str) -> list[Fragment]:
        """Live ``organic`` or ``ai`` fragments. Example: ``self.tapestry.by_origin("organic")``."""
        return self.fragments(origin=origin)

    def in_region(self, x0: float, y0: float, x1: float, y1: float) -> list[Fragment]:
        """Live fragments whose bounding box meets the rectangle.

        Example: ``self.tapestry.in_region(0, 0, 100, 100)``.
        """
        return self.fragments(region=Box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))

    def changed_since(self, seq: int) -> list[Fragment]:
        """Live fragments changed after ``seq``. Example: ``self.tapestry.changed_since(event.seq - 10)``."""
        return self.fragments(since=seq)

    def recent(self, n: int) -> list[Fragment]:
        """The ``n`` live fragments changed last, most recent first. Example: ``self.tapestry.recent(3)``."""
        frags = list(self.view.fragments())
        frags.sort(key=lambda f: (self._recency(f.id), f.id), reverse=True)
        return frags[:n]

    def changed_at(self, fragment_id: str) -> int | None:
        """The seq at which a fragment last changed here (``None``: unknown or only local).

        Example: ``self.tapestry.changed_at("f1")``.
        """
        return self._changed_at.get(fragment_id)

    def ordered(self) -> list[Fragment]:
        """Live fragments in paint order, bottom to top. Example: ``top = self.tapestry.ordered()[-1]``."""
        return self.view.ordered()

    @property
    def live_counts(self) -> Mapping[str, int]:
        """Live fragments by origin. Example: ``self.tapestry.live_counts["ai"]``."""
        return dict(self.view.live_counts)

    @property
    def ai_share(self) -> float:
        """The share of live fragments made by weavers (0 when empty).

        Example: ``if self.tapestry.ai_share < 0.4: ...``.
        """
        counts = self.view.live_counts
        total = counts["organic"] + counts["ai"]
        return counts["ai"] / total if total else 0.0

    def z_on_top(self) -> str:
        """A z key above every fragment seen so far. Example: ``self.add_symbol(..., z=self.tapestry.z_on_top())``."""
        return zorder.after_last(self._top_z, self.replica_id)

    def z_at_bottom(self) -> str:
        """A z key below every fragment seen so far.

        Example: ``self.add_stroke(pts, z=self.tapestry.z_at_bottom())``.
        """
        return zorder.before_first(self._bottom_z, self.replica_id)

    def author_of_replica(self, replica: str) -> tuple[str, str] | None:
        """``(author, origin)`` of a replica id, learned from the fragments it created.

        Example: ``self.tapestry.author_of_replica(event.replica)``.
        """
        return self._authors.get(replica)

    # -- internals -------------------------------------------------------------
    def _settle(self) -> None:
        if not self._local:
            self._view, self._dirty = None, False

    def _note_z(self, op: Op) -> None:
        z = op.fields.get("z")
        if isinstance(z, str):
            self._note_z_key(z)

    def _note_z_key(self, z: Any) -> None:
        if not isinstance(z, str) or not z:
            return
        if self._top_z is None or z > self._top_z:
            self._top_z = z
        if self._bottom_z is None or z < self._bottom_z:
            self._bottom_z = z

    def _changed_after(self, fid: str, seq: int) -> bool:
        if any(op.id == fid for op in self._local.values()):
            return True
        at = self._changed_at.get(fid)
        return at is not None and at > seq

    def _recency(self, fid: str) -> float:
        if any(op.id == fid for op in self._local.values()):
            return float("inf")
        return float(self._changed_at.get(fid, -1))

    def _event_of(self, change: Change, seq: int) -> FragmentEvent | None:
        if "kind" not in self.confirmed.registers(change.op.id):
            return None
        action: FragmentAction
        if change.created:
            action = "added"
        elif "deleted" in change.fields:
            action = "deleted" if change.op.fields["deleted"] else "restored"
        else:
            action = "changed"
        return self._make_event(change.op.id, action, change.fields, change.op.stamp.replica, seq)

    def _diff_event(self, fid: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> FragmentEvent | None:
        fields = tuple(sorted(name for name in after if before.get(name) != after[name]))
        replica = max(after[name][0] for name in fields).replica
        action: FragmentAction
        if "kind" not in before:
            action = "added"
        elif "deleted" in fields:
            action = "deleted" if after["deleted"][1] else "restored"
        else:
            action = "changed"
        return self._make_event(fid, action, fields, replica, None)

    def _make_event(
        self, fid: str, action: FragmentAction, fields: Iterable[str], replica: str, seq: int | None
    ) -> FragmentEvent | None:
        frag = self.confirmed.get(fid)
        if frag is None or (action == "added" and frag.deleted):
            return None
        if action == "added":
            author: str | None = frag.author
            origin: str | None = frag.origin
        else:
            known = self._authors.get(replica)
            author, origin = known if known is not None else (None, None)
        return FragmentEvent(action, frag, author, origin, replica, tuple(fields), seq, replica == self.replica_id)


def _value(regs: Mapping[str, Any], name: str, default: Any) -> Any:
    reg = regs.get(name)
    return default if reg is None else reg[1]
