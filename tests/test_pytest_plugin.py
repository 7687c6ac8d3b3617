"""The pytest plugin, as a user's project would use it (pytester runs a separate session)."""

from __future__ import annotations

from generator import build_server, default_page, http_response


def test_a_users_project_tests_its_elf_in_a_few_lines(pytester):
    (pytester.path / "site.elf").write_bytes(build_server(http_response(default_page())))
    pytester.makepyfile(test_users_site="""
        def test_home_page(elf_guest, http_check):
            guest = elf_guest("site.elf")
            response = guest.request(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            assert response.startswith(b"HTTP/1.1 200 OK\\r\\n")
            report = http_check(response)
            assert report.status == 200

        def test_two_guests_share_nothing(elf_guest):
            a, b = elf_guest("site.elf"), elf_guest("site.elf")
            assert a.listening() == b.listening() == [("0.0.0.0", 8080)]
            assert a.request(b"GET / HTTP/1.1\\r\\n\\r\\n") == b.request(b"GET / HTTP/1.1\\r\\n\\r\\n")
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_http_check_fails_a_test_on_a_wrong_content_length(pytester):
    pytester.makepyfile(test_bad="""
        def test_seed_bug(http_check):
            http_check(b"HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nhello")
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Content-Length 3 but the body has 5 bytes*"])


def test_the_ini_option_names_a_default_elf(pytester):
    (pytester.path / "site.elf").write_bytes(build_server(http_response(default_page())))
    pytester.makeini("[pytest]\nwebelf_elf = site.elf\n")
    pytester.makepyfile(test_default="""
        def test_default(elf_guest):
            assert elf_guest().waiting_in_accept
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
