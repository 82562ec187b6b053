"""peakcnn: peaks + genome to a trained, evaluated and explained DNA-sequence classifier."""

__version__ = "0.1.0"
