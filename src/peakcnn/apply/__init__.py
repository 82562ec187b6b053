"""Use a trained model: predict, scan a genome, score variants, export.

Modules by concern: ``loading`` (a model from a ``model.pt``, a run folder or an exported file,
with its metadata and validation threshold), ``sequences`` (FASTA records, regions, centring),
``predict``, ``scan``, ``variants``, ``export``, and ``cli`` (shared command-line pieces).
"""
