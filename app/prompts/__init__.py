"""The webui's prompt language in pure Python (no torch): emphasis, BREAK, prompt editing."""
