"""Provisioning before deployment: one KMS community, identity keys per UE, group configuration.

TS 33.180 §5 / §7.3: a KMS issues each identity its SSK/PVT (RFC 6507 §5.1.1) and RSK
(RFC 6508 §6.1.1) for a key period; the UID binds URI, KMS URI, key period length, offset and
number (TS 33.180 F.2.1). Off-network nothing can be fetched later, so everything a UE needs is
loaded here:

* MC service users carry their user URI; out-of-the-box MEs carry their ME identity, the
  RFC 7254 IMEI URN, with fixed ME identity keys from the same KMS and a maximum ad-hoc GMK
  period (the longest an ad-hoc GMK they accept may stay in use) [EMU default 1 h].
* Groups (TS 24.383 group parameters): a standard or temporary group is configured in its
  manager and members; an ad-hoc group is configured only in its creator — members learn it
  from the creator's signed distribution (seed document, ad-hoc GMK distribution).
* Layer-2 IDs are self-assigned, 24 bits, never 0 (PROTOCOL.md §4.1), drawn from the run seed.

Key material is cached per (KMS, URI, period) in the process and the KMS per community, so a
second run (or 2000 UEs of the same community) costs one extraction per new identity only.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import dataclass

from prose_mesh.constants import MONP_PORT
from prose_mesh.crypto.identity import imei_check_digit_ok, imei_urn, key_period_number
from prose_mesh.crypto.kms import KeyMaterial, Kms
from prose_mesh.crypto.sakke import validate_rsk
from prose_mesh.errors import ConfigError
from prose_mesh.protocol.groups import DEFAULT_MEDIA_PORT, GroupConfig
from prose_mesh.scenario.model import UE, Group, Scenario
from prose_mesh.scenario.model import Kms as KmsConfig
from prose_mesh.wire.ipudp import address

#: [EMU] the longest an ad-hoc GMK stays in use when neither ME nor group configures it.
DEFAULT_MAX_ADHOC_GMK_PERIOD = 3600.0

_KMS: dict[tuple[str, int, int, str | None], Kms] = {}
_MATERIAL: dict[tuple[bytes, str, int], KeyMaterial] = {}


def community(cfg: KmsConfig) -> Kms:
    """The community KMS of ``cfg`` (generated once per process, then reused)."""
    key = (cfg.uri, int(cfg.key_period), int(cfg.key_period_offset), cfg.community)
    kms = _KMS.get(key)
    if kms is None:
        kms = _KMS[key] = Kms.generate(cfg.uri, period=key[1], offset=key[2])
    return kms


_PSDK: dict[tuple[str, int, int, str | None], tuple[int, bytes]] = {}


def discovery_group(cfg: KmsConfig) -> tuple[int, bytes]:
    """[EMU] The community's Discovery Group ID (24 bits from SHA-256 of the KMS URI and
    community name) and its PSDK (TS 24.334 §10A: issued by the PKMF before deployment), so
    out-of-the-box UEs can find each other by restricted group member discovery."""
    key = (cfg.uri, int(cfg.key_period), int(cfg.key_period_offset), cfg.community)
    found = _PSDK.get(key)
    if found is None:
        digest = hashlib.sha256(f"{cfg.uri}|{cfg.community or ''}".encode()).digest()
        found = _PSDK[key] = (int.from_bytes(digest[:3], "big") or 1, secrets.token_bytes(32))
    return found


def key_material(kms: Kms, uri: str, period_no: int, *, validate: bool = True) -> KeyMaterial:
    """``kms.provision(uri, period_no)``, cached per (KMS, URI, period); with ``validate``,
    checked as a UE does on installation (RFC 6507 §5.1.2 SSK check, RFC 6508 §6.1.2 RSK
    check). Validation also builds the UE's own SAKKE receiver tables (about 0.2 s and 3 MiB,
    kept for the 32 most recent identities), so its first decryption does not pay for them."""
    # keyed on the community's public keys, not id(kms): an id can be reused once a Kms is
    # garbage collected, and would then hand out another community's keys
    key = (kms.kpak + kms.z_pub, uri, period_no)
    km = _MATERIAL.get(key)
    if km is None:
        km = _MATERIAL[key] = kms.provision(uri, period_no)
    if validate and key not in _VALIDATED:
        km.validate()
        _VALIDATED.add(key)
    elif validate:
        # validated by an earlier run of this process, but its receiver tables may have left
        # the LRU since (a run with many identities): warm them here, at provisioning, so the
        # UE's first decryption does not pay ~0.3 s for them inside a timed step
        validate_rsk(identity=km.uid, rsk=km.rsk, z_pub=km.z_pub)
    return km


#: [EMU] above this many UEs, provisioning skips the per-UE validation (it costs ~0.2 s each);
#: each UE's first SAKKE decapsulation then validates its RSK instead.
VALIDATE_UP_TO = 64
_VALIDATED: set[tuple[bytes, str, int]] = set()


@dataclass(frozen=True)
class Provisioned:
    """Everything one UE is loaded with before deployment."""

    name: str
    uri: str
    kind: str  # "user" | "me"
    l2id: int
    keys: KeyMaterial
    groups: tuple[GroupConfig, ...]
    roles: tuple[str, ...]
    clock_offset: float
    max_adhoc_gmk_period: float
    imei_check_digit_ok: bool | None = None  # MEs only: does the IMEI pass the Luhn check?
    pgks: tuple[tuple[str, tuple[int, bytes]], ...] = ()  # group ID -> (PGK ID, PGK)
    discovery_group: tuple[int, bytes] = (0, b"")  # (Discovery Group ID, PSDK)
    # [EMU] the KMS transport key (TS 33.180 §5.3 TrK) given out of band at manufacture, when
    # the scenario has a network-side KMS to provision over IP (prose_mesh.network.kms_service)
    trk: bytes = b""
    # [EMU] test hooks (scenario ``ssrc`` / ``first_seq``, H1): fixed SRTP SSRC / first SEQ
    ssrc: int | None = None
    first_seq: int | None = None


def new_trk() -> bytes:
    from prose_mesh.network.kms_service import new_trk as make

    return make(256)


def group_uri(group: Group) -> str:
    """The MCPTT group ID: the configured URI, else the scenario's group name [EMU]."""
    return group.uri or group.id


