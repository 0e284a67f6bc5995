"""The signed record of a run, written from its progress: `report.md`, `report.html`
(self-contained) and `junit.xml`.

Each step shows its command, output, verdict and note. A passing step's output is trimmed
to its head and tail; a failed step's output is kept whole, in every format."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from lucia_deploy.checklist.parse import Checklist, Step
from lucia_deploy.checklist.record import (
    FAILED,
    NOT_DONE,
    PASSED,
    SKIPPED,
    VERDICTS,
    Image,
    Record,
    Result,
    Summary,
    summarise,
)

HEAD_LINES, TAIL_LINES, MAX_CHARS = 20, 20, 4000
# Sign-off fields the tool fills from the run; the checklist's other fields are the
# tester's (asked at the end of an interactive run).
AUTOMATIC = ("tester", "date", "stack", "image", "overall", "failed")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    """Output as text any report can hold: no terminal colours, no characters XML 1.0
    forbids (a block printing \\x1b or \\x00 must not make the JUnit unreadable)."""
    return NOT_XML.sub("\ufffd", ANSI.sub("", text))


def trim(text: str, whole: bool) -> str:
    """The head and tail of a long output, saying how much was left out; whole when
    asked (a failed step)."""
    text = clean(text)
    if whole:
        return text
    lines = text.splitlines()
    if len(lines) > HEAD_LINES + TAIL_LINES:
        left = len(lines) - HEAD_LINES - TAIL_LINES
        lines = [*lines[:HEAD_LINES], f"… {left} lines trimmed (the step passed) …",
                 *lines[-TAIL_LINES:]]
    text = "\n".join(lines)
    if len(text) > MAX_CHARS:
        half = MAX_CHARS // 2
        text = (f"{text[:half]}\n… {len(text) - MAX_CHARS} characters trimmed (the step "
                f"passed) …\n{text[-half:]}")
    return text


def automatic(name: str) -> bool:
    return name.lower().startswith(AUTOMATIC)


def tester_fields(fields: list[str]) -> list[str]:
    return [name for name in fields if not automatic(name)]


@dataclass(frozen=True)
class Row:
    step: Step
    result: Result | None

    @property
    def verdict(self) -> str:
        return self.result.verdict if self.result else NOT_DONE

    @property
    def note(self) -> str:
        if self.result:
            return self.result.note
        return "not walked in this run"

    @property
    def output(self) -> str:
        if not self.result or not (self.result.command or self.result.output):
            return ""
        return trim(self.result.output, whole=self.verdict == FAILED) or "(no output)"


def rows(checklist: Checklist, record: Record) -> list[Row]:
    return [Row(step, record.result(step)) for step in checklist.steps]


def sign_off(checklist: Checklist, record: Record, summary: Summary) -> list[tuple[str, str]]:
    service = next((i for i in record.images if i.component == "service"), None)
    filled = {
        "tester": record.tester or "not signed: an automatic run",
        "date": record.updated[:10] if record.updated else record.started[:10],
        "stack": f"{record.stack} ({record.profile} profile)",
        "image": _image_line(service) if service else "unknown",
        "overall": summary.overall,
        "failed": ", ".join(summary.failed) or "none",
    }
    values = []
    for name in checklist.sign_off:
        key = next((k for k in AUTOMATIC if name.lower().startswith(k)), None)
        values.append((name, filled[key] if key else record.sign_off.get(name, "")))
    return values


def _image_line(image: Image) -> str:
    parts = [image.reference, image.image_id[:19] if image.image_id else
             f"id unknown ({image.problem})" if image.problem else "id unknown"]
    if image.version:
        parts.append(f"version {image.version}")
    if image.revision:
        parts.append(f"revision {image.revision}")
    return ", ".join(parts)


def _counts(summary: Summary) -> str:
    return ", ".join(f"{summary.counts[v]} {v}" for v in VERDICTS)


def _fence(text: str, info: str = "") -> str:
    """A markdown fence longer than any run of backticks in the text."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(checklist: Checklist, record: Record) -> str:
    summary = summarise(checklist.steps, record)
    out = [f"# Checklist run: {record.stack}, {record.started[:10]}", "",
           "| | |", "|---|---|",
           f"| Tester | {_cell(record.tester or 'not signed: an automatic run')} |",
           f"| Date | started {record.started}, last step {record.updated or record.started} |",
           f"| Stack | {record.stack}: the {record.profile} profile, because "
           f"{_cell(record.profile_why)} |",
           f"| Service URL | {record.url} |",
           f"| API key | {'set (not shown)' if record.api_key_set else 'not set'} |",
           f"| Mode | {record.mode} |",
           f"| Checklists | {', '.join(record.sources)} |", "",
           "## Deployed images", "",
           "| component | container | image | image id | version | revision | built |",
           "|---|---|---|---|---|---|---|"]
    for image in record.images:
        out.append(f"| {image.component} | {image.container} | {image.reference} | "
                   f"{image.image_id or _cell(image.problem)} | {image.version} | "
                   f"{image.revision} | {image.created[:19]} |")
    out += ["", "## Summary", "",
            f"**Overall: {summary.overall.upper()}**: {_counts(summary)} "
            f"(of {len(checklist.steps)} steps).", ""]
    if summary.failed:
        out += [f"Failed: {', '.join(summary.failed)}.", ""]
    out += ["| id | kind | verdict | note |", "|---|---|---|---|"]
    table = rows(checklist, record)
    for row in table:
        out.append(f"| [{row.step.id}](#{row.step.id.lower().replace('.', '')}) | "
                   f"{row.step.kind} | {row.verdict} | {_cell(row.note)} |")
    out += ["", "## Steps"]
    section = None
    for row in table:
        if row.step.section != section:
            section = row.step.section
            out += ["", f"### {section}"]
        out += ["", f"#### {row.step.id}", "",
                f"**{row.verdict.upper()}** · {row.step.kind} · "
                f"`{row.step.source}:{row.step.line}`", "",
                row.step.purpose, "", f"Pass: {row.step.criterion}", ""]
        if row.step.command:
            label = "Command" if row.step.runnable else "Helper command"
            out += [f"{label}:", "", _fence(row.step.command, "bash"), ""]
        if row.output:
            result = row.result
            assert result is not None
            whole = " (whole: the step failed)" if row.verdict == FAILED else ""
            out += [f"Output, exit {result.exit_code}, {result.seconds:.1f} s{whole}:", "",
                    _fence(row.output, "text"), ""]
        if row.note:
            out += [f"Note: {row.note}", ""]
    out += ["## Tester sign-off", "", "| field | value |", "|---|---|"]
    for name, value in sign_off(checklist, record, summary):
        out.append(f"| {name} | {_cell(value)} |")
    return "\n".join(out).rstrip() + "\n"


CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232b;
       max-width: 70rem; margin: 2rem auto; padding: 0 1.5rem; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; } h2 { border-bottom: 1px solid #d7dce2;
     padding-bottom: .2rem; margin-top: 2rem; } h3 { margin-top: 1.6rem; color: #3b4652; }
table { border-collapse: collapse; margin: .6rem 0; width: 100%; }
th, td { border: 1px solid #d7dce2; padding: .3rem .55rem; text-align: left;
         vertical-align: top; }
th { background: #f1f3f6; } td.k { width: 14rem; color: #55606c; }
td.id { white-space: nowrap; }
pre { background: #f6f8fa; border: 1px solid #e1e5ea; border-radius: 4px; padding: .6rem;
      overflow-x: auto; white-space: pre-wrap; word-break: break-word; font-size: 13px; }
.step { border: 1px solid #d7dce2; border-left: 6px solid #9aa4ae; border-radius: 4px;
        padding: .3rem 1rem .6rem; margin: .8rem 0; }
.step h4 { margin: .5rem 0 .3rem; font-size: 1.05rem; }
.badge { display: inline-block; border-radius: 3px; padding: 0 .45rem; font-size: .8rem;
         font-weight: 600; color: #fff; text-transform: uppercase; letter-spacing: .03em; }
.passed { background: #1f7a3a; } .failed { background: #b42318; }
.skipped { background: #6b7480; } .not-done { background: #a15c00; }
.step.v-passed { border-left-color: #1f7a3a; } .step.v-failed { border-left-color: #b42318;
  background: #fff7f6; } .step.v-not-done { border-left-color: #a15c00; }
.overall { font-size: 1.15rem; padding: .5rem .8rem; border-radius: 4px; display: inline-block;
           color: #fff; } .meta { color: #55606c; font-size: .85rem; }
.crit { color: #334; } .note { background: #fffbe6; border: 1px solid #f0e1a0;
        padding: .3rem .6rem; border-radius: 4px; }
"""


def _badge(verdict: str) -> str:
    return f'<span class="badge {verdict.replace(" ", "-")}">{html.escape(verdict)}</span>'


def _code(text: str) -> str:
    """Inline `code` of the checklist's prose as <code>."""
    parts = re.split(r"`([^`]+)`", text)
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p)
                   for i, p in enumerate(parts))


def html_report(checklist: Checklist, record: Record) -> str:
    summary = summarise(checklist.steps, record)
    e = html.escape
    overall_class = {"pass": "passed", "fail": "failed"}.get(summary.overall, "not-done")
    meta = [("Tester", record.tester or "not signed: an automatic run"),
            ("Date", f"started {record.started}, last step {record.updated or record.started}"),
            ("Stack", f"{record.stack}: the {record.profile} profile, because "
                      f"{record.profile_why}"),
            ("Service URL", record.url),
            ("API key", "set (not shown)" if record.api_key_set else "not set"),
            ("Mode", record.mode), ("Checklists", ", ".join(record.sources))]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Checklist run: {e(record.stack)} {e(record.started)}</title>",
           f"<style>{CSS}</style></head><body>",
           f"<h1>Checklist run: {e(record.stack)}, {e(record.started[:10])}</h1>",
           "<table>"]
    out += [f'<tr><td class="k">{e(k)}</td><td>{e(v)}</td></tr>' for k, v in meta]
    out += ["</table>", "<h2>Deployed images</h2>", "<table><tr><th>component</th>"
            "<th>container</th><th>image</th><th>image id</th><th>version</th>"
            "<th>revision</th><th>built</th></tr>"]
    for image in record.images:
        out.append(f"<tr><td>{e(image.component)}</td><td>{e(image.container)}</td>"
                   f"<td>{e(image.reference)}</td>"
                   f"<td><code>{e(image.image_id[:19]) or e(image.problem)}</code></td>"
                   f"<td>{e(image.version)}</td><td>{e(image.revision)}</td>"
                   f"<td>{e(image.created[:19])}</td></tr>")
    out += ["</table>", "<h2>Summary</h2>",
            f'<p><span class="overall {overall_class}">Overall: {e(summary.overall)}</span>'
            f" &nbsp; {e(_counts(summary))} (of {len(checklist.steps)} steps)</p>"]
    if summary.failed:
        out.append(f"<p><strong>Failed:</strong> {e(', '.join(summary.failed))}</p>")
    out.append("<table><tr><th>id</th><th>step</th><th>kind</th><th>verdict</th>"
               "<th>note</th></tr>")
    table = rows(checklist, record)
    for row in table:
        out.append(f'<tr><td class="id"><a href="#{e(row.step.id)}">{e(row.step.id)}</a></td>'
                   f"<td>{_code(row.step.purpose)}</td><td>{e(row.step.kind)}</td>"
                   f"<td>{_badge(row.verdict)}</td><td>{e(row.note)}</td></tr>")
    out += ["</table>", "<h2>Steps</h2>"]
    section = None
    for row in table:
        if row.step.section != section:
            section = row.step.section
            out.append(f"<h3>{e(section)}</h3>")
        out.append(f'<div class="step v-{row.verdict.replace(" ", "-")}" '
                   f'id="{e(row.step.id)}">')
        out.append(f"<h4>{e(row.step.id)} {_badge(row.verdict)}</h4>")
        out.append(f'<p class="meta">{e(row.step.kind)} · {e(row.step.source)}:'
                   f"{row.step.line}</p>")
        out.append(f"<p>{_code(row.step.purpose)}</p>")
        out.append(f'<p class="crit"><strong>Pass:</strong> {_code(row.step.criterion)}</p>')
        if row.step.command:
            label = "Command" if row.step.runnable else "Helper command"
            out.append(f"<p><strong>{label}</strong></p><pre>{e(row.step.command)}</pre>")
        if row.output:
            result = row.result
            assert result is not None
            whole = " (whole: the step failed)" if row.verdict == FAILED else ""
            out.append(f"<p><strong>Output</strong>, exit {result.exit_code}, "
                       f"{result.seconds:.1f} s{whole}</p><pre>{e(row.output)}</pre>")
        if row.note:
            out.append(f'<p class="note"><strong>Note:</strong> {e(row.note)}</p>')
        out.append("</div>")
    out += ["<h2>Tester sign-off</h2>", "<table>"]
    for name, value in sign_off(checklist, record, summary):
        out.append(f'<tr><td class="k">{_code(name)}</td><td>{e(value)}</td></tr>')
    out += ["</table>", "</body></html>"]
    return "\n".join(out) + "\n"


def junit(checklist: Checklist, record: Record) -> bytes:
    """One testcase per step (classname: its checklist file, name: its id); manual steps
    not done and steps skipped are <skipped> with the reason."""
    summary = summarise(checklist.steps, record)
    table = rows(checklist, record)
    suite = ElementTree.Element("testsuite", {
        "name": f"checklist-{record.stack}", "tests": str(len(table)),
        "failures": str(summary.counts[FAILED]), "errors": "0",
        "skipped": str(summary.counts[SKIPPED] + summary.counts[NOT_DONE]),
        "time": f"{sum(r.result.seconds for r in table if r.result):.2f}",
        "timestamp": record.started})
    properties = ElementTree.SubElement(suite, "properties")
    for name, value in (("stack", record.stack), ("profile", record.profile),
                        ("tester", record.tester), ("mode", record.mode),
                        *((f"image.{i.component}", _image_line(i)) for i in record.images)):
        ElementTree.SubElement(properties, "property", {"name": name, "value": clean(value)})
    for row in table:
        case = ElementTree.SubElement(suite, "testcase", {
            "classname": Path(row.step.source).stem, "name": row.step.id,
            "time": f"{row.result.seconds if row.result else 0:.2f}"})
        text = "\n".join(part for part in (
            f"{row.step.purpose}\nPass: {row.step.criterion}",
            f"$ {row.step.command.rstrip()}" if row.result and row.result.command else "",
            row.output, f"note: {row.note}" if row.note else "") if part)
        if row.verdict == FAILED:
            failure = ElementTree.SubElement(case, "failure", {
                "message": clean(f"{row.step.criterion}"
                                 + (f" (note: {row.note})" if row.note else "")),
                "type": f"exit {row.result.exit_code}" if row.result
                and row.result.exit_code is not None else "tester"})
            failure.text = clean(text)
        elif row.verdict in (SKIPPED, NOT_DONE):
            ElementTree.SubElement(case, "skipped", {
                "message": clean(f"{row.verdict}: {row.note}")})
        elif row.verdict == PASSED:
            ElementTree.SubElement(case, "system-out").text = clean(text)
    document: bytes = ElementTree.tostring(suite, encoding="utf-8", xml_declaration=True)
    return document


def write(run_dir: Path, checklist: Checklist, record: Record) -> list[Path]:
    run_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in (("report.md", markdown(checklist, record)),
                          ("report.html", html_report(checklist, record))):
        path = run_dir / name
        path.write_text(content)
        written.append(path)
    path = run_dir / "junit.xml"
    path.write_bytes(junit(checklist, record))
    written.append(path)
    return written
