"""Scoring on the future: splits and cuts, metrics, the paired significance test, and one
evaluation per dimension, each beside its baselines. ``as_of`` registers what each evaluation
predicts at a cut so that one leakage guard covers them all."""
