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
from rarl.utils.moved import moved_names

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

MOVED = {
    "ONE_IMAGE_METRICS": "rarl.recipes.ordinal.scoring",
    "OneImageOutcome": "rarl.recipes.ordinal.scoring",
    "ParsedLike": "rarl.recipes.ordinal.scoring",
    "RANKING_METRIC": "rarl.recipes.ordinal.scoring",
    "RankingOutcome": "rarl.recipes.ordinal.scoring",
    "Rows": "rarl.recipes.ordinal.plots",
    "SizeResult": "rarl.recipes.ordinal.scoring",
    "format_value": "rarl.recipes.ordinal.tables",
    "higher_is_better": "rarl.recipes.ordinal.scoring",
    "plot_size_bars": "rarl.recipes.ordinal.plots",
    "render_ablation_table": "rarl.recipes.ordinal.tables",
    "render_html_table": "rarl.recipes.ordinal.tables",
    "render_markdown_table": "rarl.recipes.ordinal.tables",
    "render_rich_table": "rarl.recipes.ordinal.tables",
    "results_from_json": "rarl.recipes.ordinal.tables",
    "results_to_json": "rarl.recipes.ordinal.tables",
    "score_one_image": "rarl.recipes.ordinal.scoring",
    "score_ranking": "rarl.recipes.ordinal.scoring",
    "score_size": "rarl.recipes.ordinal.scoring",
    "write_report": "rarl.recipes.ordinal.report",
}
"""Names this package exported before the `rarl` recipe's code moved into its folder, and their new modules."""

__getattr__ = moved_names(__name__, MOVED)
