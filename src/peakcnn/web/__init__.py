"""A local web page on the trained models of a results folder (``peakcnn serve``).

``inputs`` reads a pasted sequence, FASTA record or ``chrom:start-end`` into a model window;
``analysis`` scores it and explains it (SHAP, in-silico mutagenesis, single-base what-ifs) with
the code of ``peakcnn.apply``; ``results`` finds the datasets, runs and files of a results
folder; ``app`` is the Flask application serving the Sequence and Run pages.
"""
