"""The one exception type that the command line turns into a clean message."""


class UsageError(Exception):
    """Bad input from the user: a flag, a path, a file, a config value.

    The CLI prints the message on one line and exits with code 2, without a traceback.
    The message names the input and the problem, e.g.
    ``UsageError(f"--batch-size must be at least 1, got {value}")``.
    """
