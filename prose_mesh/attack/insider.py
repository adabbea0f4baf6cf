"""Insider / stolen UE (ADVERSARIAL.md §4 D2, C5): a real member whose keys the attacker holds.

The attacker runs a twin of UE ``as`` (a :class:`~prose_mesh.node.ue.Ue` built from the same
provisioning: identity keys, PGKs, group configuration) on its own radio, tagged as an attack.
The twin receives like the original from the start of the run, so it installs every GMK sent
to ``as`` (it holds ``as``'s SAKKE RSK) - and none after ``as`` is removed and the group is
rekeyed without it. Its transmissions are suppressed until the attack starts (a thief listens
first); once active everything it sends is attack traffic, within ``count``.

Options: ``as`` (the UE whose keys are held) and ``actions``:

* ``send_old_gmk`` — start a call on each target group and send media at ``rate`` under the
  newest GMK the twin holds (for a removed member: the old one);
* ``decrypt_new`` — count what the twin decrypts while the attack is active
  (``decrypted_new``: media packets carrying the run's canary; must be 0 after a revoking
  rekey). Always measured; naming it documents intent.

``resign_mutated`` (C5: re-sign a mutated SAKKE payload with the insider's key) is not
implemented yet and is refused up front.
"""

from __future__ import annotations

from typing import Any

import trio

from prose_mesh.attack.base import Heard, Role, pace
from prose_mesh.errors import ConfigError, ProseMeshError
from prose_mesh.medium.air import Radio
from prose_mesh.node.log import UeLog
from prose_mesh.protocol.ratelimit import TokenBucket
from prose_mesh.scenario.schema import INSIDER_ACTIONS

ACTIONS = INSIDER_ACTIONS  # the scenario schema's list is the one definition
SUPPORTED_ACTIONS = ("send_old_gmk", "decrypt_new")
MEDIA_PAYLOAD = 160
_RX_QUEUE = 4096


class _TwinRadio(Radio):
    """The twin UE's radio: frames the attacker hears go in; frames out are gated by the role
    (dropped while inactive, counted and bounded while active)."""

    def __init__(self, role: Insider, radio: Radio) -> None:
        super().__init__(radio.air, radio.name, radio.mac)
        self.role = role
        self._tx, self._rx = trio.open_memory_channel[bytes](_RX_QUEUE)

    def feed(self, frame: bytes) -> None:
        try:
            self._tx.send_nowait(frame)
        except (trio.WouldBlock, trio.ClosedResourceError):
            self.role.counters["twin_rx_dropped"] += 1

    async def send(self, frame: bytes) -> None:
        if not self.role.active:
            self.role.counters["suppressed"] += 1
            await trio.lowlevel.checkpoint()
            return
        await self.role.send("stolen_ue", frame)

    async def receive(self) -> bytes:
        return await self._rx.receive()

    def _end(self) -> None:
        self._tx.close()


class Insider(Role):
    ROLE = "insider"
    OPTIONS = frozenset({"as", "actions"})

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.stolen = self.options.get("as")
        if self.stolen is None or self.stolen not in self.world.prov:
            raise ConfigError(f"attacker {name}: 'as' must name a UE of the scenario")
        self.actions = tuple(self.options.get("actions", ("send_old_gmk", "decrypt_new")))
        bad = set(self.actions) - set(SUPPORTED_ACTIONS)
        if bad:
            raise ConfigError(f"attacker {name}: insider action(s) {sorted(bad)} not supported yet")
        self.twin: Any = None
        self._twin_radio: _TwinRadio | None = None
        self.media_sent = 0

    def on_heard(self, h: Heard) -> None:
        if self._twin_radio is not None:
            self._twin_radio.feed(h.frame)

    async def started(self, nursery: trio.Nursery) -> None:
        from prose_mesh.node.ue import Ue

        assert self.radio is not None
        self._twin_radio = _TwinRadio(self, self.radio)
        log = UeLog(self.name, sink=None, origin=self.world.origin)
        prov = self.world.prov[self.stolen]
        self.twin = Ue(
            prov,
            clock=self.world.clock(prov.clock_offset + self.clock_offset),
            log=log,
            radio=self._twin_radio,
        )
        await nursery.start(self.twin.run)

    def _group_ids(self) -> list[str]:
        """MCPTT group IDs of the target groups the stolen UE is provisioned for."""
        mine = {cfg.group_id for cfg in self.twin.directory} if self.twin else set()
        targets = set(self.targets)
        out = []
        for gid, cfg in self.world.groups.items():
            members = set(self.world.members.get(gid, ())) | {self.stolen}
            if cfg.group_id in mine and (not targets or targets & members):
                out.append(cfg.group_id)
        return out

    def streams(self) -> list[Any]:
        return []  # the twin sends; _talk paces its media

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(super().run)
            if "send_old_gmk" in self.actions:
                nursery.start_soon(self._talk)
            task_status.started()

    async def _talk(self) -> None:
        bucket = TokenBucket(self.rate, 1.0)
        while not self.done:
            if not self.active:
                await self._changed.wait()
                continue
            now = trio.current_time()
            tokens = bucket.available(now)
            if tokens < 1.0:
                await pace(tokens, self.rate)
                continue
            bucket.take(now)
            if self.injected >= self.count:
                self._finish()
                return
            for gid in self._group_ids():
                try:
                    if self.twin.calls.call(gid) is None:
                        await self.twin.start_call(gid)
                        self.counters["call_starts"] += 1
                    await self.twin.send_media(gid, self.rng.randbytes(MEDIA_PAYLOAD))
                    self.media_sent += 1
                except ProseMeshError as exc:  # the twin's own machines refused (no GMK...)
                    self.counters[f"twin_refused.{exc.reason}"] += 1

    def decrypted_new(self) -> int:
        """Media with this run's canary the twin decrypted while the attack was active."""
        if self.twin is None or not self.world.canary:
            return 0
        n = 0
        for t, data in self.twin.media:
            payload = bytes(data.get("payload", b""))
            if self.world.canary in payload and self.was_active(t):
                n += 1
        return n

    def figures(self) -> dict[str, float]:
        twin_gmks = float(self.twin.log.accepted.get("gmk", 0)) if self.twin else 0.0
        return {
            "decrypted_new": float(self.decrypted_new()),
            "media_sent": float(self.media_sent),
            "twin_gmks_installed": twin_gmks,
        }
