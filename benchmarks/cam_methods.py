"""Per-image cost of every CAM method, every pixel replacement and the explanation metrics on this machine.

    python benchmarks/cam_methods.py [--model resnet18] [--sizes 64 224] [--images 16] [--threads 2]
                                     [--device cpu] [--methods gradcam scorecam ...] [--no-metrics]

For each image size: a randomly initialised model (weights do not change the cost),
``--images`` random images in one batch, every CAM method through the pipeline's
``compute_cams`` (fp32, batched, hooks on the default target layer), then every
replacement of ``proxy_images`` on those CAMs, then the explanation metrics of the
``explain`` rule (ROAD combined with its default 4 percentiles, confidence change).
Each figure is the best of ``--repeats`` runs divided by the number of images. The
table is Markdown, ready for docs/cams.md.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    from proxy_attention.cams import CAM_METHODS, compute_cams
    from proxy_attention.models import cam_target, create_model
    from proxy_attention.proxy.replacement import REPLACEMENTS, proxy_images

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--methods", nargs="+", default=sorted(CAM_METHODS), choices=sorted(CAM_METHODS))
    ap.add_argument("--no-metrics", action="store_true", help="skip ROAD and the confidence change")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    print(f"# {args.model}, {args.images} images per batch, {args.threads} threads, device {dev}"
          f" ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else platform.processor() or platform.machine()}),"
          f" torch {torch.__version__}, best of {args.repeats}\n")
    rows: dict[str, dict[int, float]] = {}
    for size in args.sizes:
        torch.manual_seed(0)
        model = create_model(args.model, 10).to(dev).eval()
        layer_name, layer, reshape = cam_target(model)
        x = torch.randn(args.images, 3, size, size, device=dev)
        targets = np.arange(args.images) % 10
        compute_cams(model, x, targets, "gradcam", layer_name, layer, reshape, batch_size=args.images)  # warm-up
        # methods take turns within every repeat, so a burst of load from elsewhere hits one repeat of
        # each method rather than every repeat of one; the figure is the best repeat
        times: dict[str, list[float]] = {m: [] for m in args.methods}
        cams = None
        for r in range(args.repeats):
            for method in args.methods:
                if method == "scorecam" and r > 0:
                    continue  # minutes per image at 224 px: once is enough

                def run(method=method):
                    nonlocal cams
                    cams = compute_cams(model, x, targets, method, layer_name, layer, reshape, batch_size=args.images)

                times[method].append(best_of(run, 1))
        for method in args.methods:
            t = min(times[method])
            rows.setdefault(f"CAM {method}", {})[size] = 1000 * t / args.images
            print(f"{size:4d} px  CAM {method:<14s} {1000 * t / args.images:10.2f} ms/image", flush=True)
        x01 = torch.rand(args.images, 3, size, size)
        cam_t = torch.from_numpy(cams)
        for repl in REPLACEMENTS:
            t = best_of(lambda: proxy_images(x01, cam_t, 0.5, 0.5, repl), max(args.repeats, 5))
            rows.setdefault(f"replace {repl}", {})[size] = 1000 * t / args.images
        print(f"{size:4d} px  replacements done", flush=True)
        if not args.no_metrics:
            from pytorch_grad_cam.metrics.cam_mult_image import (
                CamMultImageConfidenceChange,
            )
            from pytorch_grad_cam.metrics.road import ROADCombined
            from pytorch_grad_cam.utils.model_targets import (
                ClassifierOutputSoftmaxTarget,
            )

            tg = [ClassifierOutputSoftmaxTarget(int(c)) for c in targets]
            t = best_of(lambda: ROADCombined(percentiles=[20, 40, 60, 80])(x, cams, tg, model), min(args.repeats, 3))
            rows.setdefault("metric ROAD combined (4 percentiles)", {})[size] = 1000 * t / args.images
            t = best_of(lambda: CamMultImageConfidenceChange()(x, cams, tg, model), args.repeats)
            rows.setdefault("metric confidence change", {})[size] = 1000 * t / args.images
            print(f"{size:4d} px  metrics done", flush=True)

    print("\n| step | " + " | ".join(f"{s} px (ms/image)" for s in args.sizes) + " |")
    print("|---|" + "---:|" * len(args.sizes))
    for name, by_size in rows.items():
        print(f"| {name} | " + " | ".join(f"{by_size.get(s, float('nan')):,.2f}" for s in args.sizes) + " |")


if __name__ == "__main__":
    main()
