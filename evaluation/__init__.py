"""Evaluation: the one sacreBLEU scorer (score), BLEU from sufficient statistics and bootstrap tests
(significance), length buckets (buckets) — below smt/, nmt/ and compare/, which all use it."""
