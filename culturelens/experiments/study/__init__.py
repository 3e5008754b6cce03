"""`culturelens study`: do synthetic data, multilingual data and alignment change a small model's cultural judgments?"""
from culturelens.experiments.study.run import run_study

__all__ = ["run_study"]