def group_config(scenario: Scenario, group: Group) -> GroupConfig:
    """TS 24.383-style group parameters of ``group`` as every configured UE holds them."""
    distributor_ue = group.manager if group.type in ("standard", "temporary") else group.creator
    if distributor_ue is None:
        raise ConfigError(f"group {group.id}: no manager/creator to distribute GMKs")
    if scenario.network is not None and distributor_ue == scenario.network.name:
        from prose_mesh.network.gms import gms_uri  # the GMS of the network side

        distributor = gms_uri(scenario.network.name)
    else:
        distributor = ue_uri(scenario.ue(distributor_ue))
    members = {ue_uri(scenario.ue(m)) for m in group.members}
    if group.type == "adhoc":
        members.add(ue_uri(scenario.ue(distributor_ue)))  # the creator is a member
    # Members of an ad-hoc/temporary group learn it from the GMK's key parameters, which carry
    # the L2 group ID but not the multicast address or ports: the creator must use the values
    # members derive (see learned_defaults), whatever the scenario says.
    learned = group.type != "standard"
    return GroupConfig(
        group_id=group_uri(group),
        kind=group.type,  # type: ignore[arg-type]
        distributor=distributor,
        members=frozenset(members),
        l2_group_id=group.l2_group_id or 0,
        multicast=address(group.multicast.address) if group.multicast and not learned else b"",
        monp_port=group.multicast.port if group.multicast and not learned else MONP_PORT,
        media_port=DEFAULT_MEDIA_PORT,
        max_gmk_period=group.gmk.max_adhoc_period if group.type == "adhoc" else group.gmk.period,
        constituents=tuple(group.constituents),
    )


