"""The scenario as Python objects: what a runner consumes.

Every class is a frozen dataclass holding numbers, not strings: durations in seconds (float),
percentages as probabilities in [0, 1], rates in bit/s, positions in metres. Defaults are filled
in, UE sets are expanded into UEs, name globs (``"ue*"``) into names, and the timeline is sorted
by time (stable). Objects built by hand are checked by :meth:`Scenario.validate`, which runs the
same schema and semantic checks as the YAML loader (``prose_mesh.scenario.loader``).

    Scenario(name="d2d", duration=10.0,
             ues=[UE("ue1", user="sip:ue1@example.org"), UE("ue2", imei="353456789012345")],
             timeline=[At(1.0, D2DLink(a="ue1", b="ue2"))]).validate()
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from prose_mesh.constants import MONP_PORT
from prose_mesh.medium.params import PathLoss
from prose_mesh.scenario import schema as S

Position = tuple[float, float]


def _tup(value: Iterable[Any] | None) -> tuple[Any, ...]:
    return tuple(value) if value is not None else ()


def _freeze(obj: Any, *names: str) -> None:
    """Turn list arguments into tuples so hand-built objects stay immutable and comparable."""
    for name in names:
        object.__setattr__(obj, name, _tup(getattr(obj, name)))


def _pos(value: Iterable[float] | None) -> Position | None:
    if value is None:
        return None
    x, y = value
    return (float(x), float(y))


def _put(out: dict[str, Any], key: str, value: Any, default: Any = None) -> None:
    if value != default:
        out[key] = value


# --- netem impairments (tc-netem(8) vocabulary; applied by the userspace medium)
@dataclass(frozen=True)
class Delay:
    mean: float
    jitter: float = 0.0
    correlation: float = 0.0
    distribution: str | None = None

    @classmethod
    def parse(cls, value: float | str) -> Delay:
        if isinstance(value, int | float):
            return cls(float(value))
        words = value.split()
        dist = None
        if "distribution" in words:
            i = words.index("distribution")
            dist, words = words[i + 1], words[:i]
        mean = S.parse_duration(words[0])
        jitter = S.parse_duration(words[1]) if len(words) > 1 else 0.0
        corr = S.parse_percent(words[2]) if len(words) > 2 else 0.0
        return cls(mean, jitter, corr, dist)

    def to_yaml(self) -> float | int | str:
        if not (self.jitter or self.correlation or self.distribution):
            return S.format_duration(self.mean)
        out = f"{_ms(self.mean)} {_ms(self.jitter)}"
        if self.correlation:
            out += f" {S.format_percent(self.correlation)}"
        if self.distribution:
            out += f" distribution {self.distribution}"
        return out


def _ms(seconds: float) -> str:
    return f"{S.decimal(seconds * 1000.0)}ms"


@dataclass(frozen=True)
class Loss:
    """``random`` (Bernoulli, optional correlation) or ``gemodel`` (Gilbert–Elliott).

    gemodel defaults when omitted: 1-h = 100 % (every packet lost in the bad state) and
    1-k = 0 % (none lost in the good state), i.e. the simple Gilbert model.
    """

    p: float
    model: str = "random"
    correlation: float = 0.0
    r: float = 0.0
    one_minus_h: float = 1.0
    one_minus_k: float = 0.0

    @classmethod
    def parse(cls, value: str) -> Loss:
        words = value.split()
        if words[0] == "gemodel":
            p = [S.parse_percent(w) for w in words[1:]]
            return cls(p[0], "gemodel", r=p[1], one_minus_h=p[2] if len(p) > 2 else 1.0,
                       one_minus_k=p[3] if len(p) > 3 else 0.0)  # fmt: skip
        if words[0] == "random":
            words = words[1:]
        corr = S.parse_percent(words[1]) if len(words) > 1 else 0.0
        return cls(S.parse_percent(words[0]), correlation=corr)

    def to_yaml(self) -> str:
        f = S.format_percent
        if self.model == "gemodel":
            return (f"gemodel {f(self.p)} {f(self.r)} {f(self.one_minus_h)} "
                    f"{f(self.one_minus_k)}")  # fmt: skip
        return f"random {f(self.p)}" + (f" {f(self.correlation)}" if self.correlation else "")


@dataclass(frozen=True)
class Chance:
    """A netem ``P% [CORRELATION%]`` pair (duplicate, corrupt)."""

    p: float
    correlation: float = 0.0

    @classmethod
    def parse(cls, value: str) -> Chance:
        words = value.split()
        return cls(S.parse_percent(words[0]),
                   S.parse_percent(words[1]) if len(words) > 1 else 0.0)  # fmt: skip

    def to_yaml(self) -> str:
        out = S.format_percent(self.p)
        return out + (f" {S.format_percent(self.correlation)}" if self.correlation else "")


@dataclass(frozen=True)
class Reorder:
    """netem ``reorder P% [CORR%] [gap N]``: like netem, it only acts on delayed frames."""

    p: float
    correlation: float = 0.0
    gap: int | None = None

    @classmethod
    def parse(cls, value: str) -> Reorder:
        words = value.split()
        gap = None
        if "gap" in words:
            i = words.index("gap")
            gap, words = int(words[i + 1]), words[:i]
        corr = S.parse_percent(words[1]) if len(words) > 1 else 0.0
        return cls(S.parse_percent(words[0]), corr, gap)

    def to_yaml(self) -> str:
        out = Chance(self.p, self.correlation).to_yaml()
        return out + (f" gap {self.gap}" if self.gap is not None else "")


@dataclass(frozen=True)
class Impairments:
    delay: Delay | None = None
    loss: Loss | None = None
    duplicate: Chance | None = None
    corrupt: Chance | None = None
    reorder: Reorder | None = None
    rate: int | None = None  # bit/s

    _KINDS: ClassVar[dict[str, Any]] = {
        "delay": Delay, "loss": Loss, "duplicate": Chance, "corrupt": Chance, "reorder": Reorder,
    }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Impairments:
        kw: dict[str, Any] = {k: kind.parse(d[k]) for k, kind in cls._KINDS.items() if k in d}
        if "rate" in d:
            kw["rate"] = S.parse_rate(d["rate"])
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k).to_yaml() for k in self._KINDS if getattr(self, k) is not None}
        if self.rate is not None:
            out["rate"] = S.format_rate(self.rate)
        return out

    @property
    def empty(self) -> bool:
        return self == Impairments()


@dataclass(frozen=True)
class Window:
    """A timed link-down window: from ``at`` for ``length`` seconds."""

    at: float
    length: float


@dataclass(frozen=True)
class Link:
    a: str
    b: str
    symmetric: bool = True
    impairments: Impairments = Impairments()
    down: tuple[Window, ...] = ()

    def __post_init__(self) -> None:
        _freeze(self, "down")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Link:
        down = tuple(Window(S.parse_duration(w["at"]), S.parse_duration(w["for"]))
                     for w in d.get("down", ()))  # fmt: skip
        return cls(d["a"], d["b"], d.get("symmetric", True), Impairments.from_dict(d), down)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"a": self.a, "b": self.b}
        _put(out, "symmetric", self.symmetric, True)
        out.update(self.impairments.to_dict())
        if self.down:
            out["down"] = [{"at": S.format_duration(w.at), "for": S.format_duration(w.length)}
                           for w in self.down]  # fmt: skip
        return out


@dataclass(frozen=True)
class Capacity:
    rate: int  # bit/s shared by everyone in range
    queue: int | None = None  # frames
    cr_limit: float | None = None  # one node's largest channel share per second (None: 25 %)


@dataclass(frozen=True)
class Medium:
    """``links``: only listed pairs hear each other. ``range``: UEs hear each other by distance,
    given either as ``range`` metres (optionally with loss starting at ``fade_start`` metres) or
    as an explicit ``path_loss`` model. Listed links then add impairments and down windows."""

    mode: str = "range"
    range: float | None = None
    fade_start: float | None = None
    default: Impairments = Impairments()
    links: tuple[Link, ...] = ()
    capacity: Capacity | None = None
    seed: int | None = None
    path_loss: PathLoss | None = None

    def effective_path_loss(self) -> PathLoss | None:
        """The path-loss model the medium should use (None in ``links`` mode).

        With ``range`` R and ``fade_start`` F on the default propagation constants: sensitivity
        = rx(R), so a UE is heard up to R metres; fade margin = rx(F) − rx(R), so loss starts at
        F metres and reaches 1 at R (linearly in dB). No ``fade_start``: a hard edge."""
        if self.mode != "range":
            return None
        if self.path_loss is not None or self.range is None:
            return self.path_loss
        base = PathLoss()
        sens = base.rx_dbm(self.range)
        fade = base.rx_dbm(self.fade_start) - sens if self.fade_start is not None else 0.0
        return dataclasses.replace(base, sensitivity_dbm=sens, fade_margin_db=fade)

    def __post_init__(self) -> None:
        _freeze(self, "links")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Medium:
        cap = d.get("capacity")
        return cls(
            d["mode"], d.get("range"), d.get("fade_start"),
            Impairments.from_dict(d.get("default", {})),
            tuple(Link.from_dict(x) for x in d.get("links", ())),
            Capacity(S.parse_rate(cap["rate"]), cap.get("queue"),
                     S.parse_percent(cap["cr_limit"]) if "cr_limit" in cap else None)
            if cap else None,
            d.get("seed"),
            PathLoss(**d["path_loss"]) if "path_loss" in d else None,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode}
        _put(out, "range", self.range)
        _put(out, "fade_start", self.fade_start)
        if not self.default.empty:
            out["default"] = self.default.to_dict()
        if self.links:
            out["links"] = [x.to_dict() for x in self.links]
        if self.capacity:
            out["capacity"] = {"rate": S.format_rate(self.capacity.rate)}
            _put(out["capacity"], "queue", self.capacity.queue)
            if self.capacity.cr_limit is not None:
                out["capacity"]["cr_limit"] = S.format_percent(self.capacity.cr_limit)
        _put(out, "seed", self.seed)
        if self.path_loss is not None:
            out["path_loss"] = dataclasses.asdict(self.path_loss)
        return out


# --- identities, KMS, network
@dataclass(frozen=True)
class Kms:
    """The KMS the UEs were provisioned from: the KMS URI, key period and offset are inputs of
    the MIKEY-SAKKE UID (TS 33.180 F.2.1, PROTOCOL.md §6.3)."""

    uri: str = "kms.prose-mesh.example.org"
    key_period: float = 2592000.0  # [EMU] 30 days
    key_period_offset: float = 0.0
    community: str | None = None


@dataclass(frozen=True)
class Network:
    """A network-side namespace hosting KMS / GMS / PKMF, reached by UEs in coverage."""

    name: str
    services: tuple[str, ...] = ("kms", "gms")

    def __post_init__(self) -> None:
        _freeze(self, "services")


@dataclass(frozen=True)
class UE:
    """A UE with either an MC service user identity (``user``) or an ME identity (``imei``).

    Roles: ``member`` (may be a group member), ``group_manager`` (may act as the GMS of standard
    and temporary groups; needs a user identity), ``relay`` (may host a relay)."""

    name: str
    user: str | None = None
    imei: str | None = None
    roles: tuple[str, ...] = ("member",)
    position: Position | None = None
    in_coverage: bool = False
    clock_offset: float = 0.0
    #: [EMU] test hooks (ADVERSARIAL.md H1's forced SSRC collision): the SSRC / first RTP SEQ
    #: of this UE's SRTP streams instead of random ones (None: random, as RFC 3550 wants).
    ssrc: int | None = None
    first_seq: int | None = None

    def __post_init__(self) -> None:
        _freeze(self, "roles")
        object.__setattr__(self, "position", _pos(self.position))

    @property
    def identity_uri(self) -> str:
        """The identity the UE's keys are bound to. For an ME, the RFC 7254 IMEI URN
        (TAC-SNR-check digit, as in TS 24.229's ``urn:gsma:imei:90420156-025763-0``)."""
        if self.user is not None:
            return self.user
        imei = self.imei or ""
        return f"urn:gsma:imei:{imei[:8]}-{imei[8:14]}-{imei[14:]}"

    @property
    def is_me(self) -> bool:
        return self.user is None

    def to_dict(self) -> dict[str, Any]:
        ident = {"user": self.user} if self.user is not None else {"me": {"imei": self.imei}}
        out: dict[str, Any] = {"identity": ident, "roles": list(self.roles)}
        if self.position is not None:
            out["position"] = [S.format_duration(v) for v in self.position]
        _put(out, "in_coverage", self.in_coverage, False)
        _put(out, "clock_offset", S.format_duration(self.clock_offset), 0)
        _put(out, "ssrc", self.ssrc)
        _put(out, "first_seq", self.first_seq)
        return out


# --- groups
@dataclass(frozen=True)
class Multicast:
    address: str
    port: int = MONP_PORT


@dataclass(frozen=True)
class Gmk:
    """GMK lifetime policy: ``period`` between rekeys (None: only on demand), first activation,
    and for ad-hoc groups the longest a GMK may stay in use."""

    period: float | None = None
    activation: float = 0.0
    max_adhoc_period: float | None = None


@dataclass(frozen=True)
class Group:
    """``standard``: GMKs from a group manager (GMS). ``adhoc``: created out of the box by
    ``creator``, a member. ``temporary``: a regroup of ``constituents`` by ``manager``."""

    id: str
    type: str
    members: tuple[str, ...] = ()
    manager: str | None = None
    creator: str | None = None
    constituents: tuple[str, ...] = ()
    uri: str | None = None
    l2_group_id: int | None = None
    multicast: Multicast | None = None
    gmk: Gmk = Gmk()

    def __post_init__(self) -> None:
        _freeze(self, "members", "constituents")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for key in ("uri", "manager", "creator", "l2_group_id"):
            _put(out, key, getattr(self, key))
        if self.members:
            out["members"] = list(self.members)
        if self.constituents:
            out["constituents"] = list(self.constituents)
        if self.multicast:
            out["multicast"] = dataclasses.asdict(self.multicast)
        gmk = {k: S.format_duration(v) for k, v in dataclasses.asdict(self.gmk).items()
               if v is not None and not (k == "activation" and v == 0)}  # fmt: skip
        if gmk:
            out["gmk"] = gmk
        return out


# --- relays and attackers
@dataclass(frozen=True)
class Relay:
    """A ProSe relay hosted by ``ue``. ``upstream`` names the next relay of a chain (an
    emulator extension: 3GPP Rel-13 relays are one hop)."""

    name: str
    ue: str
    kind: str
    relay_service_code: int | None = None
    upstream: str | None = None
    serves: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _freeze(self, "serves")


_OPTION_KINDS: dict[str, tuple[Any, Any]] = {
    "delay": (S.parse_duration, S.format_duration),
    "drop": (S.parse_percent, S.format_percent),
    "modify": (S.parse_percent, S.format_percent),
    "reorder": (Reorder.parse, Reorder.to_yaml),
}


@dataclass(frozen=True)
class Attacker:
    """An attacker node (ADVERSARIAL.md §1). ``options`` are role-specific; durations,
    percentages and reorder specs in them are parsed like everywhere else."""

    name: str
    role: str
    targets: tuple[str, ...] = ()
    position: Position | None = None
    start: float = 0.0
    stop: float | None = None
    rate: float | None = None
    count: int | None = None
    seed: int | None = None
    clock_offset: float = 0.0
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        _freeze(self, "targets")
        opts = self.options.items() if isinstance(self.options, dict) else self.options
        object.__setattr__(self, "options", tuple(sorted(
            (k, tuple(v) if isinstance(v, list) else v) for k, v in opts)))  # fmt: skip
        object.__setattr__(self, "position", _pos(self.position))

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)

    @staticmethod
    def parse_options(raw: dict[str, Any]) -> dict[str, Any]:
        return {k: _OPTION_KINDS[k][0](v) if k in _OPTION_KINDS else v for k, v in raw.items()}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role}
        if self.targets:
            out["targets"] = list(self.targets)
        if self.position is not None:
            out["position"] = [S.format_duration(v) for v in self.position]
        _put(out, "start", S.format_duration(self.start), 0)
        if self.stop is not None:
            out["stop"] = S.format_duration(self.stop)
        for key in ("rate", "count", "seed"):
            _put(out, key, getattr(self, key))
        _put(out, "clock_offset", S.format_duration(self.clock_offset), 0)
        if self.options:
            out["options"] = {
                k: _OPTION_KINDS[k][1](v) if k in _OPTION_KINDS else
                (list(v) if isinstance(v, tuple) else v) for k, v in self.options
            }  # fmt: skip
        return out


