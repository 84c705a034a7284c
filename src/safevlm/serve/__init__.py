"""Serve any backend as an OpenAI-compatible endpoint (``safevlm serve``)."""

from safevlm.serve.app import create_app
from safevlm.serve.limits import ServeLimits, request_to_sample
from safevlm.serve.server import ServerThread, free_port, serve

__all__ = ["ServeLimits", "ServerThread", "create_app", "free_port", "request_to_sample", "serve"]
