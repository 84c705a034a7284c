"""``safevlm generate | chat | serve``: run a model on samples, one prompt, or as a server; and
``safevlm models tiny``: a tiny random-weight checkpoint of a supported family.

Thin wrappers: parsing and printing here, the work in :mod:`safevlm.backends`,
:mod:`safevlm.serve` and :mod:`safevlm.models`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from safevlm.backends import Backend, GenerationParams, load_backend
from safevlm.backends.base import DEFAULT_MAX_NEW_TOKENS, MAX_FAILED_SHARE
from safevlm.cli.common import (
    MODEL_SPECS_HELP,
    WORK_FAILED,
    DataRootOpt,
    GuardFailOpenOpt,
    RequestTimeoutOpt,
    RetriesOpt,
    SpecOpt,
    console,
    err_console,
    friendly_errors,
    remote_options,
)
from safevlm.data.sample import Sample
from safevlm.errors import ConfigError
from safevlm.progress import progress_bar

ModelOpt = Annotated[str, typer.Option("--model", "-m", help=MODEL_SPECS_HELP + ".")]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", help="Samples per generate call (hf) or requests in "
                                                 "flight (openai).", min=1)]
ImageSideOpt = Annotated[int | None, typer.Option("--max-image-side", help="Downscale images so no side exceeds "
                                                     "this many pixels.", min=1)]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="hf: auto, cpu, cuda, cuda:1...")]
DtypeOpt = Annotated[str | None, typer.Option("--dtype", help="hf: auto, float32, bfloat16, float16.")]
MaxNewOpt = Annotated[int, typer.Option("--max-new-tokens", help="Tokens to generate at most (the same default "
                                                                "in generate, chat, eval and serve).", min=1)]
TempOpt = Annotated[float, typer.Option("--temperature", help="0 = greedy.", min=0.0)]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Sampling seed.")]


def _backend(model: str, batch_size: int | None, max_image_side: int | None, device: str | None,
             dtype: str | None, **options) -> Backend:
    """``options``: :func:`~safevlm.cli.common.remote_options` (timeouts, retries, the guard's failure mode)."""
    if not model.startswith(("openai:", "mock:")):  # transformers' per-shard bars would break the spinner
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    with console.status(f"loading {model}...", spinner="dots"):
        backend = load_backend(model, batch_size=batch_size, max_image_side=max_image_side, device=device, dtype=dtype,
                               **options)
    try:
        backend.preflight()  # a server that is not there stops here, not after every request failed
    except BaseException:
        backend.close()
        raise
    return backend


def _samples(bench: str | None, input_: Path | None, limit: int | None, data_root: Path | None,
             spec: list[Path] | None) -> tuple[str, list[Sample]]:
    """``(source name for the records, samples)`` from a benchmark or a sample JSONL file."""
    if (bench is None) == (input_ is None):
        raise ConfigError("give exactly one of --bench NAME or --input FILE.jsonl")
    if bench is not None:
        from safevlm.bench import load_benchmark

        res = load_benchmark(bench, data_root=data_root, limit=limit, extra_specs=spec)
        return res.uid, res.samples
    from safevlm.data.jsonl import read_samples

    samples = []
    for s in read_samples(input_):
        if limit is not None and len(samples) >= limit:
            break
        samples.append(s)
    return f"input:{input_.name}", samples


@friendly_errors
def generate(model: ModelOpt,
             out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL, one line per sample.")],
             bench: Annotated[str | None, typer.Option("--bench", help="Benchmark NAME[:VARIANT].")] = None,
             input_: Annotated[Path | None, typer.Option("--input", "-i", help="Sample JSONL file.")] = None,
             limit: Annotated[int | None, typer.Option("--limit", help="At most this many samples.", min=1)] = None,
             batch_size: BatchOpt = None, max_new_tokens: MaxNewOpt = DEFAULT_MAX_NEW_TOKENS,
             temperature: TempOpt = 0.0, seed: SeedOpt = None, max_image_side: ImageSideOpt = None,
             device: DeviceOpt = None, dtype: DtypeOpt = None, request_timeout: RequestTimeoutOpt = None,
             retries: RetriesOpt = None, guard_fail_open: GuardFailOpenOpt = False, data_root: DataRootOpt = None,
             spec: SpecOpt = None,
             max_failed_share: Annotated[float, typer.Option("--max-failed-share", help="Exit 1 when more than this "
                                                             "share of the generations failed.", min=0.0,
                                                             max=1.0)] = MAX_FAILED_SHARE):
    """Generate a response for every sample of a benchmark or a JSONL file.

    Each output line is a run record (the shape of a run's samples.jsonl, without
    verdicts), so `safevlm judge --input` scores it with any judge.
    """
    from safevlm import config as sv_config
    from safevlm.eval.responses import generate as generate_responses

    source, samples = _samples(bench, input_, limit, data_root, spec)
    root = sv_config.data_root(data_root)
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    backend = _backend(model, batch_size, max_image_side, device, dtype,
                       **remote_options(request_timeout, retries, guard_fail_open))
    chunk = max(batch_size or 8, 1) * 4  # write (and flush) every few batches: a crash keeps what was done
    with backend, progress_bar(console=err_console) as bar:
        task = bar.add_task("generating", total=len(samples))
        res = generate_responses(backend, samples, out, source=source, params=params, data_root=root, chunk=chunk,
                                 progress=lambda n: bar.advance(task, n))
        elapsed = bar.tasks[0].elapsed or 0.0
    errors, tokens, first_error = res.failed, res.tokens, res.first_error
    msg = f"wrote {len(samples)} responses to {out} ({tokens} tokens in {elapsed:.1f} s)"
    if errors:
        msg += f"; [yellow]{errors} failed (see the 'error' field)[/]"
    console.print(msg, highlight=False)
    if samples and errors / len(samples) > max_failed_share:
        err_console.print(f"[bold red]error:[/] {errors} of {len(samples)} generations failed, more than the "
                          f"{max_failed_share:.0%} allowed (--max-failed-share); first: {escape(first_error or '')}",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(WORK_FAILED)


@friendly_errors
def chat(text: Annotated[str, typer.Argument(help="The user's message.")], model: ModelOpt = "gym",
         image: Annotated[list[Path] | None, typer.Option("--image", help="Image file (repeatable).")] = None,
         system: Annotated[str | None, typer.Option("--system", help="System prompt.")] = None,
         max_new_tokens: MaxNewOpt = DEFAULT_MAX_NEW_TOKENS, temperature: TempOpt = 0.0, seed: SeedOpt = None,
         max_image_side: ImageSideOpt = None, device: DeviceOpt = None, dtype: DtypeOpt = None,
         request_timeout: RequestTimeoutOpt = None, retries: RetriesOpt = None,
         guard_fail_open: GuardFailOpenOpt = False):
    """Ask a model one question (with images) and print its answer."""
    from safevlm.backends.base import SYSTEM_PROMPT_KEY
    from safevlm.data.sample import check_image

    for p in image or []:
        check_image(p)
    sample = Sample(id="chat", source="chat", text=text, images=[str(p) for p in image or []], expected="comply",
                    metadata={SYSTEM_PROMPT_KEY: system} if system else {})
    with _backend(model, None, max_image_side, device, dtype,
                  **remote_options(request_timeout, retries, guard_fail_open)) as backend:
        gen = backend.generate([sample], GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed))[0]
    if gen.error:
        err_console.print(f"[bold red]error:[/] {gen.error}", highlight=False)
        raise typer.Exit(1)
    guard = gen.extra.get("guard")
    if guard:  # what the guard in front of the model did, on stderr so stdout stays the answer
        what = {"refuse": f"refused: the rewriter failed ({guard['fallback_reason']})",
                "original": f"failed open: sent your prompt unrewritten ({guard['fallback_reason']})",
                "unchanged": "kept your prompt as it is"}.get(guard.get("action"),
                                                               f"rewrote your prompt to: {guard['rewrite']}")
        err_console.print(f"[dim]guard {what}[/]", highlight=False)
    console.print(gen.text, highlight=False, markup=False)
    err_console.print(f"[dim]{gen.prompt_tokens} prompt + {gen.completion_tokens} completion tokens, "
                      f"{gen.latency_s:.2f} s, finish: {gen.finish_reason}[/]")


@friendly_errors
def serve(model: ModelOpt = "gym",
          host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8000,
          served_name: Annotated[str | None, typer.Option("--served-name", help="Model name clients send "
                                                             "(default: derived from --model).")] = None,
          api_key: Annotated[list[str] | None, typer.Option("--api-key", envvar="SAFEVLM_API_KEY", show_default=False,
                                                            help="Require 'Authorization: Bearer KEY' on every "
                                                                 "path but /health (repeatable).")] = None,
          allow_host: Annotated[list[str] | None, typer.Option("--allow-host", help="Accepted Host header name "
                                                               "(repeatable; '*' any). Default: loopback names "
                                                               "when --host is loopback, else any.")] = None,
          max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Default when a request gives no "
                                                      "max_tokens.", min=1)] = DEFAULT_MAX_NEW_TOKENS,
          max_tokens_limit: Annotated[int, typer.Option("--max-tokens-limit", help="Largest max_tokens a request "
                                                        "may ask for.", min=1)] = 2048,
          max_batch: Annotated[int | None, typer.Option("--max-batch", help="Requests generated together at most "
                                                        "(default: --batch-size, else 8).", min=1)] = None,
          batch_wait_ms: Annotated[float, typer.Option("--batch-wait-ms", help="How long an idle model waits for "
                                                       "more requests to batch.", min=0.0)] = 5.0,
          max_queue: Annotated[int, typer.Option("--max-queue", help="Requests waiting at most; more get 429.",
                                                 min=1)] = 256,
          timeout: Annotated[float, typer.Option("--timeout", help="Seconds a request may take in all (then 504).",
                                                 min=0.1)] = 120.0,
          max_body_mb: Annotated[float, typer.Option("--max-body-mb", help="Largest request body in MiB (then "
                                                     "413).", min=0.001)] = 20.0,
          max_image_pixels: Annotated[int, typer.Option("--max-image-pixels", help="Largest image (width x "
                                                        "height) accepted.", min=1)] = 16_000_000,
          max_image_side: Annotated[int, typer.Option("--max-image-side", help="Shrink images on arrival so no "
                                                      "side exceeds this many pixels.", min=1)] = 2048,
          image_budget_mb: Annotated[float, typer.Option("--image-budget-mb", help="Decoded image memory in flight "
                                                         "across all requests, in MiB (more waits, then 503).",
                                                         min=1.0)] = 1024.0,
          expose_guard_report: Annotated[bool, typer.Option("--expose-guard-report", help="Return a guard's report "
                                                            "and rewrite to clients in the 'safevlm' field (off: "
                                                            "it would guide adaptive attacks).")] = False,
          batch_size: BatchOpt = None, device: DeviceOpt = None,
          dtype: DtypeOpt = None, request_timeout: RequestTimeoutOpt = None, retries: RetriesOpt = None,
          guard_fail_open: GuardFailOpenOpt = False):
    """Serve a model as an OpenAI-compatible endpoint (/v1/chat/completions, /v1/models, /health, /metrics).

    Concurrent requests are batched; limits answer with clear 4xx errors; one JSON
    log line per request goes to stderr.
    """
    from safevlm.serve import ServeLimits, create_app
    from safevlm.serve import serve as run_server
    from safevlm.serve.gate import LOOPBACK_HOSTS

    if max_new_tokens > max_tokens_limit:
        raise ConfigError(f"--max-new-tokens {max_new_tokens} is above --max-tokens-limit {max_tokens_limit}")
    budget = int(image_budget_mb * 2**20)
    limits = ServeLimits(max_body_bytes=int(max_body_mb * 2**20), max_image_pixels=max_image_pixels,
                         default_max_tokens=max_new_tokens, max_tokens=max_tokens_limit,
                         max_batch=max_batch or batch_size or 8, batch_wait_s=batch_wait_ms / 1000,
                         max_queue=max_queue, timeout_s=timeout, max_image_side=max_image_side,
                         image_budget_bytes=budget, max_decoded_bytes=min(ServeLimits.max_decoded_bytes, budget // 4))
    loopback = host in ("127.0.0.1", "localhost", "::1")
    hosts = allow_host or (list(LOOPBACK_HOSTS) if loopback else ["*"])
    name = served_name or _served_name(model)
    backend = _backend(model, batch_size or limits.max_batch, None, device, dtype,  # images arrive shrunk
                       **remote_options(request_timeout, retries, guard_fail_open))
    app = create_app(backend, model_name=name, limits=limits, api_keys=api_key or [], allowed_hosts=hosts,
                     expose_extra=expose_guard_report)
    console.print(f"serving [bold]{backend.name}[/] as [bold]{name}[/] on http://{host}:{port}/v1 "
                  f"({'API key required' if api_key else 'no API key'})", highlight=False)
    if not api_key and not loopback:
        err_console.print(f"[yellow]warning: listening on {host} without an API key: anyone who can reach this "
                          "port can use the model (set --api-key or SAFEVLM_API_KEY)[/]", highlight=False)
    run_server(app, host=host, port=port)


def _served_name(spec: str) -> str:
    kind, _, rest = spec.partition(":")
    if kind == "hf":
        return Path(rest.rstrip("/")).name or rest
    if kind == "openai":
        return rest.partition("#")[2] or spec
    return spec


app = typer.Typer(help="Model checkpoints: a tiny random-weight one of any supported family, for trying commands "
                       "in seconds.", no_args_is_help=True)


@app.command("tiny")
@friendly_errors
def tiny(family: Annotated[str, typer.Option("--family", help="A supported family (docs/models.md): "
                                             "qwen2_vl, qwen2_5_vl, qwen3_vl, smolvlm, llava, llava_next, mllama, "
                                             "gemma3, internvl, pixtral.")] = "qwen2_5_vl",
         out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the checkpoint (then --model hf:OUT).")]
         = Path("tiny-vlm"),
         seed: Annotated[int, typer.Option("--seed", help="Weight seed: the same seed gives the same model.")] = 0):
    """Write a tiny random-weight checkpoint of a real architecture (about a megabyte): it runs every command
    (eval, train sft, merge, serve) offline, answering gibberish; for trying the tools, not for results."""
    from transformers.utils import logging as hf_logging

    from safevlm.models import FAMILIES, build_tiny_vlm, save_vlm

    hf_logging.disable_progress_bar()  # its shard-writing bar would break the spinner

    if family not in FAMILIES:
        import difflib

        close = difflib.get_close_matches(family, list(FAMILIES), n=1)
        raise ConfigError(f"unknown family {family!r}{f' (did you mean {close[0]!r}?)' if close else ''}; "
                          f"choose one of {', '.join(FAMILIES)}")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; give a new --out")
    with console.status(f"building a tiny {family}...", spinner="dots"):
        model, processor = build_tiny_vlm(family, seed=seed)
        path = save_vlm(model, processor, out)
    n = sum(p.numel() for p in model.parameters())
    console.print(f"tiny {family} ({n / 1e6:.2f} M parameters, random weights) written to {path}; use it as "
                  f"--model hf:{path}", highlight=False)
