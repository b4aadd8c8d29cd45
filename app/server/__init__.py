"""Easel as a server: AUTOMATIC1111's ``/sdapi/v1`` API (and OpenAI's images endpoint) on the
same engine, request type, queue and gallery as the window. An optional extra (``server``):
FastAPI is imported only by ``python -m app serve``, never by the window or the installers.
"""
