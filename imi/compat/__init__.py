"""Foreign dialects (the v2 contract's names and shapes), shared by every adapter."""
