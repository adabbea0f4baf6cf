"""prose_mesh.wire (see ARCHITECTURE.md, Layout)."""
