"""Units of the weaver SDK that need no server: URLs, back-off, pending ops, replica, CLI parsing."""

from __future__ import annotations

import doctest
import importlib
import random
import stat
from fractions import Fraction
from pathlib import Path

import pytest

from dreamloom.client import Backoff, Box, Policy, Weaver, sanctuary_url
from dreamloom.client.cli import main as weave_main
from dreamloom.client.cli import parse_option
from dreamloom.client.errors import Rejected
from dreamloom.client.identity import IdentityStore, default_identity_file
from dreamloom.client.pending import PendingOps
from dreamloom.client.replica import Replica
from dreamloom.client.session import Session
from dreamloom.protocol import ErrorCode, Op, Reject, Stamp, Tapestry, UsageError, ops

MODULES = [
    "dreamloom.client.backoff",
    "dreamloom.client.geometry",
    "dreamloom.client.urls",
    "dreamloom.client.cli",
    "dreamloom.client.handlers",
    "dreamloom.client.identity",
    "dreamloom.client.policy",
    "dreamloom.client.session",
    "dreamloom.client.weavers",
    "dreamloom.client.weavers.kaleidoscope",
    "dreamloom.client.weavers.interpreter",
    "dreamloom.client.weavers.harmonizer",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0


def test_every_public_name_has_a_docstring_with_an_example() -> None:
    import dreamloom.client as sdk

    missing = []
    for name in sdk.__all__:
        obj = getattr(sdk, name)
        if name in ("ErrorCode", "Fragment", "Identity", "UsageError"):
            continue  # re-exported from the protocol
        doc = obj.__doc__ or ""
        if "Example" not in doc and ">>>" not in doc:
            missing.append(name)
    for attr, value in vars(Weaver).items():
        if attr.startswith("_") or (not callable(value) and not isinstance(value, property)):
            continue
        doc = getattr(value, "__doc__", "") or ""
        if "Example" not in doc:
            missing.append(f"Weaver.{attr}")
    assert missing == []


# -- URLs ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "sanctuary", "expected"),
    [
        ("http://127.0.0.1:8765", "dreams", "ws://127.0.0.1:8765/ws/dreams"),
        ("https://loom.example/", "dreams", "wss://loom.example/ws/dreams"),
        ("ws://h:1/prefix", "a b", "ws://h:1/prefix/ws/a%20b"),
        ("wss://h/ws/night", None, "wss://h/ws/night"),
        ("ws://h/ws/night/", "night", "ws://h/ws/night"),
    ],
)
def test_sanctuary_url_derives_the_socket_path(url: str, sanctuary: str | None, expected: str) -> None:
    assert sanctuary_url(url, sanctuary)[0] == expected


@pytest.mark.parametrize(
    ("url", "sanctuary"), [("ftp://h", "a"), ("http://h", None), ("ws://h/ws/a", "b"), ("h:1", "a")]
)
def test_sanctuary_url_refuses_what_it_cannot_use(url: str, sanctuary: str | None) -> None:
    with pytest.raises(UsageError):
        sanctuary_url(url, sanctuary)


# -- back-off -----------------------------------------------------------------
def test_backoff_grows_with_jitter_up_to_its_cap_and_resets() -> None:
    b = Backoff(0.1, 1.0, rng=random.Random(1))
    delays = [b.next() for _ in range(8)]
    for i, d in enumerate(delays):
        step = min(1.0, 0.1 * 2**i)
        assert step / 2 <= d <= step
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder
    b.reset()
    assert b.next() <= 0.1


# -- identity -----------------------------------------------------------------
def test_W5_identity_file_keeps_one_guest_token_per_server_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "moon.json"
    store = IdentityStore(path)
    assert store.load("ws://a:1") is None
    assert not path.exists()  # nothing is written before there is something to keep
    store.save("ws://a:1", "token-a")
    store.save("ws://b:2", "token-b")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = IdentityStore(path)
    assert (again.load("ws://a:1"), again.load("ws://b:2")) == ("token-a", "token-b")
    again.forget("ws://a:1")
    assert IdentityStore(path).load("ws://a:1") is None
    assert IdentityStore(path).load("ws://b:2") == "token-b"
    assert [p.name for p in path.parent.iterdir()] == ["moon.json"]  # no temporary file left behind