# --- timeline
@dataclass(frozen=True)
class Action:
    """Base of timeline actions. ``KEY`` is the YAML key; fields map 1:1 to its sub-keys."""

    KEY: ClassVar[str] = ""
    DURATION_FIELDS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Action:
        kw = {k: S.parse_duration(v) if k in cls.DURATION_FIELDS else v for k, v in d.items()}
        if "to" in kw:
            kw["to"] = _pos(kw["to"])
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            if f.name in self.DURATION_FIELDS:
                value = S.format_duration(value)
            elif isinstance(value, tuple):
                value = [S.format_duration(v) for v in value]
            out[f.name] = value
        return out


@dataclass(frozen=True)
class Call(Action):
    """An off-network group call (TS 24.379 §10.2): ``speaker`` originates and talks first."""

    KEY: ClassVar[str] = "call"
    DURATION_FIELDS: ClassVar[tuple[str, ...]] = ("duration",)
    id: str
    group: str
    speaker: str
    duration: float = 10.0
    media: bool = True
    confirm: bool = False


@dataclass(frozen=True)
class Talk(Action):
    """``ue`` requests the floor in ``call`` (TS 24.380 cl. 7) and sends media for a while."""

    KEY: ClassVar[str] = "talk"
    DURATION_FIELDS: ClassVar[tuple[str, ...]] = ("duration",)
    call: str
    ue: str
    duration: float = 3.0


