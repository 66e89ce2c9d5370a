"""The durability oracle: is every acknowledged op in the store, and reflected in the tapestry?

Used by the crash test and by its negative control, so that the control proves
this very checker can fail.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from wire import WireClient

from dreamloom.protocol import Op, Stamp, Tapestry
from dreamloom.server.store import LogEntry


@dataclass
class AckedLedger:
    """Every op a client saw acknowledged, with the seq it was given."""

    ops: dict[Stamp, tuple[int, Op]] = field(default_factory=dict)

    def record(self, client: WireClient, sent: dict[int, Op]) -> None:
        """Take the acks a client received for ops it sent (counter -> op)."""
        for counter, seq in client.acks.items():
            op = sent.get(counter)
            if op is not None:
                self.ops[op.stamp] = (seq, op)

    def __len__(self) -> int:
        return len(self.ops)


def read_log(db_path: Path, sanctuary: str) -> tuple[dict[int, Op], str]:
    """The op log as a fresh reader of the database file finds it, and SQLite's integrity check."""
    db = sqlite3.connect(db_path)
    try:
        rows = db.execute("SELECT seq, op FROM ops WHERE sanctuary = ? ORDER BY seq", (sanctuary,)).fetchall()
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()
    return {seq: LogEntry.op_from_bytes(blob) for seq, blob in rows}, integrity


def missing_from_log(ledger: AckedLedger, log: dict[int, Op]) -> list[tuple[int, Stamp]]:
    """Acked ops that are not in the log at their seq (an empty list means none was lost)."""
    missing = []
    for stamp, (seq, op) in ledger.ops.items():
        stored = log.get(seq)
        if stored is None or stored.stamp != stamp or stored.id != op.id or stored.t != op.t:
            missing.append((seq, stamp))
    return sorted(missing)


def unreflected(ledger: AckedLedger, tapestry: Tapestry) -> list[tuple[Stamp, str]]:
    """Acked writes that the tapestry neither holds nor has seen beaten by a later stamp."""
    out = []
    for stamp, (_, op) in ledger.ops.items():
        registers = tapestry.registers(op.id)
        for name, value in op.fields.items():
            reg = registers.get(name)
            if reg is None or reg[0] < stamp:
                out.append((stamp, f"{op.id}.{name}"))
            elif reg[0] == stamp and name not in ("author", "origin") and reg[1] != value:
                out.append((stamp, f"{op.id}.{name}"))
    return out


def contiguous(log: dict[int, Op]) -> bool:
    return sorted(log) == list(range(1, len(log) + 1))