def test_an_unreadable_identity_file_starts_a_new_guest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "moon.json"
    path.write_text("{not json")
    assert IdentityStore(path).load("ws://a:1") is None
    assert "cannot read the identity file" in caplog.text
    path.write_text('{"guests": {"ws://a:1": 7, "ws://b:2": "ok"}}')
    assert IdentityStore(path).load("ws://a:1") is None
    assert IdentityStore(path).load("ws://b:2") == "ok"


def test_the_cli_identity_file_defaults_to_the_state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DREAMLOOM_IDENTITY_FILE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_identity_file("moon watcher") == tmp_path / "dreamloom" / "weavers" / "moon_watcher.json"
    monkeypatch.setenv("DREAMLOOM_IDENTITY_FILE", str(tmp_path / "x.json"))
    assert default_identity_file("moon") == tmp_path / "x.json"


# -- policy -------------------------------------------------------------------
def test_P6_policy_reads_typed_fields_and_keeps_what_it_does_not_know() -> None:
    policy = Policy.from_wire(
        {"access": "invite", "ai_share_cap": 1, "weaver_allow": ["w1"], "locked": "yes", "later": [1]}
    )
    assert (policy.access, policy.ai_share_cap, policy.weaver_allow) == ("invite", 1.0, ("w1",))
    assert policy.locked is False  # not a boolean: the default stays, the value is kept aside
    assert dict(policy.extra) == {"locked": "yes", "later": [1]}
    assert Policy.from_wire({}) == Policy()


@pytest.mark.parametrize("cap", [0.0, 0.1, 0.3, 0.5, 2 / 3, 0.75, 0.9, 1.0])
def test_P6_ai_room_is_exactly_what_the_server_cap_admits(cap: float) -> None:
    policy = Policy(ai_share_cap=cap)
    allowed = Fraction(cap).limit_denominator(1_000_000)
    for organic in range(12):
        for ai in range(12):
            room = policy.ai_room({"organic": organic, "ai": ai})
            if cap >= 1:
                assert room >= 10**9
                continue
            # The server admits one more AI fragment while the share stays within the cap (P6).
            k = 0
            while Fraction(ai + k + 1, ai + k + 1 + organic) <= allowed:
                k += 1
            assert room == k, (organic, ai)


# -- pending ops -------------------------------------------------------------------
def _op(counter: int, fid: str = "f") -> Op:
    return ops.set_fields(f"{fid}{counter}", Stamp(counter, "me"), x=counter)


async def test_pending_ops_keeps_batches_whole_and_splits_only_what_cannot_fit() -> None:
    box = PendingOps()
    box.add([(_op(1), 10), (_op(2), 10)])
    box.add([(_op(3), 10), (_op(4), 10), (_op(5), 10)])
    box.add([(_op(6), 10)])
    first = box.take(max_ops=4, max_bytes=1000)
    assert [e.op.stamp.counter for e in first] == [1, 2]  # the second group would not fit whole
    second = box.take(max_ops=4, max_bytes=1000)
    assert [e.op.stamp.counter for e in second] == [3, 4, 5, 6]
    assert box.take(4, 1000) == []
    big = PendingOps()
    big.add([(_op(i), 10) for i in range(1, 8)])
    assert [len(big.take(3, 1000)) for _ in range(4)] == [3, 3, 1, 0]


async def test_pending_ops_holds_a_batch_until_released_and_resends_after_reconnect() -> None:
    box = PendingOps()
    group = box.new_group()
    actions = box.add([(_op(1), 5)], group, held=True)
    assert not box.has_unsent()
    box.release(group)
    assert [e.op.stamp.counter for e in box.take(10, 100)] == [1]
    box.unsend_all()
    assert [e.op.stamp.counter for e in box.take(10, 100)] == [1]
    entry = box.pop(Stamp(1, "me"))
    assert entry is not None
    entry.future.set_result(42)
    assert await actions[0] == 42
    assert box.empty.is_set()


