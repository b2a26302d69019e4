"""One table, four files: markdown, CSV, LaTeX (booktabs) and a standalone HTML page.

A `Table` holds string cells only; every writer of tables (metric, shot, published,
comparison and ablation tables) builds one and renders it through `RENDERERS`.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field

FORMATS = (".md", ".csv", ".tex", ".html")


@dataclass
class Table:
    """A rendered-ready table: string cells, optional spanning headers (LaTeX/HTML), notes under it."""

    caption: str
    header: list[str]
    rows: list[list[str]]
    spans: list[tuple[str, int]] | None = None
    notes: list[str] = field(default_factory=list)

    def flat_header(self) -> list[str]:
        """Column names for markdown and CSV: the spanning label joined to the column's own."""
        if not self.spans:
            return list(self.header)
        tops = [label for label, width in self.spans for _ in range(width)]
        return [f"{top} {name}".strip() for top, name in zip(tops, self.header)]


def to_markdown(table: Table) -> str:
    header = table.flat_header()
    lines = [f"**{table.caption}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    if table.notes:
        lines += [""] + [f"- {note}" for note in table.notes]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.flat_header())
    writer.writerows(table.rows)
    return buf.getvalue()


LATEX_ESCAPES = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def to_latex(table: Table) -> str:
    n = len(table.header)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(table.caption)}}}",
             rf"\begin{{tabular}}{{l{'c' * (n - 1)}}}", r"\toprule"]
    if table.spans:
        cells, rules, start = [], [], 1
        for label, width in table.spans:
            cells.append(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(label)}}}" if label and width > 1 else latex_escape(label))
            if label:
                rules.append(rf"\cmidrule(lr){{{start}-{start + width - 1}}}")
            start += width
        lines += [" & ".join(cells) + r" \\", " ".join(rules)]
    lines += [" & ".join(latex_escape(h) for h in table.header) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(v) for v in row) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [rf"\par\footnotesize {latex_escape(note)}" for note in table.notes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


HTML_STYLE = (
    "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
    "th,td{padding:.25em .7em;text-align:center}td:first-child{text-align:left}"
    "thead tr:last-child th{border-bottom:1px solid #333}table{border-top:2px solid #333;border-bottom:2px solid #333}"
    "caption{caption-side:top;font-weight:bold;padding-bottom:.5em;text-align:left}.notes{font-size:90%}"
)


def to_html(table: Table) -> str:
    """A standalone page: Snakemake's report shows HTML results inline."""
    e = html.escape
    head = []
    if table.spans:
        head.append("<tr>" + "".join(f'<th colspan="{w}">{e(label)}</th>' for label, w in table.spans) + "</tr>")
    head.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in table.header) + "</tr>")
    body = ["<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in table.rows]
    notes = "".join(f"<li>{e(n)}</li>" for n in table.notes)
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{e(table.caption)}</title>'
        f"<style>{HTML_STYLE}</style></head><body>\n<table><caption>{e(table.caption)}</caption>\n"
        f"<thead>{''.join(head)}</thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody></table>\n"
        + (f'<ul class="notes">{notes}</ul>\n' if notes else "") + "</body></html>\n"
    )


RENDERERS = {".md": to_markdown, ".csv": to_csv, ".tex": to_latex, ".html": to_html}
