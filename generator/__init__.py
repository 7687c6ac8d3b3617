"""webelf's generator: HTTP responses -> hand-encoded i386 (or x86-64) machine code -> a
static ELF32 (or ELF64) file.

The flow is one way: :mod:`generator.site` turns pages into exact response bytes,
:mod:`generator.server` writes the program that serves them with :mod:`generator.x86`, and
:mod:`generator.elf` lays the program out as an executable.  Nothing here runs the result;
that is the harness's job.
"""

from .errors import AsmError, ConfigError, GeneratorError, SiteError
from .server import ServerConfig, build_server
from .site import Page, Response, Site, default_page, default_site, http_response

__all__ = [
    "AsmError", "ConfigError", "GeneratorError", "SiteError",
    "Page", "Response", "ServerConfig", "Site", "build_server", "default_page", "default_site",
    "http_response",
]
