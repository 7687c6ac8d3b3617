"""Response bytes, judged by h11: valid HTTP/1.1 whose Content-Length frames the body exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support import header, parse_response
from generator import Page, SiteError, default_page, http_response


def test_default_page_is_valid_http_with_the_right_length():
    page = default_page()
    response, body = parse_response(http_response(page))
    assert response.status_code == 200
    assert response.http_version == b"1.1"
    assert body == page.body
    assert header(response, "content-length") == str(len(page.body)).encode()
    assert header(response, "content-type") == b"text/html; charset=utf-8"
    assert header(response, "connection") == b"close"


def test_default_page_has_text_styling_and_a_link():
    body = default_page().body.decode()
    assert "<style>" in body and "<a href=" in body and "<title>" in body


def test_utf8_page_length_counts_bytes_not_characters(utf8_page):
    text = utf8_page.body.decode("utf-8")
    assert len(utf8_page.body) > len(text), "the page must have multi-byte characters"
    response, body = parse_response(http_response(utf8_page))
    assert body.decode("utf-8") == text
    assert int(header(response, "content-length")) == len(utf8_page.body)


def test_exact_bytes_of_a_small_response():
    assert http_response(Page.make(b"hi\n", "text/plain")) == (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 3\r\n"
        b"Connection: close\r\n"
        b"\r\n"
        b"hi\n")


@given(st.binary(max_size=3000))
def test_any_binary_body_is_framed_exactly(body):
    response, got = parse_response(http_response(Page.make(body, "application/octet-stream")))
    assert got == body
    assert header(response, "content-type") == b"application/octet-stream"


@given(st.text(max_size=500))
def test_any_text_body_is_framed_exactly(text):
    body = text.encode("utf-8")
    response, got = parse_response(http_response(Page.make(body, "text/plain")))
    assert got == body
    assert header(response, "content-type") == b"text/plain; charset=utf-8"


def test_explicit_charset_is_kept_and_not_checked_as_utf8():
    page = Page.make("café".encode("latin-1"), "text/html; charset=iso-8859-1")
    assert page.content_type == "text/html; charset=iso-8859-1"
    assert parse_response(http_response(page))[1] == "café".encode("latin-1")


def test_a_text_page_that_is_not_utf8_is_refused():
    with pytest.raises(SiteError, match="not valid UTF-8"):
        Page.make("café".encode("latin-1"), "text/html")


@pytest.mark.parametrize("ctype", ["html", "text/", "/html", "text/html\r\nX-Evil: 1", "tëxt/html"])
def test_malformed_content_types_are_refused(ctype):
    with pytest.raises(SiteError):
        Page.make(b"x", ctype)


def test_page_type_follows_the_file_suffix(tmp_path):
    (tmp_path / "a.css").write_text("body{}")
    (tmp_path / "b.bin").write_bytes(b"\xff")
    assert Page.from_file(tmp_path / "a.css").content_type == "text/css; charset=utf-8"
    assert Page.from_file(tmp_path / "b.bin").content_type == "application/octet-stream"


def test_a_missing_file_is_a_site_error(tmp_path):
    with pytest.raises(SiteError, match="cannot read"):
        Page.from_file(tmp_path / "nope.html")
