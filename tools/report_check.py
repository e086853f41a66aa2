"""Check Snakemake's HTML report the way a person would: open it in headless Chromium, look, click.

- every result embedded in the report (``var results = {...}``) must decode, and every
  image must load in the browser with a non-zero size;
- the page must raise no JavaScript error (uncaught exceptions and ``console.error``);
- the first screen must contain the expected texts (e.g. the answer);
- screenshots: the first screen, and optionally every figure as the report shows it
  after clicking it.

Chromium is Debian's ``chromium`` package (``apt-get install -y chromium``).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
]
IMAGE_MIMES = {"image/svg+xml", "image/png", "image/jpeg"}

# Injected first into <head>: collect uncaught errors and console.error calls.
ERROR_HOOK = """<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push('uncaught: ' + e.message); });
window.addEventListener('unhandledrejection', function (e) { window.__errors.push('unhandled rejection: ' + e.reason); });
(function () { var orig = console.error; console.error = function () {
  window.__errors.push('console.error: ' + Array.prototype.join.call(arguments, ' ')); orig.apply(console, arguments); }; })();
</script>"""

# Injected at the end of <body>: load every embedded image, then write the findings into the DOM.
PROBE = """<script>
window.addEventListener('load', function () {
  var checks = Object.entries(results).filter(function (kv) { return kv[1].mime_type.startsWith('image/'); })
    .map(function (kv) { return new Promise(function (resolve) {
      var img = new Image();
      img.onload = function () { resolve({path: kv[0], width: img.naturalWidth, height: img.naturalHeight}); };
      img.onerror = function () { resolve({path: kv[0], width: 0, height: 0, error: 'does not load'}); };
      img.src = kv[1].data_uri; }); });
  Promise.all(checks).then(function (images) {
    var pre = document.createElement('pre');
    pre.id = '__probe';
    pre.textContent = JSON.stringify({errors: window.__errors, images: images, text: document.body.innerText});
    document.body.appendChild(pre);
  });
});
</script>"""

# Injected to show one result as if clicked: open its category, then its view.
SHOW = """<script>
window.addEventListener('load', function () {
  setTimeout(function () { app.showCategory(%(category)s); }, 300);
  setTimeout(function () { app.setView({content: %(content)s, contentPath: results[%(path)s].data_uri,
                                        resultPath: %(path)s}); }, 900);
});
</script>"""


class ReportError(AssertionError):
    pass


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _json_var(html: str, name: str):
    """The JSON of ``<script id="NAME"> var NAME = {...}; </script>`` in Snakemake's report template."""
    m = re.search(r'<script id="%s">\s*var %s = (.*?);\s*</script>' % (re.escape(name), re.escape(name)), html, re.S)
    if not m:
        raise ReportError(f"the report has no 'var {name}' block: is it a Snakemake HTML report?")
    return json.loads(m.group(1))


def embedded_results(html: str) -> dict:
    """The report's results: path -> {name, mime_type, data_uri, labels, caption, ...}."""
    return _json_var(html, "results")


def report_categories(html: str) -> dict:
    return _json_var(html, "categories")


def decode_data_uri(uri: str) -> bytes:
    head, _, data = uri.partition(",")
    return base64.b64decode(data) if ";base64" in head else data.encode()


def static_problems(results: dict, expect_files: list[str]) -> list[str]:
    """Problems visible without a browser: missing expected results, empty or undecodable ones."""
    problems = []
    names = {Path(p).name for p in results} | set(results)
    for f in expect_files:
        if f not in names and not any(p.endswith(f) for p in results):
            problems.append(f"missing from the report: {f}")
    for path, entry in results.items():
        try:
            data = decode_data_uri(entry["data_uri"])
        except Exception as e:  # noqa: BLE001 - report what is wrong with the file
            problems.append(f"{path}: data URI does not decode ({e})")
            continue
        mime = entry["mime_type"]
        if not data:
            problems.append(f"{path}: empty")
        elif mime == "image/svg+xml" and b"<svg" not in data[:2000]:
            problems.append(f"{path}: not an SVG")
        elif mime == "image/png" and not data.startswith(b"\x89PNG"):
            problems.append(f"{path}: not a PNG")
        elif mime == "text/html" and b"<table" not in data and b"<img" not in data and b"<body" not in data:
            problems.append(f"{path}: HTML without content")
    return problems


