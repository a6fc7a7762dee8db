"""Command-line entry points: ``python -m weaklesion <command>``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from weaklesion.errors import WeaklesionError
from weaklesion.models import MODEL_NAMES


def _evaluate(args: argparse.Namespace) -> None:
    from weaklesion.evaluation.folder_scoring import score_folders
    from weaklesion.evaluation.metrics import METRIC_COLUMNS
    from weaklesion.utilities.atomic import atomic_path

    table = score_folders(args.gt, args.pred)
    with atomic_path(args.out, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    means = table[METRIC_COLUMNS].mean()
    print(f"{len(table)} masks scored -> {args.out}")
    print("  ".join(f"{name} {value:.2f}" for name, value in means.items()))


def _predict(args: argparse.Namespace) -> None:
    from weaklesion.evaluation.folder_prediction import predict_folder
    from weaklesion.evaluation.predictor import Predictor
    from weaklesion.training.precision import pick_device

    predictor = Predictor(args.model, pick_device(args.device))
    written = predict_folder(predictor, args.images, args.out, args.batch_size)
    print(f"{len(written)} masks written to {args.out}")


def _import_checkpoint(args: argparse.Namespace) -> None:
    from weaklesion.training.released_checkpoints import import_released

    written = import_released(args.released, args.model, args.out, dataset_format=args.dataset)
    print(f"{args.released} ({args.model}, protocol paper's {args.dataset} input pipeline) "
          f"-> {written}")


def _recist_from_masks(args: argparse.Namespace) -> None:
    from weaklesion.datasets.lesion_table import lesions_from_masks

    table = lesions_from_masks(args.masks, args.out, args.images)
    print(f"{len(table)} lesions measured -> {args.out}")


def _table(args: argparse.Namespace) -> None:
    import pandas as pd

    from weaklesion.analysis.outputs import write_comparisons, write_tables
    from weaklesion.analysis.runs import collect_runs
    from weaklesion.analysis.vs_paper import paper_claim_lines

    out = args.out if args.out is not None else args.results_dir / "tables"
    runs = collect_runs(args.results_dir)
    formats = {d: f for d, f in zip(runs["dataset"], runs["format"], strict=True) if f}
    written = []
    if not runs.empty:
        written = write_comparisons(args.results_dir, out, formats)
    claims = []
    if written:
        claims = paper_claim_lines(pd.read_csv(out / "comparisons.csv"), formats)
    written = write_tables(args.results_dir, out, claims=claims) + written
    print(f"{len(written)} tables written to {out}:")
    for path in written:
        print(f"  {path}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weaklesion",
        description="Weakly supervised lesion segmentation (MIDL 2021) - tools around the "
                    "Snakemake workflow.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    evaluate = commands.add_parser(
        "evaluate", help="score predicted PNG masks against ground-truth PNG masks",
        description="Score every predicted mask against the ground-truth mask of the same "
                    "file stem with the paper's metrics (IoU, Dice, VS, centre error, "
                    "perimeter error, Hausdorff, HD95); one CSV row per id.",
    )
    evaluate.add_argument("--gt", type=Path, required=True, help="folder of ground-truth PNGs")
    evaluate.add_argument("--pred", type=Path, required=True, help="folder of predicted PNGs")
    evaluate.add_argument("--out", type=Path, required=True, help="CSV file to write")
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser(
        "predict", help="segment lesion images with a trained model.pt",
        description="Segment every image in a folder (any size) with a model trained by the "
                    "workflow; writes <stem>.png masks (0/255) of the images' own size.",
    )
    predict.add_argument("--model", type=Path, required=True, help="results/.../model.pt")
    predict.add_argument("--images", type=Path, required=True, help="folder of images")
    predict.add_argument("--out", type=Path, required=True, help="folder for the masks")
    predict.add_argument("--device", default="auto", help="auto (default), cpu or cuda[:N]")
    predict.add_argument("--batch-size", type=_positive_int, default=32)
    predict.set_defaults(run=_predict)

    released = commands.add_parser(
        "import-checkpoint", help="make one of the paper's released models a model.pt",
        description="Read a trained model of the paper's code release (ham_a1.pt, "
                    "ham_a1class.pt, ham_coseg.pt) without running code from it, map its "
                    "weights onto this project's model and write a checkpoint that predict, "
                    "evaluate and the workflow read, with protocol paper's input pipeline.",
    )
    released.add_argument("released", type=Path, metavar="RELEASED.pt",
                          help="the released file")
    released.add_argument("--model", required=True, choices=MODEL_NAMES,
                          help="which of the paper's models the file holds")
    released.add_argument("--out", type=Path, required=True, help="the model.pt to write")
    released.add_argument("--dataset", default="ham10000", metavar="FORMAT",
                          help="the dataset format whose paper pipeline it was trained with "
                               "(default: ham10000)")
    released.set_defaults(run=_import_checkpoint)

    marks = commands.add_parser(
        "recist-from-masks", help="measure the RECIST marks of lesion masks into lesions.csv",
        description="Measure each <id>.png mask as a radiologist marks a lesion (long axis: "
                    "its longest chord; short axis: its longest chord perpendicular to the "
                    "long one, crossing it) and write lesions.csv for a recist dataset: id, "
                    "image, mask and x1,y1,x2,y2 (long axis), x3,y3,x4,y4 (short axis) in "
                    "pixels, paths relative to the CSV's folder.",
    )
    marks.add_argument("masks", type=Path, metavar="MASKS_DIR", help="folder of <id>.png masks")
    marks.add_argument("--out", type=Path, required=True, help="the lesions.csv to write")
    marks.add_argument("--images", type=Path, default=None,
                       help="folder of the images, <id> as the mask's (default: the images "
                            "folder beside MASKS_DIR)")
    marks.set_defaults(run=_recist_from_masks)

    table = commands.add_parser(
        "table", help="rebuild the paper's results table from the evaluated runs",
        description="Tabulate every results/<dataset>/<protocol>/<model>/seed<N>/summary.json "
                    "found: the "
                    "paper's table (Markdown, LaTeX, CSV) with mean ± std over seeds and the "
                    "change against A1, the comparison with the published numbers, and the "
                    "paired comparisons of the models lesion by lesion (and ablations).",
    )
    table.add_argument("results_dir", type=Path, metavar="RESULTS_DIR",
                       help="the workflow's results folder")
    table.add_argument("--out", type=Path, default=None,
                       help="folder for the tables (default: RESULTS_DIR/tables)")
    table.set_defaults(run=_table)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.run(args)
    except WeaklesionError as error:
        print(f"weaklesion {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0
