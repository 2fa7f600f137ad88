"""Scoring, experiments, plots and the HTML report that put PBSMT, RNNenc and RNNsearch side by side."""
