"""Print the pipeline's performance figures side by side with their bare-PyTorch references.

    python benchmarks/bench.py [--model resnet18] [--img-size 64] [--batch-size 64] [--threads 2]

1. training throughput of the project's Trainer on a cached dataset vs the plainest
   PyTorch loop (same model, batch size, threads, data already in memory);
2. proxy-step throughput (misclassified search + batched CAM + PNGs + manifest) vs the
   bare batched CAM computation on the same images;
3. `snakemake -n` time for a thesis-scale grid and for a no-op rerun when all is done;
4. per-job start-up cost (imports, model build) and peak memory of a training job;
5. training throughput of every augmentation arm against the plain epoch (same model, data, threads);
6. start-up of each kind of job (training, proxy step, explain, table, plot, data): its script's
   imports in a fresh interpreter, and which heavy libraries (torch, grad-cam, matplotlib...) it loads;
   and the same job handed to the run's running warm worker (proxy_attention.workers);
7. the proxy step's peak memory for two sizes of the edited set;
8. (only with --only e2e) a config end to end with training.device = --device and then cpu,
   runs.csv side by side.

1, 2 and 5 run on --device (default auto: CUDA where available), the bare loop with the Trainer's
autocast and memory format; --cuda-paths takes the CUDA-only paths on the CPU. On a GPU machine
benchmarks/gpu_check.sh runs 1, 2, 5 and 8 at resnet50 224 px beside the published anchors.

Targets (2-core CPU): 1. >= 0.9, 2. >= 0.7, 3. each < 30 s, 5. tensor methods (mixup, cutmix,
random_erasing) cost <= 20 %, 7. the step's peak grows by at most 100 MB from 1,000 to 4,000
edited images at 32 px. Figures go to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def fmt(x: float) -> str:
    return f"{x:,.1f}"


def synthetic(n: int, size: int, classes: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)
    y = torch.randint(0, classes, (n,), generator=g)
    return x, y


def best_of(fns: dict, repeats: int) -> dict:
    """Run the functions in turn, ``repeats`` times; the best images/s of each.

    Interleaving and taking the best keeps the ratio honest on a machine where other
    work comes and goes: both sides get the same chances at a quiet moment.
    """
    best = {k: 0.0 for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            n, seconds = fn()
            best[k] = max(best[k], n / seconds)
    return best


def timed(fn, n, device=None):
    """``fn`` as a ``best_of`` entry: (images, seconds); on CUDA the clock stops when the GPU is done."""
    def run():
        t = time.perf_counter()
        fn()
        if device is not None and device.type == "cuda":
            import torch

            torch.cuda.synchronize(device)
        return n, time.perf_counter() - t
    return run


# Published training throughputs at 224 px (../shared/reference/NOTES.md §5 and §7), printed beside line 1.
ANCHORS = {
    "resnet18": [("timm, RTX 3090, AMP, channels_last", 3482)],
    "resnet50": [("timm, RTX 3090, AMP, channels_last", 1218), ("NVIDIA, one A100 80GB, AMP", 2470)],
}
# The thesis's proxy step on its GPU: ~1.2k proxy images with GradCAM++ in ~9 s (NOTES.md §5).
THESIS_PROXY = 1200 / 9


def where(trainer) -> str:
    """How a Trainer computes, for the printed lines: empty for the plain CPU run (the lines stay as they were)."""
    if not trainer.cuda_paths:
        return ""
    import torch

    dev = trainer.device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU with the CUDA paths"
    amp = str(trainer.amp_dtype).replace("torch.", "") if trainer.amp_dtype else "fp32"
    layout = ", channels_last" if trainer.s.channels_last else ""
    compiled = ", torch.compile" if trainer.forward is not trainer.model else ""
    return f" on {dev} ({name}: {amp}{layout}{compiled})"


def anchor_line(model: str, img_size: int, ours: float) -> str | None:
    """The published anchors of ``model`` beside this run's figure (a ratio only at their 224 px)."""
    if model not in ANCHORS:
        return None
    parts = []
    for label, value in ANCHORS[model]:
        ratio = f" = {ours / value:.2f} x" if img_size == 224 else ""
        parts.append(f"{label} {value:,} img/s{ratio}")
    note = "" if img_size == 224 else f" (at 224 px; this run {img_size} px: no ratio)"
    return f"   published anchors, {model} 224 px training (NOTES.md §5, §7): " + "; ".join(parts) + note


