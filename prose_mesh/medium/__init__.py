"""prose_mesh.medium (see ARCHITECTURE.md, Layout)."""