def learned_defaults_note(scenario: Scenario) -> list[str]:
    """Where the scenario's multicast settings of an ad-hoc/temporary group were not used."""
    notes = []
    for g in scenario.groups:
        if g.type != "standard" and g.multicast is not None:
            cfg = group_config(scenario, g)
            if address(g.multicast.address) != cfg.multicast or g.multicast.port != cfg.monp_port:
                notes.append(
                    f"group {g.id}: multicast {g.multicast.address} port {g.multicast.port} "
                    f"not used - members learn an ad-hoc group from its GMK key parameters, "
                    f"which carry no address or port, so the default ff05::<L2 group ID> and "
                    f"port {cfg.monp_port} apply"
                )
    return notes


def ue_uri(ue: UE) -> str:
    """The identity a UE's keys are bound to: its user URI, or its IMEI URN (RFC 7254)."""
    return imei_urn(ue.imei or "") if ue.is_me else ue.identity_uri


def configured_in(scenario: Scenario, group: Group) -> set[str]:
    """The UEs provisioned with ``group`` before deployment (ad-hoc: only the creator)."""
    if group.type == "adhoc":
        return {group.creator} if group.creator else set()
    out = set(group.members)
    if group.manager:
        out.add(group.manager)
    return out


def assign_l2ids(names: list[str], seed: int) -> dict[str, int]:
    """Self-assigned 24-bit source Layer-2 IDs, distinct and never 0 (PROTOCOL.md §4.1)."""
    rng = random.Random(f"l2id:{seed}")
    out: dict[str, int] = {}
    used: set[int] = set()
    for name in names:
        value = 0
        while value == 0 or value in used:
            value = rng.randrange(1, 1 << 24)
        used.add(value)
        out[name] = value
    return out


def provision(scenario: Scenario, *, epoch: float, seed: int,
              validate: bool | None = None) -> dict[str, Provisioned]:
    """Provision every UE of ``scenario`` for the key period its own clock reads at start.
    ``validate`` (default: up to :data:`VALIDATE_UP_TO` UEs) checks each UE's keys."""
    if validate is None:
        validate = len(scenario.ues) <= VALIDATE_UP_TO
    kms = community(scenario.kms)
    l2ids = assign_l2ids([u.name for u in scenario.ues], seed)
    configs = {g.id: group_config(scenario, g) for g in scenario.groups}
    holders = {g.id: configured_in(scenario, g) for g in scenario.groups}
    # TS 33.303 §5 / PROTOCOL.md §5: a PGK (256 bits, with a PGK ID) is pre-provisioned for the
    # one-to-many bearer of every standard group; ad-hoc and temporary groups, made at run time
    # with no PKMF, have none (their bearer is unciphered; SRTP and MIKEY protect them).
    pgks = {g.id: (1 + secrets.randbelow(0xFFFF), secrets.token_bytes(32))
            for g in scenario.groups if g.type == "standard"}  # fmt: skip
    out: dict[str, Provisioned] = {}
    for ue in scenario.ues:
        uri = ue_uri(ue)
        luhn = imei_check_digit_ok(ue.imei or "") if ue.is_me else None
        period_no = key_period_number(epoch + ue.clock_offset, kms.period, kms.offset)
        groups = tuple(configs[g.id] for g in scenario.groups if ue.name in holders[g.id])
        adhoc_periods = [g.gmk.max_adhoc_period for g in scenario.groups
                         if g.type == "adhoc" and g.gmk.max_adhoc_period is not None]  # fmt: skip
        out[ue.name] = Provisioned(
            name=ue.name,
            uri=uri,
            kind="me" if ue.is_me else "user",
            l2id=l2ids[ue.name],
            keys=key_material(kms, uri, period_no, validate=validate),
            groups=groups,
            roles=tuple(ue.roles),
            clock_offset=ue.clock_offset,
            max_adhoc_gmk_period=min(adhoc_periods, default=DEFAULT_MAX_ADHOC_GMK_PERIOD),
            imei_check_digit_ok=luhn,
            discovery_group=discovery_group(scenario.kms),
            pgks=tuple((configs[g.id].group_id, pgks[g.id]) for g in scenario.groups
                       if g.id in pgks and ue.name in holders[g.id]),
            trk=new_trk() if scenario.network is not None else b"",
            ssrc=ue.ssrc,
            first_seq=ue.first_seq,
        )
    return out
