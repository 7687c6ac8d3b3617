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


def test_a_short_fuzz_run_is_a_test_and_its_findings_become_regression_cases(pytester):
    from pathlib import Path

    from cprograms import build

    build("glibc", "buggy_server", pytester.path)
    (pytester.path / "site.elf").write_bytes(build_server(http_response(default_page())))
    seeds = Path(__file__).parent.parent / "fixtures" / "requests"
    pytester.makepyfile(test_fuzzing=f"""
        from pathlib import Path
        SEEDS = [p.read_bytes() for p in sorted(Path({str(seeds)!r}).glob("*.http"))]

        def test_site(webelf_fuzz):
            report = webelf_fuzz("site.elf", runs=300, seeds=SEEDS, regressions="site-cases")
            assert report.runs == 300 and report.edges > 100

        def test_buggy(webelf_fuzz):
            webelf_fuzz("buggy_server", argv=["buggy_server", "8080"], runs=200, seed=1,
                        seeds=SEEDS, budget=300_000, regressions="cases")
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*webelf fuzz found * problem(s) in 200 runs*",
                                 "crash-1: SIGSEGV*(written to *cases/crash-1.http)*"])
    cases = sorted(p.name for p in (pytester.path / "cases").iterdir())
    assert "crash-1.http" in cases
    assert not list((pytester.path / "site-cases").iterdir())
    # the next run replays them first, and says which still fail
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-k", "buggy")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*regression cases still fail:*", "crash-1.http: SIGSEGV*"])