@dataclass(frozen=True)
class Move(Action):
    KEY: ClassVar[str] = "move"
    ue: str
    to: Position
    speed: float | None = None  # m/s; None = teleport

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", _pos(self.to))


@dataclass(frozen=True)
class LinkDown(Action):
    KEY: ClassVar[str] = "link_down"
    a: str
    b: str


@dataclass(frozen=True)
class LinkUp(Action):
    KEY: ClassVar[str] = "link_up"
    a: str
    b: str


@dataclass(frozen=True)
class AddMember(Action):
    KEY: ClassVar[str] = "add_member"
    group: str
    ue: str


@dataclass(frozen=True)
class RemoveMember(Action):
    KEY: ClassVar[str] = "remove_member"
    group: str
    ue: str


@dataclass(frozen=True)
class Rekey(Action):
    """The group's distributor sends a new GMK to the current members."""

    KEY: ClassVar[str] = "rekey"
    group: str


@dataclass(frozen=True)
class AttackStart(Action):
    KEY: ClassVar[str] = "attack_start"
    attacker: str


@dataclass(frozen=True)
class AttackStop(Action):
    KEY: ClassVar[str] = "attack_stop"
    attacker: str


@dataclass(frozen=True)
class Kill(Action):
    KEY: ClassVar[str] = "kill"
    ue: str


