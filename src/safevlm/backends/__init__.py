"""Target-model backends behind one interface: samples in, :class:`Generation` out.

``load_backend("gym" | "hf:PATH" | "openai:URL#MODEL" | "mock:...")`` builds one;
implementations live in :mod:`.hf`, :mod:`.openai_compat` and :mod:`.mock` and are
imported only when used.
"""

from safevlm.backends.base import (
                                   SYSTEM_PROMPT_KEY,
                                   Backend,
                                   BackendError,
                                   Generation,
                                   GenerationParams,
                                   sample_messages,
)
from safevlm.backends.registry import SPEC_FORMS, load_backend

__all__ = ["SPEC_FORMS", "SYSTEM_PROMPT_KEY", "Backend", "BackendError", "Generation", "GenerationParams",
           "load_backend", "sample_messages"]
