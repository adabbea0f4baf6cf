"""The userspace radio medium (ARCHITECTURE.md decision 2): who hears whom, netem-style
impairments, airtime, the air capture and the event log that is a run's ground truth.

Public surface::

    open_air(backend="memory"|"netns"|"auto", seed=0, session=None, capture=None,
             *, range_m=None, path_loss=None, debug_names=False)  -> async context of Air
    Air.attach(name, position=None, *, attack=None) -> Radio
    Air.attach_many(names, positions=None, *, attack=None) -> list[Radio]
    Air.detach(name); Air.medium (a Medium); Air.radios; Air.summary()
    Radio.send(frame: bytes); Radio.receive() -> bytes; Radio.mac; async for frame in radio
    Medium: set_link / set_default / connect / disconnect / link_down / link_up / move /
            set_range / set_path_loss / leave_coverage / enter_coverage / set_capacity /
            mark_attacker / reset_impairments / hears / counters / totals
    LinkParams, GilbertElliott, PathLoss; Session(root, run_id, scenario=, seed=, capture=)
"""

from prose_mesh.medium.air import Air, FrameRefused, Radio, open_air
from prose_mesh.medium.core import Delivery, Medium, PairCount
from prose_mesh.medium.params import GilbertElliott, LinkParams, PathLoss
from prose_mesh.medium.session import Session

__all__ = [
    "Air",
    "Delivery",
    "FrameRefused",
    "GilbertElliott",
    "LinkParams",
    "Medium",
    "PairCount",
    "PathLoss",
    "Radio",
    "Session",
    "open_air",
]
