"""``safevlm safecot build``: SafeCoT training data (see :mod:`safevlm.methods.safecot.build`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from safevlm.cli.common import DataRootOpt, SpecOpt, console, friendly_errors
from safevlm.progress import progress_bar

app = typer.Typer(help="SafeCoT: chain-of-thought refusal data (docs/methods.md).", no_args_is_help=True)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@app.command("build")
@friendly_errors
def build_cmd(
    variant: Annotated[str, typer.Option("--variant", help="v0 (bare refusal) | v1 (category reason + refusal) | "
                                         "v2 (teacher explanation + refusal).")],
    unsafe: Annotated[list[str], typer.Option("--unsafe", help="Benchmarks whose refuse/safe_complete items get "
                                              "refusal targets: NAME[:VARIANT][,...] (repeatable).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    general: Annotated[list[str] | None, typer.Option("--general", help="Benchmarks whose comply items with a "
                                                         "reference answer are mixed in (repeatable).")] = None,
    ratio: Annotated[str, typer.Option("--ratio", help="unsafe:general items.")] = "1:1",
    teacher: Annotated[str | None, typer.Option("--teacher", help="v2: 'oracle' (gym truth) or a model spec "
                                                   "(hf:PATH, openai:URL#MODEL, mock:...).")] = None,
    templates: Annotated[list[Path] | None, typer.Option("--templates", help="Your template YAML, merged over "
                                                            "the shipped one (repeatable).")] = None,
    prompt_wrapper: Annotated[str, typer.Option("--prompt-wrapper", help="safecot (paper layout), none, or a "
                                                "template with {question}.")] = "safecot",
    max_unsafe: Annotated[int | None, typer.Option("--max-unsafe", min=1, help="Use a seeded subset of at most "
                                                      "N unsafe items.")] = None,
    holdout: Annotated[float, typer.Option("--holdout", min=0.0, max=0.99, help="Share held out as "
                                           "heldout.jsonl.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    copy_images: Annotated[bool, typer.Option("--copy-images", help="Copy on-disk images into OUT/images (default: "
                                              "reference them by absolute path).")] = False,
    on_missing_image: Annotated[list[str] | None, typer.Option("--on-missing-image", help="Items whose images are "
                                                                  "not on disk: skip (default) | text_only | error, "
                                                                  "for every benchmark or as BENCH=POLICY "
                                                                  "(repeatable), e.g. vlguard=text_only.")] = None,
    data_root: DataRootOpt = None, spec: SpecOpt = None,
):
    """Build a SafeCoT SFT set: chat JSONL + images + data card (README.md, data_card.json)."""
    from safevlm.methods.safecot.build import BuildConfig, build

    cfg = BuildConfig(variant=variant, unsafe=_split(unsafe), general=_split(general), ratio=ratio, teacher=teacher,
                      templates=[str(t) for t in templates or []], prompt_wrapper=prompt_wrapper, seed=seed,
                      max_unsafe=max_unsafe, holdout=holdout, copy_images=copy_images,
                      on_missing_image=on_missing_image or None,
                      data_root=str(data_root) if data_root else None, extra_specs=[str(p) for p in spec or []])
    with progress_bar(console=console, rate=False, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        card = build(cfg, out, progress=progress)
    c = card["counts"]
    console.print(f"[bold]SafeCoT {variant}[/]: {c['unsafe']} unsafe + {c['general']} general = {c['total']} "
                  f"({c['train']} train, {c['heldout']} held out) in {out}")
    if c["teacher_rejected"]:
        console.print(f"[yellow]{c['teacher_rejected']} teacher explanation(s) failed validation and were dropped[/]: "
                      + ", ".join(f"{k} ({v})" for k, v in card["rejected_reasons"].items())
                      + f"; see {out / 'rejected.jsonl'}")
    if c["general"] < c["general_wanted"]:
        console.print(f"[yellow]only {c['general']} general items available for the {ratio} ratio "
                      f"(wanted {c['general_wanted']})[/]")
    for ref, n in c["skipped_missing_images"].items():
        console.print(f"[yellow]{ref}: {n} items skipped, their images are not on disk "
                      f"(--on-missing-image {ref.partition(':')[0]}=text_only keeps them without)[/]", highlight=False)
    for ref, n in c["kept_text_only"].items():
        console.print(f"[yellow]{ref}: {n} items kept without their images[/]", highlight=False)
    console.print(f"data card: {out / 'README.md'}")
