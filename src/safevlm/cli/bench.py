"""``safevlm bench``: list, show and export benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.panel import Panel

from safevlm.bench import load_benchmark
from safevlm.bench.inventory import summarise
from safevlm.cli.common import DataRootOpt, SpecOpt, console, friendly_errors
from safevlm.data.jsonl import write_samples
from safevlm.progress import status
from safevlm.report.terminal import inventory_table

app = typer.Typer(help="Benchmarks in their native formats: list, show, export.", no_args_is_help=True)


@app.command("list")
@friendly_errors
def list_cmd(data_root: DataRootOpt = None, spec: SpecOpt = None,
             as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON list.")] = False):
    """Every registered benchmark variant with item counts, images on disk and behaviour mix."""
    with status("counting items...", enabled=not as_json):
        rows = summarise(data_root, spec)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        console.print(inventory_table(rows))



@app.command("show")
@friendly_errors
def show_cmd(name: Annotated[str, typer.Argument(help="NAME or NAME:VARIANT")],
             n: Annotated[int, typer.Option("--n", help="How many samples.")] = 3,
             data_root: DataRootOpt = None, spec: SpecOpt = None):
    """Print a few samples, readably (items without images are shown text-only)."""
    res = load_benchmark(name, data_root=data_root, on_missing_image="text_only", limit=n, extra_specs=spec)
    console.print(f"[bold]{res.uid}[/]: {res.total} items, {res.with_images} with images")
    for s in res.samples:
        body = [f"[bold]expected:[/] {s.expected.value}    [bold]category:[/] {s.category} -> {s.risk_category}"]
        body.append(f"[bold]images:[/] {', '.join(r.path or '<rendered>' for r in s.images) or 'none'}")
        if s.metadata.get("images_missing"):
            body.append(f"[yellow]image not on disk:[/] {s.metadata['images_missing'][0]}")
        body.append(f"[bold]text:[/] {s.text}")
        if s.choices:
            body += [f"  {k}. {v[:150]}" for k, v in s.choices.items()]
        if s.answer:
            body.append(f"[bold]answer:[/] {s.answer}")
        if s.reference:
            body.append(f"[bold]reference:[/] {s.reference[:300]}")
        console.print(Panel("\n".join(body), title=s.uid, title_align="left", highlight=False))


@app.command("export")
@friendly_errors
def export_cmd(name: Annotated[str, typer.Argument(help="NAME or NAME:VARIANT")],
               out: Annotated[Path, typer.Option("--out", help="Output JSONL file.")],
               text_only: Annotated[bool, typer.Option("--text-only", help="Keep items whose images are missing, without images.")] = False,
               copy_images: Annotated[bool, typer.Option("--copy-images", help="Copy images next to the JSONL.")] = False,
               limit: Annotated[Optional[int], typer.Option(help="At most this many samples.")] = None,
               data_root: DataRootOpt = None, spec: SpecOpt = None):
    """Write a benchmark as sample JSONL (images by path relative to the file)."""
    res = load_benchmark(name, data_root=data_root, on_missing_image="text_only" if text_only else "skip",
                         limit=limit, extra_specs=spec)
    n = write_samples(res.samples, out, copy_images=copy_images)
    msg = f"wrote {n} samples of {res.uid} to {out}"
    if res.skipped_missing_images:
        msg += f" ([yellow]{res.skipped_missing_images} skipped: images not on disk; --text-only keeps them[/])"
    console.print(msg, soft_wrap=True)
