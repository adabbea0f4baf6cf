"""prose_mesh.crypto (see ARCHITECTURE.md, Layout)."""
