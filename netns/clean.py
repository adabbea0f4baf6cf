"""Remove what debug runs left behind: only /run/netns entries carrying the ``pm-`` prefix.

Anonymous namespaces (the default) need no cleaning - the kernel reclaims them when the
emulator exits. Named ones (``debug_names``) are bind mounts that outlive the process; removing
the mount drops the last reference, and the kernel then deletes the namespace and its veths.
"""

from __future__ import annotations

import os

from netns.namespace import NS_PREFIX, RUN_NETNS, unpublish


def leftovers(run_netns: str = RUN_NETNS) -> list[str]:
    """Names under /run/netns that prose_mesh made (the ``pm-`` prefix), sorted."""
    try:
        names = os.listdir(run_netns)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(NS_PREFIX))


def clean(run_netns: str = RUN_NETNS) -> list[str]:
    """Unmount and remove every ``pm-`` namespace; return the names removed."""
    removed = []
    for name in leftovers(run_netns):
        unpublish(os.path.join(run_netns, name))
        removed.append(name)
    return removed
