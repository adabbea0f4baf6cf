"""Network namespaces, veths and in-namespace sockets for prose_mesh (ARCHITECTURE.md §3).

* :class:`netns.fabric.Fabric` - a run's medium namespace plus one namespace per UE, each with
  loopback up and a veth ``pc5`` whose far end sits in the medium namespace;
* :mod:`netns.namespace` - anonymous namespaces held by fds, work done inside them
  (``run_in``/``in_fresh_thread``), privilege and fd-limit checks;
* :mod:`netns.clean` - removal of named (``pm-``) debug namespaces.
"""
