"""Evaluation pieces every recipe uses: metrics, bootstrap intervals, paired verdicts, training-curve figures,
the report page, and the driver that answers a recipe's test samples with each model (`rarl.eval.protocol`).

A recipe's own scoring policy, tables and report live in its folder (the `rarl` recipe's 1/2/4/8-image
protocol in `rarl.recipes.ordinal.scoring`; see docs/evaluation.md).
"""

from rarl.eval.bootstrap import bootstrap_ci, mean_rows
from rarl.eval.metrics import accuracy, kendall_tau, mae, plcc, srcc
from rarl.eval.plots import DEFAULT_PANELS, plot_training_curves, save_png
from rarl.eval.report import REPORT_CSS, html_page
from rarl.eval.verdict import PairedVerdict, paired_difference

__all__ = [
    "DEFAULT_PANELS",
    "REPORT_CSS",
    "PairedVerdict",
    "accuracy",
    "bootstrap_ci",
    "html_page",
    "kendall_tau",
    "mae",
    "mean_rows",
    "paired_difference",
    "plcc",
    "plot_training_curves",
    "save_png",
    "srcc",
]
