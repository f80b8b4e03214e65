"""Check a built site: every example of the gallery ran and drew at least one figure.

Usage: ``python docs/check_gallery.py BUILD_DIR`` after ``sphinx-build docs BUILD_DIR``.
sphinx-gallery saves the figures of ``examples/plot_NAME.py`` as
``_images/sphx_glr_plot_NAME_001.png``, ``..._002.png`` and so on.
"""

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def main(build):
    build = Path(build)
    images = build / "_images"
    missing, counts = [], {}
    for example in sorted(EXAMPLES.glob("plot_*.py")):
        figures = sorted(images.glob(f"sphx_glr_{example.stem}_[0-9][0-9][0-9].png"))
        page = build / "auto_examples" / f"{example.stem}.html"
        if not figures or not page.is_file():
            missing.append(example.name)
        counts[example.name] = len(figures)
    for name, count in counts.items():
        print(f"{name}: {count} figure(s)")
    if missing or not counts:
        print(f"no page or no figure for: {', '.join(missing) or 'any example'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
