"""The webui's prompt language in pure Python (no torch): emphasis, BREAK, prompt editing,
and its extra-network tags (<lora:...>)."""
