"""The webui's prompt language: extra-network tags, emphasis, chunks, scheduling (pure Python)."""
