"""The ``webelf`` command: brings the generator and the harness together for a user."""
