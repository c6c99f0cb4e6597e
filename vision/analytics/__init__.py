"""Per-camera analytics: zones and counting lines, incident rules, video-quality diagnosis."""