@dataclass(frozen=True)
class Discover(Action):
    """ProSe discovery (PROTOCOL.md §3): Model A announce or Model B solicit ``target``."""

    KEY: ClassVar[str] = "discover"
    ue: str
    model: str = "A"
    target: str | None = None


@dataclass(frozen=True)
class D2DLink(Action):
    """One-to-one direct link setup (TS 24.334 §10.4), ``a`` initiating, optionally ``via`` a
    relay."""

    KEY: ClassVar[str] = "d2d_link"
    a: str
    b: str
    via: str | None = None


@dataclass(frozen=True)
class CreateGroup(Action):
    """The group comes into existence: the ad-hoc creator or the manager distributes a GMK."""

    KEY: ClassVar[str] = "create_group"
    group: str


@dataclass(frozen=True)
class SetClock(Action):
    """``ue``'s clock steps to ``offset`` from true time (ADVERSARIAL.md I1: a resync with
    ``offset: 0s``, or a clock that jumps). Timers already armed keep their time."""

    KEY: ClassVar[str] = "set_clock"
    DURATION_FIELDS: ClassVar[tuple[str, ...]] = ("offset",)
    ue: str
    offset: float


ACTIONS: dict[str, type[Action]] = {
    cls.KEY: cls
    for cls in (Call, Talk, Move, LinkDown, LinkUp, AddMember, RemoveMember, Rekey, AttackStart,
                AttackStop, Kill, Discover, D2DLink, CreateGroup, SetClock)
}  # fmt: skip