async def test_W9_pending_ops_resends_a_rate_limited_op_in_its_place_with_its_own_stamp() -> None:
    box = PendingOps()
    box.add([(_op(1), 5), (_op(2), 5), (_op(3), 5)])
    first, *_ = box.take(10, 100)
    entry = box.get(Stamp(1, "me"))
    assert entry is first
    box.unsend(entry)
    assert [e.op.stamp for e in box.take(10, 100)] == [Stamp(1, "me")]


async def test_W5_outbox_restamps_every_queued_op_in_order_and_keeps_its_action() -> None:
    box = PendingOps()
    actions = box.add([(_op(5), 5), (_op(2), 5)])
    box.add([(_op(9), 5)])
    box.take(1, 100)  # one was in flight when the replica id changed: it goes again too
    counters = iter(range(20, 30))
    changed = box.restamp(lambda: Stamp(next(counters), "new"))
    assert [(old.counter, new.stamp) for old, new in changed] == [
        (5, Stamp(20, "new")),
        (2, Stamp(21, "new")),
        (9, Stamp(22, "new")),
    ]
    assert [new.fields for _, new in changed] == [{"x": 5}, {"x": 2}, {"x": 9}]
    assert box.pop(Stamp(5, "me")) is None
    assert [e.op.stamp.counter for e in box.take(10, 100)] == [20, 21, 22]
    entry = box.pop(Stamp(20, "new"))
    assert entry is not None
    entry.future.set_result(7)
    assert await actions[0] == 7
    assert actions[0].op.stamp == Stamp(20, "new")


async def test_failed_actions_raise_the_typed_error() -> None:
    box = PendingOps()
    (action,) = box.add([(_op(1), 5)])
    box.fail_all(Rejected(ErrorCode.UNKNOWN_FRAGMENT, "no such fragment", fragment_id="f1"))
    with pytest.raises(Rejected) as info:
        await action
    assert info.value.code is ErrorCode.UNKNOWN_FRAGMENT


# -- replica ------------------------------------------------------------------
def _create(fid: str, counter: int, replica: str, **kw: object) -> Op:
    fields: dict[str, object] = {"kind": "symbol", "geom": {"sym": "moon", "size": 40}, "z": "V"}
    fields.update(kw)
    return ops.create(fid, Stamp(counter, replica), **fields)  # type: ignore[arg-type]


def test_local_ops_show_at_once_and_leave_the_overlay_when_confirmed() -> None:
    r = Replica("me")
    local = _create("a", 1, "me", author="", origin="organic")
    r.apply_local(local)
    assert "a" in r
    assert r.confirmed.get("a") is None
    # The server stamps provenance: the confirmed op differs from the local one.
    confirmed = local.with_fields({**local.fields, "author": "w-1", "origin": "ai"})
    event = r.apply_remote(confirmed, 1)
    assert event is not None
    assert event.action == "added"
    assert event.mine
    assert event.origin == "ai"
    assert r.pending == 0
    assert r.view is r.confirmed
    assert r.get("a") is not None
    assert r.get("a").origin == "ai"


def test_a_rejected_local_op_is_taken_back() -> None:
    r = Replica("me")
    r.apply_remote(_create("a", 1, "other", x=5), 1)
    move = ops.set_fields("a", Stamp(2, "me"), x=99)
    r.apply_local(move)
    assert r.get("a").x == 99  # type: ignore[union-attr]
    r.drop_local(move.stamp)
    assert r.get("a").x == 5  # type: ignore[union-attr]
    assert r.view.encode() == r.confirmed.encode()


def test_an_acked_op_covered_by_a_snapshot_leaves_the_overlay() -> None:
    r = Replica("me")
    op = _create("a", 1, "me")
    r.apply_local(op)
    server = Tapestry()
    server.apply(op)
    events = r.load_snapshot(server, 7, diff=True)
    assert [e.action for e in events] == ["added"]
    r.note_ack(op.stamp, 7)
    assert r.pending == 0
    assert r.view.encode() == server.encode()


