"""``docs/check_gallery.py``, which CI runs on the built site: it refuses pages whose math
would show as raw LaTeX without network access."""

import importlib.util
from pathlib import Path

import pytest

CHECK = Path(__file__).parent.parent / "docs" / "check_gallery.py"
MATH = '<div class="math notranslate nohighlight">\\[J(\\Theta)\\]</div>'


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("check_gallery", CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _site(tmp_path, script):
    """A built site of one page with math under generated/, loading MathJax as ``script``."""
    (tmp_path / "_static" / "mathjax").mkdir(parents=True)
    (tmp_path / "_static" / "mathjax" / "tex-chtml.js").write_text("// MathJax")
    (tmp_path / "generated").mkdir()
    page = f'<html><head><script defer="defer" src="{script}"></script></head>{MATH}</html>'
    (tmp_path / "generated" / "page.html").write_text(page)
    return tmp_path


def test_a_site_with_its_own_mathjax_passes(check, tmp_path):
    assert check.mathjax_problems(_site(tmp_path, "../_static/mathjax/tex-chtml.js")) == []


@pytest.mark.parametrize(
    "script",
    [
        "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js",
        "//cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js",
    ],
)
def test_a_page_with_mathjax_from_a_cdn_is_refused(check, tmp_path, script):
    assert check.mathjax_problems(_site(tmp_path, script)) == [
        f"generated/page.html loads MathJax from {script}",
        "generated/page.html shows math but loads no MathJax file of the site",
    ]


def test_a_page_whose_mathjax_file_is_missing_is_refused(check, tmp_path):
    assert check.mathjax_problems(_site(tmp_path, "_static/mathjax/tex-chtml.js")) == [
        "generated/page.html shows math but loads no MathJax file of the site"
    ]