def bench_training(args) -> None:
    import timm
    import torch
    import torch.nn.functional as F

    from proxy_attention.train.schedule import parse_schedule
    from proxy_attention.train.settings import TrainSettings
    from proxy_attention.train.trainer import Trainer

    torch.set_num_threads(args.threads)
    n = args.train_images
    x, y = synthetic(n, args.img_size, 10)

    # project code: Trainer.train_epoch (uint8 cache -> float, batched augmentation, normalise)
    s = TrainSettings(model=args.model, num_classes=10, classes=[str(i) for i in range(10)], img_size=args.img_size,
                      batch_size=args.batch_size, crop_pad=2, hflip=True, deterministic=False, device=args.device,
                      amp=args.amp, compile=args.compile)
    trainer = Trainer(s, parse_schedule(str(10 * args.repeats)), threads=args.threads, cuda_paths=args.cuda_paths)
    dev = trainer.device
    x, y = trainer.stage(x), trainer.stage(y)  # on a GPU the round's images live there, as in train_round

    # the plainest loop: same model and optimizer, normalised float data already in memory (on the device),
    # with the Trainer's autocast and memory format (so on a GPU: AMP and channels_last, as timm's anchors)
    torch.manual_seed(0)
    model = timm.create_model(args.model, num_classes=10).to(dev)
    layout = torch.channels_last if trainer.cuda_paths and s.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-5)
    scaler = torch.amp.GradScaler(dev.type, enabled=trainer.amp_dtype == torch.float16)
    xf = ((x.float() / 255 - 0.45) / 0.225).contiguous(memory_format=layout)

    def bare_epoch():
        model.train()
        perm = torch.randperm(n, device=dev)
        for b in range(0, n, args.batch_size):
            idx = perm[b : b + args.batch_size]
            with torch.autocast(dev.type, dtype=trainer.amp_dtype or torch.float32, enabled=trainer.amp_dtype is not None):
                loss = F.cross_entropy(model(xf[idx]), y[idx])
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

    trainer.train_epoch(x[: args.batch_size * 2], y[: args.batch_size * 2])  # warm-up both
    bare_epoch()
    best = best_of({"ours": timed(lambda: trainer.train_epoch(x, y), n, dev), "bare": timed(bare_epoch, n, dev)},
                   args.repeats)
    print(f"1. training {args.model} {args.img_size}px bs{args.batch_size} {args.threads} threads{where(trainer)}, "
          f"{n} images: project {fmt(best['ours'])} img/s, bare loop {fmt(best['bare'])} img/s, "
          f"ratio {best['ours'] / best['bare']:.2f} (target >= 0.9; best of {args.repeats} interleaved epochs)")
    anchors = anchor_line(args.model, args.img_size, best["ours"]) if args.anchors else None
    if anchors:
        print(anchors)


