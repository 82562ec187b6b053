"""The ``peakcnn`` command line."""