def test_snapshot_diff_reports_changes_deletes_and_restores() -> None:
    r = Replica("me")
    r.apply_remote(_create("a", 1, "p"), 1)
    r.apply_remote(_create("b", 2, "p"), 2)
    r.apply_remote(ops.delete("b", Stamp(3, "p")), 3)
    later = r.confirmed.copy()
    later.apply(ops.set_fields("a", Stamp(4, "q"), x=10))
    later.apply(ops.restore("b", Stamp(5, "q")))
    later.apply(_create("c", 6, "q"))
    events = {e.id: e.action for e in r.load_snapshot(later, 9, diff=True)}
    assert events == {"a": "changed", "b": "restored", "c": "added"}
    assert r.changed_at("a") == 9
    assert r.changed_at("c") == 9


def test_events_say_who_did_it_by_the_replica_that_wrote() -> None:
    r = Replica("me")
    r.apply_remote(_create("a", 1, "p", author="ada", origin="organic"), 1)
    r.apply_remote(_create("w", 2, "bot", author="weaver-1", origin="ai"), 2)
    event = r.apply_remote(ops.set_fields("a", Stamp(3, "bot"), x=3), 3)
    assert event is not None
    assert (event.action, event.author, event.origin) == ("changed", "weaver-1", "ai")
    deleted = r.apply_remote(ops.delete("w", Stamp(4, "p")), 4)
    assert deleted is not None
    assert (deleted.action, deleted.author) == ("deleted", "ada")
    assert r.apply_remote(ops.set_fields("a", Stamp(2, "x"), x=1), 5) is None  # an older write loses


def test_queries_by_kind_author_origin_region_and_recency() -> None:
    r = Replica("me")
    r.apply_remote(_create("s1", 1, "p", author="ada", origin="organic", x=0, y=0), 1)
    r.apply_remote(
        _create("k1", 2, "w", kind="stroke", geom={"pts": [0, 0, 10, 10]}, author="bot", origin="ai", x=500, y=500), 2
    )
    r.apply_remote(_create("t1", 3, "p", kind="text", geom={"text": "hi", "size": 10}, author="ada", x=100, y=100), 3)
    r.apply_remote(ops.set_fields("s1", Stamp(4, "p"), x=1), 4)
    assert [f.id for f in r.by_kind("stroke")] == ["k1"]
    assert {f.id for f in r.by_author("ada")} == {"s1", "t1"}
    assert [f.id for f in r.by_origin("ai")] == ["k1"]
    assert {f.id for f in r.in_region(-50, -50, 50, 50)} == {"s1"}
    assert {f.id for f in r.fragments(region=Box(495, 495, 520, 520))} == {"k1"}
    assert {f.id for f in r.changed_since(2)} == {"t1", "s1"}
    assert [f.id for f in r.recent(2)] == ["s1", "t1"]
    assert r.ai_share == pytest.approx(1 / 3)
    r.apply_local(_create("mine", 5, "me", x=0, y=0))
    assert r.recent(1)[0].id == "mine"
    assert len(r) == 4


def test_optimistic_replicas_converge_on_the_server_order() -> None:
    """Several replicas apply their own ops at once and everyone's in server order; once all
    is confirmed every view equals the server's tapestry byte for byte."""
    rng = random.Random(5)
    names = ["r0", "r1", "r2"]
    replicas = {n: Replica(n) for n in names}
    server = Tapestry()
    counters = dict.fromkeys(names, 0)
    log: list[Op] = []
    ids: list[str] = []
    for _ in range(400):
        who = rng.choice(names)
        counters[who] = max(counters.values()) + rng.randint(0, 1) if rng.random() < 0.5 else counters[who] + 1
        stamp = Stamp(counters[who], who)
        roll = rng.random()
        if roll < 0.4 or not ids:
            op = _create(f"{who}.{stamp.counter}", stamp.counter, who, x=rng.randint(0, 99))
            ids.append(op.id)
        elif roll < 0.8:
            op = ops.set_fields(rng.choice(ids), stamp, x=rng.randint(0, 99), z=rng.choice(["V", "a", "k"]))
        else:
            op = (ops.delete if rng.random() < 0.6 else ops.restore)(rng.choice(ids), stamp)
        replicas[who].apply_local(op)
        if rng.random() < 0.3 and rng.random() < 0.5:
            replicas[who].drop_local(op.stamp)  # refused: never reaches the log
            continue
        log.append(op)
        server.apply(op)
        if rng.random() < 0.5:  # deliver the log so far to a random replica
            target = replicas[rng.choice(names)]
            for seq in range(target.seq + 1, len(log) + 1):
                target.apply_remote(log[seq - 1], seq)
    for replica in replicas.values():
        for seq in range(replica.seq + 1, len(log) + 1):
            replica.apply_remote(log[seq - 1], seq)
        assert replica.pending == 0
        assert replica.view.encode() == replica.confirmed.encode() == server.encode()