def bench_proxy(args) -> None:
    import torch
    from pytorch_grad_cam import GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from proxy_attention.atomic import torch_save
    from proxy_attention.data.tensors import Normalize
    from proxy_attention.devices import resolve_device
    from proxy_attention.models import cam_target, create_model
    from proxy_attention.proxy.step import ProxySettings, run_proxy_step
    from proxy_attention.train.predictions import KEY, record_predictions

    try:  # the maps made on the model's device (issue 26); absent from older code
        from proxy_attention.cams import cam_maps
    except ImportError:
        cam_maps = None
    torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    n = args.proxy_images
    x, y = synthetic(n, args.img_size, 10, seed=1)
    torch.manual_seed(0)
    model = create_model(args.model, 10).to(dev)
    norm = Normalize(device=dev)
    # labels = anything but the prediction, so every image is misclassified and gets a CAM
    with torch.no_grad():
        model.eval()
        pred = torch.cat([model(norm(x[i:i + 256].to(dev).float() / 255)).argmax(1).cpu() for i in range(0, n, 256)])
    y = (pred + 1) % 10
    rows = np.arange(n)
    tmp = Path(tempfile.mkdtemp())
    state = {"model": model.state_dict(), "model_name": args.model, "num_classes": 10,
             "classes": [str(i) for i in range(10)], "img_size": args.img_size,
             "mean": norm.mean.flatten().tolist(), "std": norm.std.flatten().tolist()}
    bare_ckpt, recorded_ckpt = tmp / "bare.pt", tmp / "recorded.pt"
    torch_save(bare_ckpt, state)  # no recorded search: the proxy step searches itself
    # as the pipeline writes it: the training job records the search (train/predictions.py) in its checkpoint
    torch_save(recorded_ckpt, {**state, KEY: record_predictions(model, x, y, rows, norm, args.batch_size, dev)})
    settings = ProxySettings(cam_method="gradcampp", proxy_threshold=0.5, proxy_image_weight=0.5,
                             batch_size=args.batch_size, cam_target_layer=args.cam_layer)
    paths = [f"img{i}.png" for i in range(n)]
    layer_name, layer, reshape = cam_target(model, args.cam_layer)
    inputs = norm(x.to(dev).float() / 255)

    def step(ckpt):
        return lambda: run_proxy_step(ckpt, x, y, rows, paths, [str(i) for i in range(10)], settings, seed=0, round_=1,
                                      out_dir=tmp / "proxy1", device=str(dev), threads=args.threads)

    def search_in_training():  # what the training job adds to its round when a proxy step follows
        record_predictions(model, x, y, rows, norm, args.batch_size, dev)

    def bare():
        with GradCAMPlusPlus(model=model, target_layers=[layer], reshape_transform=reshape) as cam:
            for b in range(0, n, args.batch_size):
                cam(input_tensor=inputs[b:b + args.batch_size],
                    targets=[ClassifierOutputTarget(int(c)) for c in pred[b:b + args.batch_size]])

    def bare_device():  # the pipeline's own CAM classes, maps kept as tensors on the model's device
        cam_maps(model, inputs, pred.tolist(), "gradcampp", layer_name, layer, reshape, batch_size=args.batch_size)

    fns = {"job": timed(step(recorded_ckpt), n, dev), "searching": timed(step(bare_ckpt), n, dev),
           "search": timed(search_in_training, n, dev), "bare": timed(bare, n, dev)}
    if cam_maps is not None:
        fns["bare_device"] = timed(bare_device, n, dev)
    best = best_of(fns, args.repeats)
    shutil.rmtree(tmp)
    both = 1 / (1 / best["job"] + 1 / best["search"])  # step + the search the training job ran for it
    device_line = "" if cam_maps is None else (
        f"   the same batched CAM with the pipeline's device classes (cams.py, no step around it) "
        f"{fmt(best['bare_device'])} img/s, ratio {best['bare_device'] / best['bare']:.2f} to the library's; "
        f"the step against it {best['job'] / best['bare_device']:.2f}, with the search "
        f"{both / best['bare_device']:.2f}\n")
    on = "" if dev.type == "cpu" else f" on {dev} ({torch.cuda.get_device_name(dev)})"
    print(f"2. proxy step {args.model} {args.img_size}px GradCAM++ at '{layer_name}'{on}, {n} wrong images "
          f"(best of {args.repeats} interleaved runs; bare batched CAM, pytorch-grad-cam's GradCAMPlusPlus, "
          f"{fmt(best['bare'])} img/s):\n"
          f"   proxy step as the pipeline runs it (search recorded by training) {fmt(best['job'])} img/s, "
          f"ratio {best['job'] / best['bare']:.2f} (target >= 0.7)\n"
          f"   counting the search where it now runs (training job, {fmt(best['search'])} img/s) {fmt(both)} img/s, "
          f"ratio {both / best['bare']:.2f} (target >= 0.8)\n"
          f"   a proxy step that searches itself (a checkpoint without a record) {fmt(best['searching'])} img/s, "
          f"ratio {best['searching'] / best['bare']:.2f}\n" + device_line, end="")
    if args.anchors:
        print(f"   published anchor: the thesis's proxy step, ~1.2k images with GradCAM++ in ~9 s on its GPU, "
              f"about {fmt(THESIS_PROXY)} img/s (NOTES.md §5); this run {best['job'] / THESIS_PROXY:.2f} x")


