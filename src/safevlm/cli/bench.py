"""``safevlm bench``: list, fetch, verify, show, export benchmarks; print the spec reference and the sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel

from safevlm import config
from safevlm.bench import load_benchmark
from safevlm.bench.inventory import summarise
from safevlm.cli.common import DataRootOpt, SpecOpt, TrustHooksOpt, console, err_console, friendly_errors
from safevlm.data.jsonl import write_samples
from safevlm.progress import status
from safevlm.report.terminal import inventory_table

app = typer.Typer(help="Benchmarks in their native formats: list, fetch, verify, show, export; the spec "
                  "reference and the sources.",
                  no_args_is_help=True)


@app.command("list")
@friendly_errors
def list_cmd(names: Annotated[list[str] | None, typer.Argument(help="Only these benchmarks (default: all).")] = None,
             data_root: DataRootOpt = None, spec: SpecOpt = None, trust_hooks: TrustHooksOpt = False,
             as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON list.")] = False):
    """Every registered benchmark variant with item counts, images on disk and behaviour mix.

    A benchmark not yet downloaded is one line with its fetch command; a variant that cannot
    be loaded (a missing file, a broken spec) is listed with the reason; the others are
    still counted. `*` marks the default variant (what a bare NAME means).
    """
    with status("counting items...", enabled=not as_json):
        rows = summarise(data_root, spec, [n.lower() for n in names or []] or None, trust_hooks=trust_hooks or None)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    root = config.data_root(data_root)
    if any(not r["fetch"] for r in rows):
        console.print(inventory_table(rows))
    missing = [r for r in rows if r["fetch"]]
    if missing:
        console.print(f"[bold]not fetched[/] (no folder under the data root; {len(missing)} of "
                      f"{len({r['name'] for r in rows})} benchmarks):", highlight=False)
        width = max(len(r["name"]) for r in missing)
        for r in missing:
            console.print(f"  {escape(r['name']):<{width}}  [cyan]{escape(r['fetch'])}[/]", soft_wrap=True,
                          highlight=False)
    where = "" if root.is_dir() else (" [yellow](not found: set SAFEVLM_DATA_ROOT, data_root in the config file, "
                                      "or --data-root; `safevlm bench fetch NAME` creates it)[/]")
    console.print(f"data root: {escape(str(root))}{where}", soft_wrap=True)
    for r in rows:
        if r["error"] or r["note"]:
            colour = "red" if r["error"] else "yellow"
            console.print(f"[{colour}]{escape(r['ref'])}[/]: {escape(r['error'] or r['note'])}", soft_wrap=True,
                          highlight=False)


@app.command("fetch")
@friendly_errors
def fetch_cmd(refs: Annotated[list[str], typer.Argument(help="NAME (every variant) or NAME:VARIANT (what that "
                                                         "variant reads), one or more.")],
              data_root: DataRootOpt = None, spec: SpecOpt = None,
              images: Annotated[bool, typer.Option("--images/--no-images", help="Also download the images "
                                                   "(--no-images: text only; the benchmark then runs "
                                                   "text-only).")] = True,
              protocol: Annotated[bool, typer.Option("--protocol/--no-protocol", help="Also read the authors' "
                                                     "scoring files into eval/protocol.json.")] = True):
    """Download benchmarks into the data root, verified against the hashes pinned in their specs.

    Resumes cut downloads, never replaces a good file by a bad one, and names the page to
    accept first for a gated set. Where the data comes from: docs/data.md
    (`safevlm bench sources`).
    """
    from safevlm.bench.fetch import fetch
    from safevlm.bench.registry import get_spec, parse_ref

    wanted: dict[str, list[str] | None] = {}
    for ref in refs:
        name, variant = parse_ref(ref)
        if variant in (None, "*"):
            wanted[name] = None
        elif wanted.get(name, []) is not None:
            wanted[name] = [*(wanted.get(name) or []), variant]
    for name, variants in wanted.items():
        bench = get_spec(name, spec)
        report = fetch(bench, variants, data_root=data_root, images=images, protocol=protocol)
        console.print(f"[bold]{escape(name)}[/] -> {escape(str(report.root))}", soft_wrap=True, highlight=False)
        for line in report.done:
            console.print(f"  [green]fetched[/] {escape(line)}", soft_wrap=True, highlight=False)
        if report.current:
            console.print(f"  up to date: {len(report.current)} (" + escape(", ".join(report.current)) + ")",
                          soft_wrap=True, highlight=False)
        for line in report.text_only:
            console.print(f"  [yellow]images not fetched[/] {escape(line)} (--no-images): runs text-only",
                          soft_wrap=True, highlight=False)
        for line in report.by_hand:
            console.print(f"  [yellow]images by hand[/] {escape(line)}", soft_wrap=True, highlight=False)


@app.command("verify")
@friendly_errors
def verify_cmd(names: Annotated[list[str] | None, typer.Argument(help="Only these benchmarks (default: every "
                                                                   "benchmark that records its sources).")] = None,
               data_root: DataRootOpt = None, spec: SpecOpt = None, trust_hooks: TrustHooksOpt = False):
    """Check files, item counts and the scoring protocol against the spec's pins, one line per benchmark.

    Exits 1 when anything differs, naming the file; a benchmark not fetched is said (and
    fails only when named).
    """
    from safevlm.bench.registry import get_spec, scan_specs
    from safevlm.bench.verify import verify

    if names:
        benches = [get_spec(n.lower(), spec) for n in names]
    else:
        benches = [s for _, s in sorted(scan_specs(spec).specs.items()) if s.sources is not None]
    failed = 0
    for bench in benches:
        v = verify(bench, data_root=data_root, trust_hooks=trust_hooks or None)
        bad = not v.ok and (v.present or bool(names))
        failed += bad
        tag = "[red]FAIL[/]" if bad else "[green]ok[/]  " if v.present else "[yellow]--[/]  "
        console.print(f"{tag} {escape(v.line())}", soft_wrap=True, highlight=False)
    if failed:
        err_console.print(f"[red]{failed} benchmark(s) differ from their specs[/]", highlight=False)
        raise typer.Exit(1)


@app.command("sources")
@friendly_errors
def sources_cmd(out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None):
    """Where each benchmark's data comes from (source, licence, size, images, gated, fetch command).

    docs/data.md is this command's output: `safevlm bench sources --out docs/data.md`.
    """
    from safevlm.bench.registry import BUILTIN_SPECS
    from safevlm.bench.sources import render_data_doc
    from safevlm.bench.spec import load_spec

    text = render_data_doc({s.name: s for s in map(load_spec, sorted(BUILTIN_SPECS.glob("*.yaml")))})
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {out}", highlight=False)


@app.command("show")
@friendly_errors
def show_cmd(name: Annotated[str, typer.Argument(help="NAME (its default variant) or NAME:VARIANT")],
             n: Annotated[int, typer.Option("--n", help="How many samples.")] = 3,
             data_root: DataRootOpt = None, spec: SpecOpt = None, trust_hooks: TrustHooksOpt = False):
    """Print a few samples with every field, readably (items without images are shown text-only)."""
    res = load_benchmark(name, data_root=data_root, on_missing_image="text_only", limit=n, extra_specs=spec,
                         trust_hooks=trust_hooks or None)
    console.print(f"[bold]{res.uid}[/]: {res.total} items, {res.with_images} with images")
    for s in res.samples:
        body = [f"[bold]expected:[/] {s.expected.value}    [bold]category:[/] {escape(str(s.category))} -> "
                f"{s.risk_category}" + (f"    [bold]group:[/] {escape(s.group)}" if s.group else "")]
        body.append(f"[bold]images:[/] {escape(', '.join(r.path or '<rendered>' for r in s.images) or 'none')}")
        if s.metadata.get("images_missing"):
            body.append(f"[yellow]image not on disk:[/] {escape(str(s.metadata['images_missing'][0]))}")
        body.append(f"[bold]text:[/] {escape(s.text)}")
        if s.choices:
            body += [f"  {escape(k)}. {escape(v[:150])}" for k, v in s.choices.items()]
        if s.answer:
            body.append(f"[bold]answer:[/] {escape(s.answer)}")
        if s.reference:
            body.append(f"[bold]reference:[/] {escape(s.reference[:300])}")
        meta = {k: v for k, v in s.metadata.items() if k != "images_missing"}
        if meta:
            body.append("[bold]metadata:[/]")
            body += [f"  {escape(k)}: {escape(_short(v))}" for k, v in meta.items()]
        console.print(Panel("\n".join(body), title=escape(s.uid), title_align="left", highlight=False))


def _short(value: object, width: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[:width] + "..."


@app.command("export")
@friendly_errors
def export_cmd(name: Annotated[str, typer.Argument(help="NAME (its default variant) or NAME:VARIANT")],
               out: Annotated[Path, typer.Option("--out", help="Output JSONL file.")],
               text_only: Annotated[bool, typer.Option("--text-only", help="Keep items whose images are missing, without images.")] = False,
               copy_images: Annotated[bool, typer.Option("--copy-images", help="Copy images next to the JSONL.")] = False,
               limit: Annotated[int | None, typer.Option(help="The first N samples.")] = None,
               data_root: DataRootOpt = None, spec: SpecOpt = None, trust_hooks: TrustHooksOpt = False):
    """Write a benchmark as sample JSONL (images by path relative to the file)."""
    res = load_benchmark(name, data_root=data_root, on_missing_image="text_only" if text_only else None,
                         limit=limit, extra_specs=spec, trust_hooks=trust_hooks or None)
    n = write_samples(res.samples, out, copy_images=copy_images)
    msg = f"wrote {n} samples of {res.uid} to {out}"
    if res.skipped_missing_images:
        msg += f" ([yellow]{res.skipped_missing_images} skipped: images not on disk; --text-only keeps them[/])"
    console.print(msg, soft_wrap=True)


@app.command("schema")
@friendly_errors
def schema_cmd(out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
               as_json: Annotated[bool, typer.Option("--json", help="The JSON Schema instead of the Markdown "
                                                     "reference.")] = False):
    """The benchmark spec reference (every field, type, default, example), generated from the schema.

    docs/benchmark-spec.md is this command's output: ``safevlm bench schema --out docs/benchmark-spec.md``.
    """
    from safevlm.bench.specdoc import json_schema, render_reference

    text = json.dumps(json_schema(), indent=2) + "\n" if as_json else render_reference()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {out}", highlight=False)
