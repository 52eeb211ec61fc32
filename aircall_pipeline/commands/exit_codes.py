"""The exit codes of every `aircall-pipeline` command: one meaning per number, whichever command.

Scripts and CI branch on them (`verify` in a nightly job, `check-connection` before a deployment),
so the numbers never change; a command that needs a new meaning adds a new number here.
"""

EXIT_OK = 0  # done, and the answer is yes: connected, verified, stored, the run succeeded
# Done, and the answer is no: evidence that does not verify, a review or backfill refused, a run that failed.
EXIT_FAILED = 1
# Could not do the work with what it was given: unusable configuration, arguments or credentials,
# a day not collectable yet, evidence or a file that cannot be read.
EXIT_UNUSABLE = 2
EXIT_AUTH = 3  # check-connection: Aircall refused the API key
EXIT_RATE_LIMITED = 4  # check-connection: the account's rate limit is spent (or held back by the shared budget)
EXIT_UNREACHABLE = 5  # check-connection: the Aircall API could not be reached, or did not answer as itself

__all__ = ["EXIT_AUTH", "EXIT_FAILED", "EXIT_OK", "EXIT_RATE_LIMITED", "EXIT_UNREACHABLE", "EXIT_UNUSABLE"]