THESIS_GRID = """
datasets: {digits: {}}
models: [resnet18]
folds: 5
img_size: 64
schedules: [[5, p, 9, p, 9, p, 9, p, 4]]
proxy:
  cam_method: [gradcam, gradcampp]
  proxy_threshold: [0.1, 0.4, 0.8, 0.85]
  proxy_image_weight: [0.1, 0.2, 0.4, 0.8]
  subset_wrong: [0.2, 0.8, 0.95]
"""


def bench_dryrun(args) -> None:
    work = Path(tempfile.mkdtemp())
    (work / "grid.yaml").write_text(THESIS_GRID)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", str(work / "grid.yaml"), "--cores", "1"]
    t = time.perf_counter()
    out = subprocess.run(cmd + ["-n"], capture_output=True, text=True)
    dry = time.perf_counter() - t
    if out.returncode:
        print(out.stdout[-2000:], out.stderr[-2000:])
        raise SystemExit("dry run failed")
    total = next((line.split()[-1] for line in out.stdout.splitlines() if line.startswith("total")), "?")
    # make every output exist (as if the grid had run), in DAG order, then time the no-op rerun
    outputs = [o.strip() for line in out.stdout.splitlines() if line.strip().startswith("output:")
               for o in line.split(":", 1)[1].split(",")]
    for o in outputs:
        path = work / o
        if o.endswith("/images") or o.startswith("resources/datasets/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    subprocess.run(cmd + ["--touch"], capture_output=True, text=True, check=True)
    t = time.perf_counter()
    noop = subprocess.run(cmd + ["-n"], capture_output=True, text=True)
    rerun = time.perf_counter() - t
    nothing = "Nothing to be done" in noop.stdout + noop.stderr
    shutil.rmtree(work)
    print(f"3. snakemake -n, thesis-scale grid (96 proxy configs x 5 folds, 4 proxy steps, {total} jobs): "
          f"{dry:.1f} s; no-op rerun with all {len(outputs)} outputs present: {rerun:.1f} s "
          f"({'nothing to be done' if nothing else 'NOT a no-op'}) (target < 30 s each)")


def bench_startup(args) -> None:
    code = (
        "import time, resource; t=time.perf_counter();"
        "import torch, timm; import proxy_attention.train.trainer, proxy_attention.data.tensors, proxy_attention.proxy.step;"
        "t1=time.perf_counter();"
        f"m=timm.create_model('{args.model}', num_classes=10);"
        "t2=time.perf_counter();"
        "print(f'{t1-t:.2f} {t2-t1:.2f}')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imports, build = map(float, out.stdout.split())
    print(f"4. job start-up: imports {imports:.2f} s, model build {build:.2f} s; "
          f"peak memory of this benchmark process (training + proxy step): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


# The job kinds of the workflow and the script each runs (workflow/scripts/<name>.py).
JOB_KINDS = {
    "training": ["train_round"],
    # train_proxy runs the same script, which imports the proxy step where it runs it
    "proxy step": ["train_round+proxy"],
    "explain": ["explain"],
    "table": ["aggregate", "compare", "fold_summary", "leakage_audit"],
    "plot": ["plot_test_accuracy", "plot_learning_curves", "plot_heatmap", "plot_runtime",
             "plot_gallery", "explain_gallery"],
    "data": ["index_dataset", "split_dataset", "cache_images"],
}
HEAVY_MODULES = ("torch", "torchvision", "timm", "pytorch_grad_cam", "cv2", "matplotlib", "seaborn",
                 "pandas", "sklearn", "scipy")


def script_imports(script: Path) -> str:
    """The top-level import statements of a workflow script: what its job pays before any work."""
    import ast

    tree = ast.parse(script.read_text())
    return "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))


def bench_job_startup(args) -> None:
    """6. Start-up and exit of each kind of job: a fresh interpreter running its script's imports, best of 3.

    Three figures per job kind: the process with Python's normal exit, the process as the job ends
    it (``end_job()``, os._exit, in the scripts that call it: the torch jobs), and the job's command
    as a local run starts it when its worker is running (``python -m proxy_attention.workers.launch
    PYTHON SCRIPT``, what the Snakefile's shell.prefix makes of it): the launcher's start, the
    hand-over, the fork's remaining imports and its exit.
    """
    probe = "import sys\n{imports}\nprint(' '.join(m for m in {heavy!r} if m in sys.modules), flush=True)\n{end}"
    from proxy_attention.workers.address import THREAD_VARIABLES

    # what Snakemake puts in a job's environment (threads: 1), as in the workflow's jobs
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), **{k: "1" for k in THREAD_VARIABLES})
    env.pop("PROXY_ATTENTION_WARM_RUN", None)
    work = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])  # a stand-in Snakemake run
    warm_env = dict(env, PROXY_ATTENTION_WARM_RUN=str(run.pid))
    print("6. job start-up by kind (python start + the script's imports + exit, best of 3; "
          "warm: the same job handed to a running warm worker):")
    print(f"   {'kind':10s} {'script':22s} {'normal exit':>11s} {'as the job ends':>15s} {'warm worker':>11s}")
    try:
        for kind, scripts in JOB_KINDS.items():
            for name in scripts:
                script, _, extra = name.partition("+")
                path = REPO / "workflow" / "scripts" / f"{script}.py"
                imports = script_imports(path)
                if extra == "proxy":  # the import train_round.py makes when its job writes a proxy step
                    imports += "\nfrom proxy_attention.proxy.job import write_proxy_step"
                text = path.read_text()
                ends = "end_job()" in text
                job_end = "from proxy_attention.logs import end_job\nend_job()" if ends else ""
                walls, loaded = [], ""
                for end in ("", job_end) if ends else ("",):
                    code = probe.format(imports=imports, heavy=HEAVY_MODULES, end=end)
                    best = float("inf")
                    for _ in range(3):
                        t = time.perf_counter()
                        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                             check=True).stdout.strip()
                        best = min(best, time.perf_counter() - t)
                        loaded = out
                    walls.append(best)
                job = work / f"{script}_{extra or 'job'}.py"
                job.write_text(probe.format(imports=imports, heavy=HEAVY_MODULES, end=job_end))
                launch = [sys.executable, "-P", "-m", "proxy_attention.workers.launch", sys.executable, str(job)]
                best = float("inf")
                for i in range(4):  # the first starts the worker (its imports), not counted
                    t = time.perf_counter()
                    subprocess.run(launch, capture_output=True, cwd=work, env=warm_env, check=True)
                    if i:
                        best = min(best, time.perf_counter() - t)
                warm = f"{best:9.2f} s"
                as_job = f"{walls[-1]:13.2f} s" if ends else f"{'(same)':>15s}"
                print(f"   {kind:10s} {name:22s} {walls[0]:9.2f} s {as_job} {warm}  loads: {loaded or '-'}")
    finally:
        run.kill()
        run.wait()
        time.sleep(1)  # the worker sees its run end and exits
        shutil.rmtree(work, ignore_errors=True)


