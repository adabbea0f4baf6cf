"""prose_mesh.attack (see ARCHITECTURE.md, Layout)."""
