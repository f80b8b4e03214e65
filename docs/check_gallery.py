"""Check a built site: every example of the gallery ran and drew at least one figure, and every
page renders its mathematics without network access.

Usage: ``python docs/check_gallery.py BUILD_DIR`` after ``sphinx-build docs BUILD_DIR``.
sphinx-gallery saves the figures of ``examples/plot_NAME.py`` as
``_images/sphx_glr_plot_NAME_001.png``, ``..._002.png`` and so on. A page with math must load
MathJax from a file of the site: one from a CDN leaves the math as raw LaTeX offline.
"""

import re
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPT = re.compile(r"<script\b[^>]*\bsrc=\"([^\"]+)\"", re.IGNORECASE)
REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


def gallery_problems(build):
    """Examples without a page or a figure: a list of messages."""
    images = build / "_images"
    missing = []
    for example in sorted(EXAMPLES.glob("plot_*.py")):
        figures = sorted(images.glob(f"sphx_glr_{example.stem}_[0-9][0-9][0-9].png"))
        page = build / "auto_examples" / f"{example.stem}.html"
        if not figures or not page.is_file():
            missing.append(example.name)
        print(f"{example.name}: {len(figures)} figure(s)")
    if missing:
        return [f"no page or no figure for: {', '.join(missing)}"]
    return [] if any(EXAMPLES.glob("plot_*.py")) else ["no example in the gallery"]


def mathjax_problems(build):
    """Pages that load MathJax from another site, or that show math without a MathJax file of
    the site: a list of messages."""
    problems, pages_with_math = [], 0
    for page in sorted(build.rglob("*.html")):
        html = page.read_text(encoding="utf-8", errors="replace")
        sources = [src for src in SCRIPT.findall(html) if "mathjax" in src.lower()]
        name = page.relative_to(build).as_posix()
        problems += [f"{name} loads MathJax from {src}" for src in sources if REMOTE.match(src)]
        if 'class="math' not in html:
            continue
        pages_with_math += 1
        local = [src for src in sources if not REMOTE.match(src)]
        if not any((page.parent / src.split("?")[0]).is_file() for src in local):
            problems.append(f"{name} shows math but loads no MathJax file of the site")
    if not pages_with_math:
        problems.append("no page shows math, so none was checked: has Sphinx's markup changed?")
    return problems


def main(build):
    build = Path(build)
    problems = gallery_problems(build) + mathjax_problems(build)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