def bench_augmentations(args) -> None:
    import torch

    from proxy_attention.augment.table import names
    from proxy_attention.train.schedule import parse_schedule
    from proxy_attention.train.settings import TrainSettings
    from proxy_attention.train.trainer import Trainer

    torch.set_num_threads(args.threads)
    n = args.train_images
    x, y = synthetic(n, args.img_size, 10)
    methods = args.augmentations or list(names())
    trainers = {}
    for name in methods:
        s = TrainSettings(model=args.model, num_classes=10, classes=[str(i) for i in range(10)],
                          img_size=args.img_size, batch_size=args.batch_size, crop_pad=2, hflip=True,
                          deterministic=False, augmentation=name, saliency_layer=args.cam_layer, device=args.device,
                          amp=args.amp)
        trainers[name] = Trainer(s, parse_schedule(str(10 * args.repeats)), threads=args.threads,
                                 cuda_paths=args.cuda_paths)
        x, y = trainers[name].stage(x), trainers[name].stage(y)  # once: on a GPU the images live there
        trainers[name].train_epoch(x[: args.batch_size * 2], y[: args.batch_size * 2])  # warm-up
    dev = next(iter(trainers.values())).device
    fns = {k: timed(lambda t=t: t.train_epoch(x, y), n, dev) for k, t in trainers.items()}
    cam_arms = [k for k, t in trainers.items() if t.augmentation is not None and t.augmentation.needs_cam]
    if cam_arms:  # the extra pass alone: the GradCAM of every batch of the epoch, as the CAM arms ask for it
        cam_trainer = trainers[cam_arms[0]]

        def extra_pass():
            for b in range(0, n, args.batch_size):
                cam_trainer._cam(cam_trainer._to_unit(x[b:b + args.batch_size]), y[b:b + args.batch_size])

        fns["(extra pass)"] = timed(extra_pass, n, dev)
    best = best_of(fns, args.repeats)
    plain = best.get("none") or next(iter(best.values()))
    print(f"5. training throughput by augmentation, {args.model} {args.img_size}px bs{args.batch_size} "
          f"{args.threads} threads{where(next(iter(trainers.values())))}, {n} images "
          f"(best of {args.repeats} interleaved epochs; cost = 1 - ratio):")
    for name in methods:
        extra = ""
        if name in cam_arms and "none" in best:
            above = 1000 / best[name] - 1000 / plain  # ms per image above the plain epoch
            extra = (f"  {above:.2f} ms/img above none = {above / (1000 / best['(extra pass)']):.2f} x "
                     "the extra pass (target <= 1)")
        print(f"   {name:17s} {fmt(best[name]):>8s} img/s  ratio to none {best[name] / plain:.2f}  "
              f"cost {100 * (1 - best[name] / plain):+.0f} %{extra}")
    if cam_arms:
        print(f"   the extra pass alone (Trainer._cam: the GradCAM of each batch's true class, "
              f"forward + the backward pass down to its layer "
              f"in eval mode, maps on the device) {fmt(best['(extra pass)'])} img/s = "
              f"{1000 / best['(extra pass)']:.2f} ms/img")