def _run_chromium(chromium: str, args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def _inject(html: str, head: str = "", body: str = "") -> str:
    if head:
        html = html.replace("<head>", "<head>" + head, 1)
    if body:
        i = html.rfind("</body>")
        html = html[:i] + body + html[i:] if i >= 0 else html + body
    return html


def console_errors(stderr: str) -> list[str]:
    """Console errors Chromium logged (uncaught exceptions), from its stderr."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line and ("Uncaught" in line or "Error" in line)]


def screenshot(chromium: str, html_file: Path, png: Path, size=(1440, 900), budget_ms: int = 8000) -> None:
    png.parent.mkdir(parents=True, exist_ok=True)
    res = _run_chromium(chromium, [f"--window-size={size[0]},{size[1]}", f"--virtual-time-budget={budget_ms}",
                                   f"--screenshot={png}", html_file.resolve().as_uri()])
    if not png.exists():
        raise ReportError(f"chromium wrote no screenshot {png}: {res.stderr[-2000:]}")


@dataclass
class CheckResult:
    problems: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    text: str = ""


def check_report(report: str | Path, out_dir: str | Path | None = None, expect_text: list[str] = (),
                 expect_files: list[str] = (), figures: bool = False, chromium: str | None = None,
                 size=(1440, 900)) -> CheckResult:
    """Render ``report`` in headless Chromium; return problems found and the screenshots taken."""
    chromium = chromium or find_chromium()
    if not chromium:
        raise ReportError("no chromium found: apt-get install -y chromium")
    report = Path(report)
    html = report.read_text(encoding="utf-8")
    results = embedded_results(html)
    out = CheckResult(problems=static_problems(results, list(expect_files)))
    with tempfile.TemporaryDirectory(prefix="report-check-") as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(_inject(html, ERROR_HOOK, PROBE), encoding="utf-8")
        res = _run_chromium(chromium, ["--virtual-time-budget=15000", "--dump-dom", probe.as_uri()])
        m = re.search(r'<pre id="__probe">(.*?)</pre>', res.stdout, re.S)
        if not m:
            out.problems.append("the page never finished loading its figures (no probe result); "
                                f"chromium said: {res.stderr[-1500:]}")
        else:
            import html as htmllib

            found = json.loads(htmllib.unescape(m.group(1)))
            out.problems += [f"JavaScript: {e}" for e in found["errors"]]
            out.images = found["images"]
            out.text = found["text"]
            out.problems += [f"{i['path']}: image does not display ({i.get('error', '0x0 px')})"
                             for i in found["images"] if not (i["width"] and i["height"])]
            out.problems += [f"first screen lacks the text {t!r}" for t in expect_text if t not in found["text"]]
        out.problems += [f"JavaScript (chromium log): {line}" for line in console_errors(res.stderr)
                         if not any(line.endswith(p) for p in out.problems)]
        if out_dir is not None:
            out_dir = Path(out_dir)
            first = out_dir / "first_screen.png"
            screenshot(chromium, report, first, size)
            out.screenshots.append(first)
            if figures:
                cat_of = {p: c for c, subs in report_categories(html).items() for paths in subs.values() for p in paths}
                for i, (path, entry) in enumerate(sorted(results.items())):
                    content = "img" if entry["mime_type"] in IMAGE_MIMES else (
                        "html" if entry["mime_type"] == "text/html" else None)
                    if content is None:
                        continue
                    page = Path(tmp) / f"show{i}.html"
                    page.write_text(_inject(html, body=SHOW % {"category": json.dumps(cat_of.get(path, "")),
                                                                "content": json.dumps(content),
                                                                "path": json.dumps(path)}), encoding="utf-8")
                    labels = entry.get("labels") or {}
                    name = "_".join(str(v) for v in labels.values()) if labels else Path(path).stem
                    png = out_dir / "figures" / (f"{i:02d}_" + re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)[:80] + ".png")
                    screenshot(chromium, page, png, size)
                    out.screenshots.append(png)
    return out
