"""Network namespaces, veths and in-namespace sockets for prose_mesh (see ARCHITECTURE.md §3)."""
