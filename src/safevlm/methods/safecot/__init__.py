"""SafeCoT (arXiv 2506.08399; docs/methods.md, "SafeCoT"): minimal chain-of-thought supervision for refusals.

The pipeline, one module per step:

- :mod:`.prompt`: the prompt wrapper used in training and then in evaluation;
- :mod:`.templates`: v0 refusals, v1 per-category reasons and the suffixes (editable YAML);
- :mod:`.teacher`: v2 explanations from a teacher model (or the gym oracle), validated;
- :mod:`.build`: the SFT set (chat JSONL + images + data card), 1:1 with general data;
- training is :mod:`safevlm.train.sft` (TRL ``SFTTrainer``, assistant-only loss);
- the gym comparison (base vs v0 / v1 / v2, one report) is a recipe: :mod:`safevlm.recipes.safecot_gym`.

```python
from safevlm.methods.safecot import BuildConfig, build
card = build(BuildConfig("v1", unsafe=["mm-safetybench:typo"], general=["vlguard:train"]), "data/v1")
```
"""

from safevlm.data.prompts import PromptWrapper, get_wrapper
from safevlm.methods.safecot.build import BuildConfig, build
from safevlm.methods.safecot.templates import TemplateBook, load_templates

__all__ = ["BuildConfig", "PromptWrapper", "TemplateBook", "build", "get_wrapper", "load_templates"]
