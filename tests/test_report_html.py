"""Tests of report.html: the Markdown conversion and a real headless browser.

The browser test runs the bundled example with ``run-sem``, renders report.html
from its report.md and figures, and opens it in Debian's chromium. It is skipped
when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lio_validate.figures import plot_loadings
from lio_validate.report import render_report_markdown
from lio_validate.report_html import markdown_to_html, render_report_html
from test_figures_report import SMALL_FACTORS, SMALL_PATHS, make_estimates

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Appended to a copy of the report in the browser test only: after the page has
# loaded, it records on <body> whether each image decoded.
IMAGE_PROBE = """<script>
window.addEventListener("load", function () {
  var states = Array.prototype.map.call(document.images, function (image) {
    return image.complete && image.naturalWidth > 0 ? "loaded" : "broken";
  });
  document.body.setAttribute("data-image-states", states.join(" "));
});
</script>
"""

FIT_MEASURES = {
    "npar": 21,
    "nobs": 300,
    "chisq": 30.5,
    "df": 24,
    "pvalue": 0.17,
    "cfi": 0.99,
    "tli": 0.985,
    "rmsea": 0.03,
    "rmsea_ci_lower": 0.0,
    "rmsea_ci_upper": 0.06,
    "srmr": 0.03,
    "logl": -3000.0,
    "aic": 6042.0,
    "bic": 6120.0,
}


@pytest.fixture(scope="module")
def small_report():
    estimates = make_estimates(SMALL_FACTORS, SMALL_PATHS)
    markdown = render_report_markdown(
        estimates=estimates,
        fit_measures=FIT_MEASURES,
        warnings=["12 rows with missing values dropped <listwise>"],
        figures=["standardized_loadings"],
        model_text="autonomy =~ a1 + a2 + a3\ninformal_learning ~ autonomy",
    )
    return estimates, markdown


# --------------------------------------------------------------------------------------
# Markdown to HTML


def test_markdown_table_alignment_and_escapes():
    markdown = "| Name | Value |\n| --- | ---: |\n| a\\|b | < .001 |\n"

    body = markdown_to_html(markdown)

    assert "<th>Name</th>" in body
    assert '<th class="number">Value</th>' in body
    assert "<td>a|b</td>" in body
    assert '<td class="number">&lt; .001</td>' in body


def test_markdown_code_list_emphasis_link():
    markdown = (
        "# Title\n\n## Data\n\n- one *two*\n- [x](figures/x.svg)\n\n"
        "```\nf =~ a + b\n<tag>\n```\n"
    )

    body = markdown_to_html(markdown)

    assert "<h1>Title</h1>" in body
    assert '<h2 id="data">Data</h2>' in body
    assert '<a href="#data">Data</a>' in body
    assert "<li>one <em>two</em></li>" in body
    assert '<a href="figures/x.svg">x</a>' in body
    assert "<pre><code>f =~ a + b\n&lt;tag&gt;</code></pre>" in body


def test_markdown_figure_with_caption():
    markdown = "![A \\*b\\*](figures/p.png)\n\n*A caption.* More text\n"

    body = markdown_to_html(markdown, {"p": "data:image/png;base64,AAAA"})

    assert '<img src="data:image/png;base64,AAAA" alt="A *b*">' in body
    assert "<figcaption><em>A caption.</em> More text</figcaption></figure>" in body


def test_report_html_sections_and_warnings(small_report):
    estimates, markdown = small_report

    page = render_report_html(
        markdown, figures={"standardized_loadings": plot_loadings(estimates)}
    )

    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Structural equation model results</title>" in page
    for heading in (
        "Model fit",
        "Standardized loadings",
        "Structural paths",
        "Warnings",
    ):
        assert f">{heading}</h2>" in page
    assert "12 rows with missing values dropped \\&lt;listwise\\&gt;" not in page
    assert "12 rows with missing values dropped &lt;listwise&gt;" in page
    assert page.count("data:image/svg+xml;base64,") == 1
    assert 'width="457"' in page
    assert "<script" not in page
    # Nothing of the Markdown syntax is left over in the text.
    text = re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)
    assert "| ---" not in text
    assert "![" not in text


def test_report_html_reads_figures_folder(tmp_path, small_report):
    estimates, markdown = small_report
    figure_dir = tmp_path / "figures"
    figure_dir.mkdir()
    plot_loadings(estimates).savefig(figure_dir / "standardized_loadings.png")

    page = render_report_html(markdown, figures_dir=figure_dir)

    assert page.count("data:image/png;base64,") == 1
    # 3.4 in printed width, shown at 1.4 times 96 CSS pixels per inch.
    assert 'width="457"' in page


def test_report_html_missing_figure_keeps_link(small_report):
    _, markdown = small_report

    page = render_report_html(markdown)

    assert 'src="figures/standardized_loadings.png"' in page


# --------------------------------------------------------------------------------------
# Headless browser


def run_chromium(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium (/usr/bin/chromium) is absent"
)
def test_report_html_in_chromium(tmp_path):
    results = tmp_path / "results"
    subprocess.run(
        [sys.executable, "-m", "lio_validate", "run-sem", "--out", str(results)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    markdown = (results / "report.md").read_text(encoding="utf-8")
    page = render_report_html(markdown, figures_dir=results / "figures")
    report = tmp_path / "report.html"
    report.write_text(page, encoding="utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", IMAGE_PROBE + "</body>"), encoding="utf-8")

    dump = run_chromium(
        tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()
    )
    states = re.search(r'data-image-states="([^"]*)"', dump.stdout)
    assert states is not None, dump.stderr[-2000:]
    assert states.group(1).split() == ["loaded"] * page.count("<img ")
    assert page.count("<img ") == 3

    shot = tmp_path / "report.png"
    run_chromium(
        tmp_path, "--window-size=1200,2400", f"--screenshot={shot}", report.as_uri()
    )
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (2400, 1200)
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 50