def _rss_kib(field: str) -> int:
    """A line of /proc/self/status in KiB: VmRSS (resident now) or VmHWM (its peak since the last reset)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def proxy_memory_child(size: int, n: int, args) -> None:
    """One proxy step on ``n`` misclassified ``size`` px images, in this (fresh) process; print its memory as JSON.

    The images, the model and a checkpoint with the recorded search (as the pipeline writes it) are
    made first, batch by batch; the peak resident memory is then reset (Linux: /proc/self/clear_refs)
    so that the figure is the step's own, not the set-up's.
    """
    import ctypes
    import gc
    import json

    import torch

    from proxy_attention.atomic import torch_save
    from proxy_attention.data.tensors import Normalize
    from proxy_attention.models import create_model
    from proxy_attention.proxy.step import ProxySettings, run_proxy_step
    from proxy_attention.train.predictions import KEY, record_predictions

    torch.set_num_threads(args.threads)
    x, _ = synthetic(n, size, 10, seed=1)
    torch.manual_seed(0)
    model = create_model(args.model, 10)
    norm = Normalize()
    with torch.no_grad():
        model.eval()
        pred = torch.cat([model(norm(x[i:i + 256].float() / 255)).argmax(1) for i in range(0, n, 256)])
    y = (pred + 1) % 10  # every image misclassified: all n are edited
    rows = np.arange(n)
    tmp = Path(tempfile.mkdtemp())
    ckpt = tmp / "recorded.pt"
    torch_save(ckpt, {"model": model.state_dict(), "model_name": args.model, "num_classes": 10,
                      "classes": [str(i) for i in range(10)], "img_size": size,
                      "mean": norm.mean.flatten().tolist(), "std": norm.std.flatten().tolist(),
                      KEY: record_predictions(model, x, y, rows, norm, args.batch_size, "cpu")})
    settings = ProxySettings(cam_method="gradcampp", proxy_threshold=0.5, proxy_image_weight=0.5,
                             batch_size=args.batch_size, cam_target_layer=args.cam_layer)
    del model, pred
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # start from what the set-up really holds
    except (OSError, AttributeError):
        pass
    before = _rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    t = time.perf_counter()
    manifest = run_proxy_step(ckpt, x, y, rows, [f"img{i}.png" for i in range(n)], [str(i) for i in range(10)],
                              settings, seed=0, round_=1, out_dir=tmp / "proxy1", device="cpu", threads=args.threads)
    wall = time.perf_counter() - t
    peak = _rss_kib("VmHWM")
    written = len(manifest)
    del manifest
    gc.collect()
    after = _rss_kib("VmRSS")
    try:  # what the train_proxy job does next, before its round trains
        from proxy_attention.proxy.job import release_memory
    except ImportError:  # code from before issue 30
        released = None
    else:
        release_memory()
        released = _rss_kib("VmRSS")
    shutil.rmtree(tmp)
    print(json.dumps({"size": size, "n": n, "written": written, "before_kib": before, "peak_kib": peak,
                      "after_kib": after, "released_kib": released,
                      "process_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "wall_s": wall}))


def bench_proxy_memory(args) -> None:
    """7. The proxy step's peak memory for two sizes of the edited set at two image sizes, each in a fresh process."""
    import json

    layer = args.cam_layer or "layer3"  # resnet18's layer4 is 1x1 at 32 px
    results = []
    for spec in args.memory_sizes:
        size, counts = spec.split(":")
        for n in counts.split(","):
            cmd = [sys.executable, __file__, "--proxy-memory-child", size, n, "--model", args.model,
                   "--threads", str(args.threads), "--batch-size", str(args.batch_size), "--cam-layer", layer]
            out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
            if out.returncode:
                print(out.stdout[-2000:], out.stderr[-2000:])
                raise SystemExit("proxy memory child failed")
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    mb = 1024 / 1e6  # KiB -> MB
    print(f"7. proxy step peak memory, {args.model} GradCAM++ at '{layer}', batch {args.batch_size}, {args.threads} threads, "
          "every image misclassified, one fresh process each (MB resident; step = peak during the step - before it; "
          "released = after the train_proxy job's release_memory(), before its round):")
    print(f"   {'px':>4s} {'edited':>7s} {'before':>8s} {'peak':>8s} {'step':>7s} {'after':>8s} {'released':>8s} "
          f"{'process peak':>12s} {'wall':>7s}")
    for r in results:
        print(f"   {r['size']:4d} {r['written']:7,d} {r['before_kib'] * mb:8,.0f} {r['peak_kib'] * mb:8,.0f} "
              f"{(r['peak_kib'] - r['before_kib']) * mb:7,.0f} {r['after_kib'] * mb:8,.0f} "
              f"{format(r['released_kib'] * mb, '8,.0f') if r['released_kib'] else '       -'} "
              f"{r['process_peak_kib'] * mb:12,.0f} {r['wall_s']:6.1f}s")
    for size in sorted({r["size"] for r in results}):
        rs = sorted((r for r in results if r["size"] == size), key=lambda r: r["n"])
        if len(rs) >= 2:
            lo, hi = rs[0], rs[-1]
            grow = ((hi["peak_kib"] - hi["before_kib"]) - (lo["peak_kib"] - lo["before_kib"])) * mb
            print(f"   {size} px: the step's peak grows by {grow:,.0f} MB from {lo['n']:,} to {hi['n']:,} edited images "
                  f"({1000 * grow / (hi['n'] - lo['n']):,.1f} KB per image)"
                  + (" (target <= 100 MB from 1,000 to 4,000 at 32 px)" if size == 32 else ""))


