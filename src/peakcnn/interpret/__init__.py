"""Interpretation: SHAP attributions, in-silico mutagenesis, motifs and logos."""
