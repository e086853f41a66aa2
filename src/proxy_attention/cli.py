"""Command line: ``proxy-attention predict --checkpoint X --images DIR --out DIR``."""

from __future__ import annotations

import argparse
import logging
import sys

from proxy_attention.cams import CAM_METHODS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="proxy-attention", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "predict",
        help="predict a folder of images with a trained checkpoint; write predictions.csv and CAM overlays",
        description="Predict every image under --images (recursively) with a checkpoint.pt of the workflow "
        "(results/runs/.../round<r>/checkpoint.pt). Writes OUT/predictions.csv (file, predicted class, "
        "probability, top-k classes and probabilities) and OUT/cams/<file>.png (CAM of the predicted class).",
    )
    p.add_argument("--checkpoint", required=True, help="a checkpoint.pt written by the workflow")
    p.add_argument("--images", required=True, help="folder of images (searched recursively)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--cam-method", default="gradcam", choices=sorted(CAM_METHODS))
    p.add_argument("--cam-target-layer", default=None, help="dotted module path of the CAM layer (default: automatic)")
    p.add_argument("--top-k", type=int, default=3, help="classes listed per image (default 3)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    p.add_argument("--no-cams", action="store_true", help="predictions only, no CAM overlays")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.command == "predict":
        from proxy_attention.predict import predict_folder

        if args.top_k < 1 or args.batch_size < 1:
            print("proxy-attention predict: --top-k and --batch-size must be at least 1", file=sys.stderr)
            return 2
        try:
            table = predict_folder(args.checkpoint, args.images, args.out, cam_method=args.cam_method,
                                   cam_target_layer=args.cam_target_layer, top_k=args.top_k,
                                   batch_size=args.batch_size, device=args.device, cams=not args.no_cams)
        except (FileNotFoundError, ValueError, RuntimeError) as e:
            print(f"proxy-attention predict: {e}", file=sys.stderr)
            return 1
        print(f"{len(table)} files -> {args.out}/predictions.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
