"""prose_mesh.node (see ARCHITECTURE.md, Layout)."""
