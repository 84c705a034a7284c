"""Guard models as judges (docs/judges.md, "Guard-model judges"): each family's input format and parser
(:mod:`.formats`), how a checkpoint runs (:mod:`.run`) and the judge (:mod:`.judge`)."""

from safevlm.judges.guards.formats import FORMATS, GuardFormat, GuardItem, GuardParseError, Reading

__all__ = ["FORMATS", "GuardFormat", "GuardItem", "GuardParseError", "Reading"]
