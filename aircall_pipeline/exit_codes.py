"""The exit statuses of every `aircall-pipeline` command, one set for all of them.

A script or a CI job branches on these, so each value means the same whatever the command:

- 0 `EXIT_OK`: done, and the answer is yes (connected, verified, launched, written).
- 1 `EXIT_REFUSED`: the command ran and the answer is no: evidence that does not verify, a run that
  failed, a backfill or a review the pipeline refused. Nothing to fix in the command line; read
  what it found.
- 2 `EXIT_USAGE`: the input cannot be used: a configuration error, bad arguments, evidence or a
  file that cannot be read. Fix the input and run again.
- 3 `EXIT_AUTH`: the Aircall key was rejected (401/403): create a new key.
- 4 `EXIT_RATE_LIMITED`: the account's API budget stayed exhausted: try after the reset time.
- 5 `EXIT_UNREACHABLE`: the Aircall API could not be reached (network, DNS, TLS, 5xx).
"""

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_RATE_LIMITED = 4
EXIT_UNREACHABLE = 5
