"""safevlm: safety alignment for vision-language models.

The pipeline (see README): benchmarks / gym -> samples -> [guard] -> target VLM ->
responses -> judges -> metrics and reports; samples -> SafeCoT / SaFeR-VLM / VLMGuard-R1
training. Every stage reads and writes files a person can open.
"""

__version__ = "0.1.0"

from safevlm.data.sample import Expected, ImageRef, Sample

__all__ = ["Expected", "ImageRef", "Sample", "__version__"]
