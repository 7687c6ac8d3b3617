"""harness/http.py: HTTP/1.1 validation of a captured response, and readable byte diffs."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from generator import default_page, http_response
from harness.http import HttpReport, check_response, diff_bytes, escape, first_difference

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"


def response(body: bytes, length: int | None = None) -> bytes:
    return HEAD % (len(body) if length is None else length) + body


def test_the_seed_blogs_content_length_bug_is_named_exactly():
    """The seed's page declared 138 bytes and sent 155, a stray NUL among them: browsers cut
    the page short, or take the rest as the next response."""
    body = b"<html><body><h1>Hello</h1>" + b"x" * 114 + b"\0" + b"</body></html>"
    assert len(body) == 155
    report = check_response(response(body, 138))
    assert report.problems == ("Content-Length 138 but the body has 155 bytes",)
    assert report.status == 200 and report.body == body
    assert not report.ok


def test_a_correct_response_has_no_problems_and_its_parts():
    report = check_response(response(b"<p>hi</p>"))
    assert report == HttpReport(
        status=200, reason="OK", http_version="1.1",
        headers=(("Content-Type", "text/html"), ("Content-Length", "9")),
        body=b"<p>hi</p>", problems=(), notes=())
    assert report.ok and report.header("content-type") == "text/html"


def test_the_generated_servers_response_is_valid():
    raw = http_response(default_page())
    report = check_response(raw)
    assert report.problems == () and report.notes == ()
    assert report.body == raw[raw.index(b"\r\n\r\n") + 4:]


def test_a_short_body_is_reported_with_its_real_length():
    report = check_response(response(b"y" * 100, 138))
    assert report.problems == ("Content-Length 138 but the body has 100 bytes",)


def test_a_body_delimited_by_close_is_a_note_not_a_problem():
    report = check_response(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello")
    assert report.problems == () and report.body == b"hello"
    assert len(report.notes) == 1 and "ends where the connection closes" in report.notes[0]


def test_head_responses_carry_no_body():
    with_body = check_response(response(b"hello"), "HEAD")
    assert with_body.problems == (
        "a response to HEAD has no body (RFC 9110), but 5 bytes follow the header block",)
    without = check_response(HEAD % 5, "HEAD")
    assert without.problems == () and without.body == b""


def test_garbage_empty_and_unterminated_responses_are_not_http():
    garbage = check_response(b"garbage\r\n\r\n")
    assert garbage.status is None
    assert len(garbage.problems) == 1
    assert garbage.problems[0].startswith("not valid HTTP/1.1: illegal status line")
    assert check_response(b"").problems == ("not valid HTTP/1.1: the response is empty",)
    unterminated = check_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n")
    assert unterminated.problems[0].startswith("not valid HTTP/1.1: the header block never ends")
    conflicting = check_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                 b"Content-Length: 6\r\n\r\nhello")
    assert conflicting.problems == ("not valid HTTP/1.1: conflicting Content-Length headers",)


def test_bare_lf_line_endings_are_a_problem():
    report = check_response(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi")
    assert len(report.problems) == 1 and "bare LF" in report.problems[0]


def test_chunked_bodies_are_decoded_and_bytes_after_them_reported():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    assert check_response(chunked).body == b"hello"
    assert check_response(chunked).problems == ()
    assert check_response(chunked + b"xx").problems == (
        "2 bytes follow the end of the chunked body",)


def test_an_interim_response_is_skipped():
    raw = b"HTTP/1.1 100 Continue\r\n\r\n" + response(b"hi")
    report = check_response(raw)
    assert report.status == 200 and report.body == b"hi" and report.problems == ()


# --- diff_bytes -------------------------------------------------------------------------------

EXPECTED = response(b"<p>hello</p>\n", 138)
ACTUAL = response(b"<p>hello</p>\n", 13)


def test_equal_bytes_have_no_diff():
    assert diff_bytes(EXPECTED, EXPECTED) is None
    assert diff_bytes(b"", b"") is None


def test_a_diff_names_the_offset_and_shows_both_lines_with_visible_cr():
    report = diff_bytes(EXPECTED, ACTUAL)
    offset = EXPECTED.index(b"138") + 2
    assert report.splitlines()[0] == (
        f"first difference at byte {offset} (line 3, column 19); "
        f"expected {len(EXPECTED)} bytes, actual {len(ACTUAL)} bytes")
    assert '"Content-Length: 138\\r\\n"' in report
    assert '"Content-Length: 13\\r\\n"' in report
    lines = report.splitlines()
    caret = lines[lines.index('     3: "Content-Length: 138\\r\\n"') + 1]
    assert caret.index("^") == len('     3: "Content-Length: 13')


def test_a_diff_says_when_one_side_is_a_prefix():
    short = diff_bytes(EXPECTED, EXPECTED[:50])
    assert short.startswith("actual is a prefix of expected: it ends at byte 50 ")
    assert f"{len(EXPECTED) - 50} bytes short" in short.splitlines()[0]
    longer = diff_bytes(b"abc\n", b"abc\ndef")
    assert longer.startswith("expected is a prefix of actual: actual goes on at byte 4 ")
    assert "(end of data)" in longer


def test_a_long_line_is_shown_around_the_difference_only():
    report = diff_bytes(b"x" * 5000 + b"A" + b"y" * 5000, b"x" * 5000 + b"B" + b"y" * 5000)
    assert "at byte 5000" in report
    assert all(len(line) < 120 for line in report.splitlines())
    assert "xA" in report and "xB" in report


def test_escape_shows_every_byte():
    assert escape(b'a\r\n\t"\\\x00\xff') == '"a\\r\\n\\t\\"\\\\\\x00\\xff"'


def reported_offset(report: str) -> int:
    return int(re.search(r"at byte (\d+)", report.splitlines()[0]).group(1))


def expected_offset(a: bytes, b: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_diff_is_none_iff_equal_and_names_the_first_difference(a, b):
    report = diff_bytes(a, b)
    assert (report is None) == (a == b)
    if report is not None:
        assert reported_offset(report) == expected_offset(a, b) == first_difference(a, b)


@given(st.binary(min_size=1, max_size=300), st.data())
def test_diff_of_near_copies_names_the_edited_byte(a, data):
    """Random pairs rarely share a long prefix; copies with one edit always do."""
    position = data.draw(st.integers(0, len(a) - 1))
    edit = data.draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
    if edit == "replace":
        b = a[:position] + bytes([(a[position] + 1) % 256]) + a[position + 1:]
    elif edit == "delete":
        b = a[:position] + a[position + 1:]
    elif edit == "insert":
        b = a[:position] + data.draw(st.binary(min_size=1, max_size=3)) + a[position:]
    else:
        b = a[:position]
    report = diff_bytes(a, b)
    assert (report is None) == (a == b)
    if report is not None:
        offset = reported_offset(report)
        assert offset == expected_offset(a, b)
        if edit in ("replace", "truncate"):
            assert offset == position
        else:  # a shifted tail may start with the same bytes as the original
            assert offset >= position
