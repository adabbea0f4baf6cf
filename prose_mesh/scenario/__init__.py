"""prose_mesh.scenario (see ARCHITECTURE.md, Layout)."""
