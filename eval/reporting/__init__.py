"""Reporting of evaluations: files, figures, console tables and W&B lineage.

- ``report``: report.md and the figures (``write_report``; ``format_table`` is ``culturelens.core.formatting``'s);
  ``report_nulls``: the report's sections that set each number beside its null;
- ``console``: rich tables of a run or a comparison; ``cultural_map``: the Inglehart–Welzel map;
- ``compare_tracking`` and ``lineage``: comparisons and evaluations in W&B.

Reporting reads the statistics room's results; it never computes a statistic itself.
"""
from culturelens.eval.reporting.console import print_comparison, print_summary
from culturelens.eval.reporting.report import format_table, print_rich_table, write_report

__all__ = ["format_table", "print_comparison", "print_rich_table", "print_summary", "write_report"]
