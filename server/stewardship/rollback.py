"""Rollback of an identity since a point, and its undo (SPEC P12).

The target state is the tapestry at the point with every later op *except*
that identity's replayed on it. For each fragment the identity touched, the
server writes, with fresh stamps of its own replica, the values that differ
between now and the target. People's later edits to other fragments are never
touched, and edits to the same fragments made by others are part of the
target, so they stay too. The ops written and the registers they overwrote are
recorded, so the rollback can be undone (and that undo undone) as one act.
"""

from __future__ import annotations

from typing import Any

from dreamloom.protocol import DEFAULT_LIMITS, Clock, Op, Stamp, Tapestry, inverse, ops
from dreamloom.protocol.canon import pack
from dreamloom.protocol.ops import SETTABLE
from dreamloom.protocol.validate import check_op

from ..auth import Claims
from ..hub import Hub
from ..sanctuary import Sanctuary
from ..store import LogEntry, Store
from .actor import in_actor
from .audit import AuditLog
from .errors import StewardshipError, bad, check_id

#: Replica id of ops the server writes itself; clients may not use the ``dreamloom:`` prefix.
SERVER_REPLICA = "dreamloom:server"
ROLLBACK = "rollback"
MAX_ROLLBACK_OPS = 200_000


class Rollbacks:
    """Rolls an identity back, and undoes rollbacks."""

    def __init__(self, hub: Hub, store: Store, audit: AuditLog) -> None:
        self.hub = hub
        self.store = store
        self.audit = audit

    async def rollback(
        self, name: str, by: Claims, identity: str, since_seq: int | None = None, since_time: float | None = None
    ) -> dict[str, Any]:
        """Undo, as one act, everything ``identity`` wrote after ``since_seq`` (or since ``since_time``)."""
        check_id(identity)
        if (since_seq is None) == (since_time is None):
            raise bad("give exactly one of since_seq and since_time")
        if since_seq is not None and (type(since_seq) is not int or since_seq < 0):
            raise bad("since_seq must be a non-negative integer")
        if since_time is not None and type(since_time) not in (int, float):
            raise bad("since_time must be a unix time in seconds")

        async def apply(sanctuary: Sanctuary | None) -> dict[str, Any]:
            assert sanctuary is not None
            start = (
                since_seq if since_seq is not None else await self._seq_at(name, float(since_time or 0), sanctuary.seq)
            )
            start = min(start, sanctuary.seq)
            if sanctuary.seq - start > MAX_ROLLBACK_OPS:
                raise bad(f"rollbacks reach back at most {MAX_ROLLBACK_OPS} ops")
            base, _ = await self.hub.tapestry_at(name, start)
            entries = await _read_all(self.store, name, start, sanctuary.seq)
            clock = Clock(SERVER_REPLICA, sanctuary.tapestry.max_counter)
            written, touched = rollback_ops(base, entries, identity, sanctuary.tapestry, clock)
            done = await self._write_undoable(sanctuary, by, written, {"of": identity, "since_seq": start})
            return done | {"since_seq": start, "touched": touched}

        result = await in_actor(self.hub, name, apply, load=True)
        return await self.audit.add(
            name, by, "rollback", target=identity, since_seq=result["since_seq"], fragments=result["touched"],
            ops=len(result["seqs"]), seqs=result["seqs"][:1] + result["seqs"][-1:], rollback=result["rollback"],
        )  # fmt: skip

    async def undo(self, name: str, by: Claims, rollback_id: int) -> dict[str, Any]:
        """Undo a rollback (or an undo of one): inverse writes of whatever it wrote that still stands."""
        if type(rollback_id) is not int:
            raise bad("rollback must be the id of a rollback record")
        found = await self.store.records(name, ROLLBACK, limit=1, before=rollback_id + 1)
        if not found or found[0].id != rollback_id:
            raise StewardshipError("not_found", f"no rollback {rollback_id} in this sanctuary")
        data = found[0].data

        async def apply(sanctuary: Sanctuary | None) -> dict[str, Any]:
            assert sanctuary is not None
            clock = Clock(SERVER_REPLICA, sanctuary.tapestry.max_counter)
            undo: list[Op] = []
            for wire, before in zip(data["ops"], data["before"], strict=True):
                op = check_op(wire, DEFAULT_LIMITS)
                prev = {k: (None if v is None else (Stamp(v[0], v[1]), v[2])) for k, v in before.items()}
                undo.extend(inverse(op, prev, sanctuary.tapestry, clock))
            return await self._write_undoable(sanctuary, by, undo, {"undoes": rollback_id})

        result = await in_actor(self.hub, name, apply, load=True)
        return await self.audit.add(
            name, by, "undo_rollback", target=data.get("of"), undoes=rollback_id, ops=len(result["seqs"]),
            seqs=result["seqs"][:1] + result["seqs"][-1:], rollback=result["rollback"],
        )  # fmt: skip

    async def _write_undoable(
        self, sanctuary: Sanctuary, by: Claims, written: list[Op], meta: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply server ops and record them with the registers they overwrote (inside the actor)."""
        # The registers each op overwrites, without touching the tapestry before apply_local commits:
        # a later op of this same act sees what an earlier one wrote through the overlay.
        befores = []
        overlay: dict[tuple[str, str], list[Any]] = {}
        for op in written:
            regs = sanctuary.tapestry.registers(op.id)
            before: dict[str, list[Any] | None] = {}
            for k in op.fields:
                prev = overlay.get((op.id, k))
                if prev is None and k in regs:
                    prev = [regs[k][0][0], regs[k][0][1], regs[k][1]]
                before[k] = prev
                overlay[(op.id, k)] = [op.stamp[0], op.stamp[1], op.fields[k]]
            befores.append(before)
        seqs = await sanctuary.apply_local(written, by.sub) if written else []
        record = await self.store.add_record(
            sanctuary.name,
            ROLLBACK,
            {**meta, "by": by.sub, "ops": [op.to_wire() for op in written], "before": befores, "seqs": seqs},
        )
        return {"seqs": seqs, "rollback": record.id}

    async def _seq_at(self, name: str, when: float, last: int) -> int:
        """The last seq committed before ``when`` (binary search over the log's times)."""
        lo, hi = 0, last  # invariant: ops <= lo are before ``when``; ops > hi are at or after it
        while lo < hi:
            mid = (lo + hi + 1) // 2
            entry = await self.store.read_ops(name, mid - 1, limit=1)
            if entry and entry[0].time < when:
                lo = mid
            else:
                hi = mid - 1
        return lo


def rollback_ops(
    base: Tapestry, entries: list[LogEntry], identity: str, now: Tapestry, clock: Clock
) -> tuple[list[Op], list[str]]:
    """Ops that turn ``now`` into ``base`` + ``entries`` without ``identity``'s, on the fragments it touched.

    ``base`` is consumed (it becomes the target state). Returns the ops and the touched fragment ids.
    """
    touched: dict[str, None] = {}
    for entry in entries:
        if entry.author == identity:
            touched[entry.op.id] = None
        else:
            base.apply(entry.op)
    out: list[Op] = []
    for fid in touched:
        cur = now.get(fid)
        if cur is None:
            continue
        want = base.get(fid)
        if want is None:
            if cur.live:
                out.append(ops.delete(fid, clock.tick()))
            continue
        cur_regs, want_regs = now.registers(fid), base.registers(fid)
        diff = {
            name: want_regs[name][1]
            for name in sorted(SETTABLE)
            if name in want_regs and (name not in cur_regs or pack(cur_regs[name][1]) != pack(want_regs[name][1]))
        }
        if diff:
            out.append(ops.set_fields(fid, clock.tick(), **diff))
        if want.deleted != cur.deleted:
            out.append((ops.delete if want.deleted else ops.restore)(fid, clock.tick()))
    return out, list(touched)


async def _read_all(store: Store, name: str, after: int, upto: int) -> list[LogEntry]:
    out: list[LogEntry] = []
    while after < upto:
        page = await store.read_ops(name, after, limit=5000, upto=upto)
        if not page:
            break
        out.extend(page)
        after = page[-1].seq
    return out
