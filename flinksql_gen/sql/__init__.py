"""SQL text primitives shared by every layer that writes SQL (models, plan, render, check)."""
