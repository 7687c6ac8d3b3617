"""One exception family for the generator: every failure a user can cause is a GeneratorError."""


class GeneratorError(Exception):
    """Base class: the message is one line, fit to print after ``webelf: error:``."""


class AsmError(GeneratorError):
    """An instruction that has no encoding, or a label that was never bound."""


class SiteError(GeneratorError):
    """A page that cannot be served as asked (unreadable file, wrong encoding, bad type)."""


class ConfigError(GeneratorError):
    """A server option out of range: port, bind address, buffer size."""