# The end-to-end run's smaller variant (gpu_check.sh --device cpu): fewer images, no explain jobs.
E2E_SMALL = {"datasets": {"digits": {"max_per_class": 20}}, "explain": {"enabled": False}, "run_folds": [0]}
E2E_KEYS = ["fold", "method", "config", "round"]
E2E_FIGURES = ["test_acc", "val_acc", "test_loss", "n_proxies"]


def run_workflow(device: str, config: Path, overlay: dict, cores: int, workdir: Path):
    """``snakemake --cores N`` of ``config`` (+ ``overlay``) with ``training.device: device`` in ``workdir``:
    (wall seconds, runs.csv). Exits with the run's output when it fails."""
    import pandas as pd
    import yaml

    extra = workdir / "bench_overlay.yaml"
    extra.write_text(yaml.safe_dump({**overlay, "training": {**overlay.get("training", {}), "device": device}}))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(config), str(extra), "--cores", str(cores)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if out.returncode:
        print(out.stdout[-3000:], out.stderr[-6000:])
        raise SystemExit(f"the {device} run of {config.name} failed (snakemake exit {out.returncode})")
    return wall, pd.read_csv(workdir / "results" / "summary" / "runs.csv")


def bench_e2e(args) -> None:
    """8. A config end to end (the tiny one: every kind of job) on ``--device`` and on the CPU, numbers side by side."""
    config = Path(args.e2e_config).resolve()
    overlay = E2E_SMALL if args.e2e_small else {}
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    try:
        (work / "device").mkdir()
        (work / "cpu").mkdir()
        wall_dev, dev = run_workflow(args.device, config, overlay, args.cores, work / "device")
        wall_cpu, cpu = run_workflow("cpu", config, overlay, args.cores, work / "cpu")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    both = dev.merge(cpu, on=E2E_KEYS, suffixes=("_dev", "_cpu"), how="outer", indicator=True)
    missing = int((both["_merge"] != "both").sum())
    print(f"8. end to end, {config.name}{' (small: ' + ', '.join(overlay) + ' overridden)' if overlay else ''}, "
          f"snakemake --cores {args.cores}: {args.device} {wall_dev:.1f} s (rounds {dev['round_wall_s'].sum():.1f} s), "
          f"cpu {wall_cpu:.1f} s (rounds {cpu['round_wall_s'].sum():.1f} s); {len(dev)} and {len(cpu)} rows of runs.csv, "
          f"{missing} in one run only")
    print(f"   {'fold':>4s} {'method':18s} {'round':>5s} "
          + " ".join(f"{f + ' ' + args.device + '/cpu':>24s}" for f in E2E_FIGURES) + "  config")
    for _, r in both[both["_merge"] == "both"].iterrows():
        print(f"   {r['fold']:>4} {str(r['method']):18s} {r['round']:>5} "
              + " ".join(f"{format(r[f + '_dev'], '.4g') + ' / ' + format(r[f + '_cpu'], '.4g'):>24s}"
                         for f in E2E_FIGURES) + f"  {r['config']}")
    ok = both[both["_merge"] == "both"]
    deltas = ", ".join(f"max |Δ {f}| {(ok[f + '_dev'] - ok[f + '_cpu']).abs().max():.4g}" for f in E2E_FIGURES)
    print(f"   {args.device} against cpu: {deltas} (AMP and other kernels on a GPU: small differences "
          f"are expected; the same device twice gives 0)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18")
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--train-images", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the best of each side counts")
    p.add_argument("--proxy-images", type=int, default=256)
    p.add_argument("--cam-layer", default=None, help="CAM target layer override (default: timm feature_info)")
    p.add_argument("--only", nargs="*", choices=["train", "proxy", "dryrun", "startup", "augment", "jobs", "memory", "e2e"],
                   help="steps to run (default: all but e2e)")
    p.add_argument("--memory-sizes", nargs="*", default=["32:1000,4000", "64:250,1000"],
                   help="for 7: image size and edited-set sizes, e.g. 32:1000,4000")
    p.add_argument("--proxy-memory-child", nargs=2, type=int, metavar=("SIZE", "N"), help=argparse.SUPPRESS)
    p.add_argument("--augmentations", nargs="*", help="arms for step 5 (default: every method)")
    p.add_argument("--device", default="auto", help="training, proxy step and arms: auto, cpu, cuda[:N]")
    p.add_argument("--cuda-paths", action="store_true",
                   help="take the CUDA-only paths (AMP, channels_last) on the CPU too (Trainer's cuda_paths)")
    p.add_argument("--amp", default="auto", help="1 and 5: training.amp (auto, bf16, fp16, none; CUDA or --cuda-paths)")
    p.add_argument("--compile", action="store_true", help="1: the project's epoch torch.compile'd (training.compile)")
    p.add_argument("--anchors", action="store_true", help="print the published anchors beside 1 and 2")
    p.add_argument("--e2e-config", default=str(REPO / "tests" / "configs" / "tiny.yaml"), help="8: the config")
    p.add_argument("--e2e-small", action="store_true", help="8: fewer images, one fold and no explain jobs (CPU checks)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="8: snakemake --cores")
    args = p.parse_args(argv)
    if args.proxy_memory_child:
        return proxy_memory_child(*args.proxy_memory_child, args)
    import torch

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.threads} threads, python {platform.python_version()}")
    steps = {"train": bench_training, "proxy": bench_proxy, "dryrun": bench_dryrun, "startup": bench_startup,
             "augment": bench_augmentations, "jobs": bench_job_startup, "memory": bench_proxy_memory, "e2e": bench_e2e}
    for name in args.only or [k for k in steps if k != "e2e"]:
        steps[name](args)


if __name__ == "__main__":
    main()