@dataclass(frozen=True)
class At:
    at: float
    action: Action

    def to_dict(self) -> dict[str, Any]:
        return {"at": S.format_duration(self.at), self.action.KEY: self.action.to_dict()}


# --- expectations
@dataclass(frozen=True)
class Decrypt:
    """``ue`` must (or must not) decrypt the media of ``call`` / the traffic of ``group``."""

    ue: str
    must: bool
    call: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Figure:
    """A measured figure and its bound: ``metric op value`` (value in s, a fraction, or a
    count; ``unit`` is ``"s"``, ``"%"`` or ``""``)."""

    metric: str
    op: str
    value: float
    unit: str = ""

    @classmethod
    def parse(cls, metric: str, text: str) -> Figure:
        return cls(metric, *S.parse_figure(text))

    def to_yaml(self) -> str:
        if self.unit == "%":
            return f"{self.op} {S.format_percent(self.value)}"
        if self.unit == "s":
            shown = f"{S.decimal(self.value)}s" if self.value >= 1 else _ms(self.value)
            return f"{self.op} {shown}"
        return f"{self.op} {S.decimal(self.value)}"

    def holds(self, measured: float) -> bool:
        return {
            "<=": measured <= self.value, ">=": measured >= self.value,
            "<": measured < self.value, ">": measured > self.value,
            "==": measured == self.value,
        }[self.op]  # fmt: skip


