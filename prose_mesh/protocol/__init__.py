"""prose_mesh.protocol (see ARCHITECTURE.md, Layout)."""
