"""Evaluation: metrics, the per-size scoring policy, bootstrap intervals, tables, plots and reports.

Importing this package does not import matplotlib or rich; the plotting and terminal-table functions
import them when called. The scoring policy is described in `rarl.eval.scoring` and docs/evaluation.md.
"""

from rarl.eval.bootstrap import bootstrap_ci, mean_rows
from rarl.eval.metrics import accuracy, kendall_tau, mae, plcc, srcc
from rarl.eval.plots import DEFAULT_PANELS, plot_size_bars, plot_training_curves
from rarl.eval.report import write_report
from rarl.eval.scoring import (
    ONE_IMAGE_METRICS,
    RANKING_METRIC,
    OneImageOutcome,
    ParsedLike,
    RankingOutcome,
    SizeResult,
    higher_is_better,
    score_one_image,
    score_ranking,
    score_size,
)
from rarl.eval.tables import (
    Rows,
    format_value,
    render_ablation_table,
    render_html_table,
    render_markdown_table,
    render_rich_table,
    results_from_json,
    results_to_json,
)

__all__ = [
    "DEFAULT_PANELS",
    "ONE_IMAGE_METRICS",
    "RANKING_METRIC",
    "OneImageOutcome",
    "ParsedLike",
    "RankingOutcome",
    "Rows",
    "SizeResult",
    "accuracy",
    "bootstrap_ci",
    "format_value",
    "higher_is_better",
    "kendall_tau",
    "mae",
    "mean_rows",
    "plcc",
    "plot_size_bars",
    "plot_training_curves",
    "render_ablation_table",
    "render_html_table",
    "render_markdown_table",
    "render_rich_table",
    "results_from_json",
    "results_to_json",
    "score_one_image",
    "score_ranking",
    "score_size",
    "srcc",
    "write_report",
]