@dataclass(frozen=True)
class Expect:
    decrypt: tuple[Decrypt, ...] = ()
    figures: tuple[Figure, ...] = ()
    zero_security_acceptances: bool = True
    invariants: bool = True

    def __post_init__(self) -> None:
        _freeze(self, "decrypt", "figures")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.decrypt:
            out["decrypt"] = [
                {"ue": d.ue, **({"call": d.call} if d.call else {"group": d.group}),
                 "must": d.must} for d in self.decrypt]  # fmt: skip
        if self.figures:
            out["figures"] = {f.metric: f.to_yaml() for f in self.figures}
        _put(out, "zero_security_acceptances", self.zero_security_acceptances, True)
        _put(out, "invariants", self.invariants, True)
        return out


# --- the scenario
@dataclass(frozen=True)
class Scenario:
    name: str
    duration: float
    description: str = ""
    seed: int = 0
    version: int = 1
    kms: Kms = Kms()
    network: Network | None = None
    ues: tuple[UE, ...] = ()
    groups: tuple[Group, ...] = ()
    medium: Medium = Medium()
    relays: tuple[Relay, ...] = ()
    attackers: tuple[Attacker, ...] = ()
    timeline: tuple[At, ...] = ()
    expect: Expect = Expect()
    source: str | None = field(default=None, compare=False)  # file it was loaded from

    def __post_init__(self) -> None:
        _freeze(self, "ues", "groups", "relays", "attackers")
        object.__setattr__(self, "timeline", tuple(sorted(_tup(self.timeline),
                                                          key=lambda e: e.at)))  # fmt: skip

    # lookups
    def ue(self, name: str) -> UE:
        return _find(self.ues, "name", name)

    def group(self, group_id: str) -> Group:
        return _find(self.groups, "id", group_id)

    def attacker(self, name: str) -> Attacker:
        return _find(self.attackers, "name", name)

    def relay(self, name: str) -> Relay:
        return _find(self.relays, "name", name)

    def calls(self) -> tuple[Call, ...]:
        return tuple(e.action for e in self.timeline if isinstance(e.action, Call))

    # conversions
    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> Scenario:
        """Validate plain data (as from YAML or JSON) and build the scenario.

        Raises :class:`prose_mesh.errors.ConfigError` naming the field(s) at fault."""
        from prose_mesh.scenario.loader import scenario_from_data

        return scenario_from_data(data, source=source)

    def to_dict(self) -> dict[str, Any]:
        """Plain data that the loader accepts and that loads back equal (UE sets expanded)."""
        out: dict[str, Any] = {"version": self.version, "name": self.name}
        _put(out, "description", self.description, "")
        out["seed"] = self.seed
        out["duration"] = S.format_duration(self.duration)
        kms = {k: S.format_duration(v) if k.startswith("key_period") else v
               for k, v in dataclasses.asdict(self.kms).items() if v is not None}  # fmt: skip
        out["kms"] = kms
        if self.network:
            out["network"] = {"name": self.network.name, "services": list(self.network.services)}
        out["ues"] = {u.name: u.to_dict() for u in self.ues}
        if self.groups:
            out["groups"] = {g.id: g.to_dict() for g in self.groups}
        out["medium"] = self.medium.to_dict()
        if self.relays:
            out["relays"] = {}
            for r in self.relays:
                d: dict[str, Any] = {"ue": r.ue, "kind": r.kind}
                _put(d, "relay_service_code", r.relay_service_code)
                _put(d, "upstream", r.upstream)
                if r.serves:
                    d["serves"] = list(r.serves)
                out["relays"][r.name] = d
        if self.attackers:
            out["attackers"] = {a.name: a.to_dict() for a in self.attackers}
        if self.timeline:
            out["timeline"] = [e.to_dict() for e in self.timeline]
        expect = self.expect.to_dict()
        if expect:
            out["expect"] = expect
        return out

    def to_yaml(self) -> str:
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        return yaml.dump(self.to_dict(), Dumper=dumper, sort_keys=False,
                         default_flow_style=None, allow_unicode=True, width=100)  # fmt: skip

    def validate(self) -> Scenario:
        """Run the loader's checks on a hand-built scenario; returns the normalised scenario."""
        return Scenario.from_dict(self.to_dict(), source=self.source or f"<{self.name}>")


def _find(items: tuple[Any, ...], attr: str, key: str) -> Any:
    for item in items:
        if getattr(item, attr) == key:
            return item
    raise KeyError(key)


def expand_template(template: str, name: str, index: int) -> str:
    """Substitute ``{name}``, ``{index}`` and ``{index:N}`` (zero-padded to N) — nothing else,
    so a template can never reach Python's format machinery."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) == "name":
            return name
        width = int(m.group(2) or 0)
        return str(index).zfill(width)

    return re.sub(r"\{(name|index)(?::([1-9]))?\}", sub, template)
