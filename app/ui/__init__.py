"""The Qt window. Never imports torch, diffusers or app.engine."""
