"""Anonymous network namespaces held by file descriptors, and work done inside them.

ARCHITECTURE.md decision 3: a namespace lives as long as some fd (or process, or bind mount)
refers to it. The emulator holds one fd per namespace and nothing else, so if it dies - even by
SIGKILL - the kernel reclaims every namespace, veth and socket. Namespace switches are per
thread, so each piece of work runs in a fresh thread that exits afterwards: no thread is ever
left sitting in the wrong namespace, and the caller's namespace is never touched.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from netns import _netlink, _sys
from prose_mesh.errors import EnvironmentProblem

T = TypeVar("T")

NS_PREFIX = "pm-"
RUN_NETNS = "/run/netns"
_CAP_NET_ADMIN = 12


def in_fresh_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a new OS thread and return (or raise) its result.

    The thread may switch namespaces freely: it ends with ``fn`` so the switch dies with it.
    """
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="netns-worker", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def run_in(fd: int, fn: Callable[[], T]) -> T:
    """Run ``fn`` with its thread inside the namespace ``fd`` (sockets it opens stay there)."""

    def inside() -> T:
        _sys.setns_net(fd)
        return fn()

    return in_fresh_thread(inside)


def check_privileges() -> None:
    """Raise EnvironmentProblem unless we are root or hold CAP_NET_ADMIN."""
    if os.geteuid() == 0:
        return
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("CapEff:") and int(line.split()[1], 16) >> _CAP_NET_ADMIN & 1:
                    return
    except OSError:
        pass
    raise EnvironmentProblem(
        "network namespaces need root or CAP_NET_ADMIN; run with sudo, grant it with "
        "`setcap cap_net_admin,cap_sys_admin+ep` on the interpreter, or use backend='memory'",
        reason="NO_CAP_NET_ADMIN",
    )


def ensure_fd_budget(needed: int) -> None:
    """Make room for ``needed`` more fds: raise the soft RLIMIT_NOFILE or explain how to."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 64
    want = in_use + needed + 64
    if want <= soft:
        return
    if hard == resource.RLIM_INFINITY or want <= hard:
        new_soft = want if hard == resource.RLIM_INFINITY else min(hard, max(want, 2 * soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
        return
    raise EnvironmentProblem(
        f"{needed} more file descriptors are needed ({in_use} in use) but the hard limit is "
        f"{hard}; raise it with `ulimit -Hn {want}` (as root) or LimitNOFILE= in a systemd unit",
        reason="TOO_MANY_OPEN_FILES",
    )


class Namespace:
    """One anonymous network namespace, alive while ``fd`` is open (or while bind-mounted)."""

    __slots__ = ("fd", "mount_path", "name")

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name
        self.mount_path: str | None = None

    def run(self, fn: Callable[[], T]) -> T:
        return run_in(self.fd, fn)

    def publish(self, debug_name: str) -> None:
        """Bind-mount under /run/netns/<debug_name> so `ip netns exec` and tcpdump work.

        The mount keeps the namespace alive after the process dies; `prose-mesh clean` removes
        it. Only names with the project prefix are accepted, so clean can find them.
        """
        if not debug_name.startswith(NS_PREFIX) or "/" in debug_name:
            raise EnvironmentProblem(f"debug namespace names must start with {NS_PREFIX!r}")
        os.makedirs(RUN_NETNS, exist_ok=True)
        path = os.path.join(RUN_NETNS, debug_name)
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
        except FileExistsError:
            raise EnvironmentProblem(
                f"{path} already exists (another run, or a leftover: `prose-mesh clean`)",
                reason="NAME_CLASH",
            ) from None
        try:
            _sys.bind_mount(f"/proc/self/fd/{self.fd}", path)
        except OSError:
            os.unlink(path)
            raise
        self.mount_path = path

    def close(self) -> None:
        if self.mount_path is not None:
            unpublish(self.mount_path)
            self.mount_path = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def unpublish(path: str) -> None:
    with contextlib.suppress(OSError):  # not a mount point (half-made): still remove the file
        _sys.umount_detach(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def create(
    names: Sequence[str], setup: Callable[[Namespace, _netlink.Rtnl], None] | None = None
) -> list[Namespace]:
    """Create one anonymous namespace per name, loopback up, each held by an fd of ours.

    ``setup(ns, rtnl)`` runs while the worker thread is still inside the new namespace, with a
    netlink socket of that namespace: one namespace switch per UE does all its work.
    """

    def work() -> list[Namespace]:
        made: list[Namespace] = []
        try:
            for name in names:
                _sys.unshare_net()
                fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                ns = Namespace(fd, name)
                made.append(ns)
                with _netlink.Rtnl() as nl:
                    nl.run_checked([_netlink.set_up(1)], "loopback up")
                    if setup is not None:
                        setup(ns, nl)
        except BaseException:
            for ns in made:
                ns.close()
            raise
        return made

    return in_fresh_thread(work)
