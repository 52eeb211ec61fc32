"""The `aircall-pipeline` commands, one module each (cli.py dispatches to them), and their one set of
exit codes (exit_codes.py). Commands read the configuration and call the libraries. Imports nothing here."""
