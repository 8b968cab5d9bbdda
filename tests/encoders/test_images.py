"""Image inputs: every bad image is a clear error naming the input and the fix; PDF pages."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch

from encoders import LLM
from encoders.vision import ImagePolicy, load_image, parse_items, pdf_pages
from retrieval.errors import ConfigError, InputTooLongError
from tests import tiny_vl


@pytest.fixture(scope="module")
def colqwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_vl.make_colqwen(tmp_path_factory.mktemp("colqwen3_images"), "colqwen3")


@pytest.fixture(scope="module")
def llm(colqwen: Path) -> LLM:
    return LLM(str(colqwen), device="cpu")


def _part(url: str) -> dict[str, Any]:
    return {"content": [{"type": "image_url", "image_url": {"url": url}}]}


# -- load_image, no model --------------------------------------------------------------------
def test_remote_urls_are_refused_by_default() -> None:
    with pytest.raises(ConfigError, match=r"remote image URL .*allow_remote_images=True"):
        load_image("https://example.com/cat.png", ImagePolicy(), "doc 0")


def test_remote_urls_are_fetched_only_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    data = tiny_vl.png_bytes()
    calls: list[str] = []

    def fake_urlopen(request: Any, timeout: float) -> Any:
        calls.append(request.full_url)
        return io.BytesIO(data)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    image = load_image("https://example.com/cat.png", ImagePolicy(allow_remote=True))
    assert image.size == (50, 40)
    assert calls == ["https://example.com/cat.png"]
    with pytest.raises(ConfigError, match="over the 10-byte limit"):
        load_image("https://example.com/x.png", ImagePolicy(allow_remote=True, max_bytes=10))


def test_local_files_can_be_turned_off(tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    path.write_bytes(tiny_vl.png_bytes())
    assert load_image(path, ImagePolicy()).size == (50, 40)
    closed = ImagePolicy(allow_local_files=False)
    for source in (path, str(path), f"file://{path}"):
        with pytest.raises(ConfigError, match=r"reading local image files is disabled"):
            load_image(source, closed, "doc 0")
    assert load_image(tiny_vl.data_url(tiny_vl.png_bytes()), closed).size == (50, 40)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA", r"cannot decode the image"),
        ("data:image/png;base64,@@@not-base64@@@", r"not valid base64"),
        ("data:text/plain;base64,aGVsbG8=", r"malformed data URL"),
        ("data:image/png,rawbytes", r"malformed data URL"),
        ("ftp://host/file.png", r"unsupported URL scheme 'ftp'"),
        ("/no/such/page.png", r"image file '/no/such/page.png' does not exist"),
        (12345, r"has type int; expected a PIL image"),
    ],
)
def test_bad_sources_name_the_problem(source: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_image(source, ImagePolicy(), "doc 3")


def test_corrupt_and_truncated_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    with pytest.raises(ConfigError, match=r"doc 3: cannot decode the image"):
        load_image(garbage, ImagePolicy(), "doc 3")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(tiny_vl.png_bytes((300, 300))[:200])
    with pytest.raises(ConfigError, match=r"cannot decode the image"):
        load_image(str(truncated), ImagePolicy())


def test_byte_and_pixel_caps(tmp_path: Path) -> None:
    data = tiny_vl.png_bytes((120, 100))
    with pytest.raises(ConfigError, match=r"over the 100-byte limit.*max_bytes"):
        load_image(tiny_vl.data_url(data), ImagePolicy(max_bytes=100))
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=r"over the 100-byte limit"):
        load_image(path, ImagePolicy(max_bytes=100))
    # The pixel cap is checked from the header, before the pixels are decoded.
    with pytest.raises(ConfigError, match=r"120x100 = 12000 pixels, over the 5000-pixel limit"):
        load_image(path, ImagePolicy(max_pixels=5000))


def test_content_parts_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"unknown content part type 'audio_url'. Valid: text"):
        parse_items([{"content": [{"type": "audio_url", "audio_url": {"url": "x"}}]}])
    with pytest.raises(ConfigError, match=r"'image_url' part needs its 'image_url' field"):
        parse_items([{"content": [{"type": "image_url"}]}])
    with pytest.raises(ConfigError, match=r"a text part needs a string 'text'"):
        parse_items([{"content": [{"type": "text", "text": 3}]}])
    with pytest.raises(ConfigError, match=r"without 'content', 'messages'"):
        parse_items([{"image": "x.png"}])
    with pytest.raises(ConfigError, match=r"'messages' must be a non-empty list"):
        parse_items({"messages": []})


# -- through the LLM -------------------------------------------------------------------------
def test_llm_refuses_remote_images_and_names_the_option(llm: LLM) -> None:
    with pytest.raises(ConfigError, match=r"input 1 image 0: remote image URL"):
        llm.encode(["text", _part("http://169.254.169.254/latest")], pooling_task="token_embed")
    with pytest.raises(ConfigError, match=r"remote image URL"):
        llm.score("query", [_part("https://example.com/a.png")])


def test_llm_image_limits_and_corrupt_images(colqwen: Path) -> None:
    small = LLM(str(colqwen), device="cpu", image_limits={"max_pixels": 1000})
    with pytest.raises(ConfigError, match=r"50x40 = 2000 pixels, over the 1000-pixel limit"):
        small.encode([_part(tiny_vl.data_url(tiny_vl.png_bytes()))], pooling_task="token_embed")
    with pytest.raises(ConfigError, match=r"cannot decode the image"):
        small.score("q", [_part(tiny_vl.data_url(b"\x89PNG\r\n\x1a\n broken"))])
    short = LLM(str(colqwen), device="cpu", max_model_len=20)
    with pytest.raises(InputTooLongError, match=r"image patches included.*downscale the image"):
        short.encode(
            [_part(tiny_vl.data_url(tiny_vl.png_bytes((64, 64))))], pooling_task="token_embed"
        )


def test_text_model_refuses_images(bert_plain: Path) -> None:
    from PIL import Image

    text_llm = LLM(str(bert_plain), device="cpu")
    with pytest.raises(ConfigError, match=r"has type Image"):
        text_llm.encode([Image.new("RGB", (8, 8))], pooling_task="token_embed")


# -- PDF pages -------------------------------------------------------------------------------
def _pdf(tmp_path: Path, pages: int = 3) -> Path:
    from PIL import Image, ImageDraw

    images = []
    for number in range(pages):
        image = Image.new("RGB", (200, 260), "white")
        ImageDraw.Draw(image).rectangle((20, 20 + 40 * number, 180, 60 + 40 * number), "black")
        images.append(image)
    path = tmp_path / "doc.pdf"
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=72)
    return path


def test_pdf_pages_keep_numbers_and_dpi(tmp_path: Path) -> None:
    path = _pdf(tmp_path)
    pages = pdf_pages(path, dpi=72)
    assert [p.page_number for p in pages] == [1, 2, 3]
    assert pages[0].image.size == (200, 260)
    assert pages[1].metadata == {"source": str(path), "page": 2, "dpi": 72}
    double = pdf_pages(str(path), dpi=144, pages=[3])
    assert [p.page_number for p in double] == [3]
    assert double[0].image.size == (400, 520)
    # Different pages render differently (the bar moves down).
    assert pages[0].image.tobytes() != pages[2].image.tobytes()
    assert len(pdf_pages(path.read_bytes(), max_pages=2)) == 2


def test_bad_pdfs(tmp_path: Path) -> None:
    path = _pdf(tmp_path, pages=1)
    with pytest.raises(ConfigError, match=r"Page numbers \[2\] are outside"):
        pdf_pages(path, pages=[2])
    with pytest.raises(ConfigError, match=r"dpi must be an integer between 18 and 600"):
        pdf_pages(path, dpi=5000)
    with pytest.raises(ConfigError, match=r"does not exist"):
        pdf_pages(tmp_path / "missing.pdf")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 nothing here")
    with pytest.raises(ConfigError, match=r"Cannot open .* as a PDF"):
        pdf_pages(broken)


def test_pdf_pages_embed_as_images(llm: LLM, tmp_path: Path) -> None:
    pages = pdf_pages(_pdf(tmp_path), dpi=18)
    vectors = llm.encode_documents([p.image for p in pages])
    assert len(vectors) == 3
    assert all(torch.allclose(v.norm(dim=-1), torch.ones(len(v))) for v in vectors)
