"""Attacker roles (ADVERSARIAL.md §1, §4): nodes with raw medium access that listen, replay,
spoof, tamper, flood or act with a stolen member's keys. Every frame they send goes through the
same medium as the UEs' and is tagged with the attacker's name (events.jsonl ``attack``).

Build a role from a scenario attacker or from Python, attach it, run it::

    from prose_mesh.attack import World, build
    role = build(attacker, world, targets=["m1", "m2"])     # attacker: M.Attacker
    # or: Replayer("replay", world=world, start=2.0, stop=12.0, rate=400, count=1000,
    #              options={"capture": "gmk_imessage", "copies": 1000})
    await role.attach(air, (30.0, 10.0))          # air.attach(name, position, attack=name)
    await nursery.start(role.run)                 # listens at once; injects start..stop
    role.activate(); role.deactivate()            # the timeline's attack_start / attack_stop
    role.counters   # heard, injected, injected.<kind>, refused.<reason>, role-specific ones
    role.sent       # frame_sha256 of the last MAX_SENT frames it injected (set-like)
    role.figures()  # role-specific figures (canary_hits, decrypted_new, variants, ...)

Common bounds (always enforced, :mod:`.base`): ``rate`` frames/s through a token bucket
(default 10/s, at most 50,000/s), ``count`` frames in all (default 1,000,000), ``stop`` (s from
the run's start). ``start: None`` in Python means "only when activated". ``seed`` makes the
random choices reproducible. ``targets`` are UE names (a scenario's group selectors are expanded
to the group's members by :mod:`prose_mesh.scenario.attacks`).

How to use each role (options as in the scenario schema's ``_attacker_options``):

* ``eavesdropper`` — never sends. Counts what it hears by kind and ``canary_hits`` (the run's
  media canary, or ``options.canary``, seen in clear; must be 0). ``nonce_monitor``: an ECCSI
  nonce-reuse monitor over every signed MIKEY message it can open (:mod:`.nonce_monitor`; H3);
  ``escrow``: given the KMS master secret, decrypts the GMK I_MESSAGEs it hears
  (:mod:`.escrow`; D5, a documented limitation). Both are handed the groups' PGKs by the
  harness: an outsider sees no I_MESSAGE, they travel on the ciphered bearer.
* ``replayer`` — ``capture`` (gmk_imessage, pck_imessage, srtp, srtcp, monp, discovery, any;
  classified by traffic analysis, :mod:`.capture`), ``copies`` per captured frame, ``delay``
  before the first replay, ``to`` (UE names: unicast frames are re-addressed to them).
  Listens from the run's start, so it can capture what precedes its ``start`` (A1, A5, A6).
* ``spoofer`` — ``as`` (the UE whose Layer-2 ID it uses), ``payload`` (media, signalling,
  discovery, imessage); sends to the groups of its targets (media/imessage) or to its target
  UEs (signalling) (B1).
* ``tamperer`` — ``capture``, ``mutations`` (bitflip, truncate, length_lie, sig_r, sig_s,
  sig_pvt, idri_resign), ``variants``, ``idri`` (claimed initiator), ``signer`` (the insider
  whose SSK and PGKs it holds; needed for idri_resign and for keyed signature mutations on a
  ciphered group bearer) (B2, E1, E2). ``crafted`` (classes of :mod:`.crafted`: signature
  range/length, invalid PVT, SAKKE R/H/length, bit flips of H and R, SP/CS-ID/PRF downgrades,
  lying lengths, loops, nesting, oversize, unknown types, the third-party I_MESSAGEs) builds
  each variant from a captured GMK I_MESSAGE with a fresh RAND and T; ``resign`` signs it with
  ``signer``'s SSK (a compromised insider) (C2, C4, C5, C6, E2, H4).
* ``flooder`` — ``kinds`` (junk, discovery, imessage_bad_sign, dcr), ``rotate_l2_ids``,
  ``discovery_rate`` (a separate discovery stream; ``rate`` paces the rest) (F2, J2).
* ``insider`` — ``as`` (the member whose keys are held: a twin UE of it runs on the attacker's
  radio, silent until the attack starts), ``actions`` (send_old_gmk, decrypt_new) (D2). Figure
  ``decrypted_new`` counts run media it decrypted while active. ``resign_mutated`` is refused
  up front: an insider that re-signs mutated I_MESSAGEs with a valid SSK is the ``tamperer``
  with ``resign`` and ``signer`` (C5).
* ``malicious_relay`` — not built here: a relay UE misbehaves (``prose_mesh.scenario.relays.
  misbehave``); :mod:`prose_mesh.scenario.attacks` wires it when relays support it. The frames
  it modified or cross-forwarded are named by its ``relay_tampered`` events, which the
  offline invariants read (the medium tags transmissions per node, and a relay is also an
  honest forwarder).

In a scenario run, :mod:`prose_mesh.scenario.attacks` attributes every receiver verdict on a
frame an attacker transmitted to that attacker (``attack.<name>.accepted`` / ``.rejected`` /
``.rejected.<REASON>``) and writes a verdict-table row per attacker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prose_mesh.attack.base import DEFAULT_COUNT, DEFAULT_RATE, MAX_RATE, Heard, Role, World
from prose_mesh.attack.eavesdropper import Eavesdropper
from prose_mesh.attack.flooder import Flooder
from prose_mesh.attack.insider import Insider
from prose_mesh.attack.replayer import Replayer
from prose_mesh.attack.spoofer import Spoofer
from prose_mesh.attack.tamperer import Tamperer
from prose_mesh.errors import ConfigError

if TYPE_CHECKING:
    from prose_mesh.scenario import model as M

#: role name -> class, for the roles built here (malicious_relay is a relay UE's behaviour).
ROLES: dict[str, type[Role]] = {
    cls.ROLE: cls for cls in (Eavesdropper, Replayer, Spoofer, Tamperer, Flooder, Insider)
}


def build(attacker: M.Attacker, world: World, targets: Iterable[str] = ()) -> Role:
    """The role object of a scenario attacker (``targets`` already expanded to UE names)."""
    cls = ROLES.get(attacker.role)
    if cls is None:
        raise ConfigError(
            f"attacker {attacker.name}: role {attacker.role!r} is not built by prose_mesh.attack"
        )
    return cls.from_model(attacker, world, targets)


__all__ = [
    "DEFAULT_COUNT", "DEFAULT_RATE", "MAX_RATE", "ROLES", "Eavesdropper", "Flooder", "Heard",
    "Insider", "Replayer", "Role", "Spoofer", "Tamperer", "World", "build",
]  # fmt: skip