# -- actions checked before they leave -----------------------------------------
async def test_invalid_actions_fail_locally_with_a_usage_error() -> None:
    w = Weaver()
    with pytest.raises(UsageError):
        w.add_stroke([1])  # odd number of coordinates
    with pytest.raises(UsageError):
        w.update("f1", author="me")  # provenance is never settable
    with pytest.raises(UsageError):
        w.update("f1", style={"color": "red"})
    with pytest.raises(UsageError):
        w.add_symbol("Not A Symbol", 0, 0)
    assert w.tapestry.pending == 0


async def test_actions_check_what_the_server_would_only_half_catch() -> None:
    w = Weaver()
    with pytest.raises(UsageError, match=r"'mooon' is not a dream symbol of the catalogue: did you mean moon"):
        w.add_symbol("mooon", 0, 0)
    with pytest.raises(UsageError, match=r"inspired_by must be a list of fragment ids.*write \['f-1'\]"):
        w.add_symbol("moon", 0, 0, inspired_by="f-1")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="inspired_by holds fragment ids"):
        w.add_text("hello", 0, 0, inspired_by=[7])  # type: ignore[list-item]
    with pytest.raises(UsageError, match="inspired_by must be a list"):
        w.update("f-1", inspired_by="f-2")
    with pytest.raises(UsageError, match="needs some text"):
        w.add_text("   ", 0, 0)
    with pytest.raises(UsageError, match="names its points 'pts'"):
        w.add("stroke", {"points": [0, 0, 1, 1]})
    assert w.tapestry.pending == 0
    assert w.add_symbol("moon", 0, 0, inspired_by=("f-1",)).op.fields["inspired_by"] == ["f-1"]


# -- CLI ----------------------------------------------------------------------
def test_weave_list_names_every_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    assert weave_main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in ("kaleidoscope", "interpreter", "harmonizer"):
        assert name in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["kaleidoscope"],
        ["no.such.module:Thing", "--url", "ws://127.0.0.1:1", "--sanctuary", "a"],
        ["dreamloom.client.errors:Closed", "--url", "ws://127.0.0.1:1", "--sanctuary", "a"],
        ["kaleidoscope", "--url", "ws://127.0.0.1:1", "--sanctuary", "a", "-o", "folds=1"],
        ["kaleidoscope", "--url", "ftp://x", "--sanctuary", "a"],
    ],
)
def test_weave_refuses_bad_arguments_with_status_2(argv: list[str]) -> None:
    assert weave_main(argv) == 2


def test_options_parse_as_json_pairs_or_text() -> None:
    assert parse_option("folds=8") == ("folds", 8)
    assert parse_option("centre=[1, 2]") == ("centre", [1, 2])
    assert parse_option("centre=1.5,-2") == ("centre", (1.5, -2.0))
    with pytest.raises(UsageError):
        parse_option("no-equals")


async def test_W9_a_reject_with_retry_after_holds_every_op_at_least_that_long() -> None:
    events: list[object] = []
    session = Session(replica_id="me", name="w", emit=events.append)
    (action,) = session.submit([_op(1)])
    session.pending.take(10, 1000)
    session._on_reject(Reject(Stamp(1, "me"), "f1", ErrorCode.AI_RATE_LIMITED, "over the rate", retry_after=59.5))
    assert 59 < session.paused_for <= 59.5
    assert not action.done()  # kept, to be sent again once the wait is over
    assert session.pending.has_unsent()
    session._on_reject(Reject(Stamp(1, "me"), "f1", ErrorCode.AI_SHARE_CAP, "cap", retry_after=None))
    assert session.paused_for > 59  # a shorter back-off never shortens what the server asked for
    with pytest.raises(Rejected) as info:
        await action
    assert info.value.code is ErrorCode.AI_SHARE_CAP
