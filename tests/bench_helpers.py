"""A user benchmark in the smallest form a test needs: CSV rows plus a YAML spec (shared by the spec tests)."""

from __future__ import annotations

from pathlib import Path

CSV_SPEC = """
name: mine
root: {root}
variants:
  default:
    file: items.csv
    id: "{{id}}"
    text: "{{prompt}}"
    image: "{{image}}"
    expected: {{from: "{{label}}", map: {{safe: comply, unsafe: refuse}}}}
"""


def write_csv_benchmark(tmp_path: Path, rows: str, extra: str = "",
                        images: dict[str, bytes] | None = None) -> tuple[Path, Path]:
    """``rows`` (``id,prompt,image,label`` lines) in ``tmp_path/data``, the spec in ``tmp_path/specs/mine.yaml``
    (``extra`` appended); ``images`` are written beside the rows. Returns (data root, spec file)."""
    root = tmp_path / "data"
    root.mkdir(exist_ok=True)
    (root / "items.csv").write_text("id,prompt,image,label\n" + rows)
    for name, data in (images or {}).items():
        (root / name).write_bytes(data)
    spec = tmp_path / "specs" / "mine.yaml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(CSV_SPEC.format(root=root) + extra)
    return root, spec
