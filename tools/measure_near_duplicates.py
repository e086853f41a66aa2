"""Precision of the near-duplicate decision at 32, 64 and 224 px, before and after the pixel check.

    nice -n 15 python tools/measure_near_duplicates.py ../shared/datasets/imagenette2-224.tgz --out /tmp/nd

Reads the archive (never writes to it), extracts it to a temporary folder and
downscales every image to 32 and 64 px (Lanczos; 224 is the archive's size), the
same way a user's own small-image folder would look. ``val/`` plays the test
split. Per size it computes phash and the pixel check's thumbnail with the
package's own functions (``proxy_attention.data.duplicates``) and counts:

- pairs flagged by phash alone (distance <= 6; the old decision) and those that
  also pass the pixel check (the new one), train-test and within train;
- injected copies: 50 test images each re-encoded (JPEG 75), resized (to 3/4,
  64 and 224 px only: at 32 px that is under 32 px and gets no phash), shifted
  (1.5 % of the side) and brightened, put beside the data set: how many of the
  200 are flagged before and after (recall);
- precision = true copies / pairs flagged, over the natural pairs (verdicts
  from the hand-check file, looked at by eye in the montages written to
  ``--out``) and the injected copies (copies by construction);
- a stress set of look-alikes: the natural pairs at phash distance 7 to 12 and
  the 8x8 digits upscaled to 32 px (nearest) at distance <= 6, all different
  pictures (a sample is in the montages): how many the pixel check passes.

A natural flagged pair missing from the hand-check file is listed and counted
as unchecked. Prints a Markdown table for docs/what-happens-when.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from proxy_attention.data.duplicates import (
    PHASH_THRESHOLD,
    PIXEL_THRESHOLD,
    _as_ints,
    candidate_pairs,
    largest_local_difference,
    perceptual_hash,
    thumbnail,
)

SIZES = (32, 64, 224)
LANCZOS = Image.Resampling.LANCZOS
HAND_CHECK = Path(__file__).resolve().parent.parent / "benchmarks" / "near_duplicates_hand_check.csv"


def at(img: Image.Image, side: int) -> Image.Image:
    return img if img.size == (side, side) else img.resize((side, side), LANCZOS)


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def copies(original: Image.Image, side: int) -> dict[str, Image.Image]:
    """The injected near-copies of one test image at one size."""
    w = original.width
    o = max(1, round(0.015 * w))
    x = at(original, side)
    out = {"jpeg75": jpeg(x, 75), "shift1.5%": at(original.crop((o, 0, w, w - o)), side),
           "bright": Image.eval(x, lambda v: min(255, int(v * 1.1 + 5)))}
    if side >= 64:
        out["resize75"] = x.resize((round(0.75 * side),) * 2, LANCZOS)
    return out


def distance(a: str, b: str) -> int:
    va, vb = _as_ints([a, b])[0]
    return int(np.bitwise_count(va ^ vb))


def montage(pairs, images, labels, path: Path, tile: int = 112, cols: int = 4) -> None:
    rows = (len(pairs) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (2 * tile + 16), rows * (tile + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, ((a, b), label) in enumerate(zip(pairs, labels)):
        r, c = divmod(k, cols)
        x, y = c * (2 * tile + 16), r * (tile + 14)
        for j, img in enumerate((images(a), images(b))):
            sheet.paste(img.convert("RGB").resize((tile, tile), Image.Resampling.NEAREST), (x + j * tile, y + 13))
        draw.text((x + 2, y), label, fill="black")
    sheet.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("archive", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="folder for the montages")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    verdicts = {}
    if HAND_CHECK.exists():
        with open(HAND_CHECK) as f:
            verdicts = {(r["a"], r["b"]): r["verdict"] for r in csv.DictReader(f)}

    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(args.archive) as tar:
            tar.extractall(tmp, filter="data")
        files = sorted(Path(tmp).glob("*/*/*/*.JPEG"))
        names = [f"{f.parent.parent.name}/{f.parent.name}/{f.name}" for f in files]
        is_test = np.array([n.startswith("val/") for n in names])
        rng = np.random.default_rng(args.seed)
        injected_src = rng.choice(np.flatnonzero(is_test), 50, replace=False)
        originals = {}
        feats = {s: ([], []) for s in SIZES}
        for k, f in enumerate(files):
            with Image.open(f) as im:
                rgb = im.convert("RGB")
            for s in SIZES:
                x = at(rgb, s)
                feats[s][0].append(perceptual_hash(x))
                feats[s][1].append(thumbnail(x))
            if k in injected_src:
                originals[k] = rgb

    table, stress, sampled = [], [], []
    for s in SIZES:
        hashes, thumbs = feats[s]
        i, j, d = candidate_pairs(hashes, threshold=12)
        diff = np.array([largest_local_difference(thumbs[a], thumbs[b]) for a, b in zip(i, j)])
        flagged = d <= PHASH_THRESHOLD
        kinds = np.where(is_test[i] != is_test[j], "train-test",
                         np.where(~is_test[i] & ~is_test[j], "within train", "within test"))
        natural = []
        for a, b, dd, df, kind in zip(i[flagged], j[flagged], d[flagged], diff[flagged], kinds[flagged]):
            verdict = verdicts.get((names[a], names[b])) or verdicts.get((names[b], names[a]), "unchecked")
            natural.append((names[a], names[b], int(dd), float(df), kind, verdict))
        sampled += [(n[0], n[1], f"{s}px d{n[2]} diff {n[3]:.0f}") for n in natural]
        far = ~flagged
        if s == 224:  # a sample of the stress set, for the eye
            pick = rng.choice(np.flatnonzero(far), min(24, int(far.sum())), replace=False)
            far_sample = [(names[i[k]], names[j[k]], f"d{d[k]} diff {diff[k]:.0f}") for k in pick]
        stress.append((f"Imagenette {s} px, phash 7-12", int(far.sum()), int((diff[far] <= PIXEL_THRESHOLD).sum()),
                       float(diff[far].min())))
        inj = []
        for k in injected_src:
            for variant, y in copies(originals[k], s).items():
                h, t = perceptual_hash(y), thumbnail(y)
                dd = distance(h, hashes[k])
                gray = largest_local_difference(t, thumbs[k])
                inj.append((variant, dd <= PHASH_THRESHOLD, dd <= PHASH_THRESHOLD and gray <= PIXEL_THRESHOLD, gray))
        for scope in ("train-test", "within train"):
            rows = [n for n in natural if n[4] == scope]
            before, after = rows, [n for n in rows if n[3] <= PIXEL_THRESHOLD]
            table.append({"size": s, "scope": scope, "flagged_before": len(before), "flagged_after": len(after),
                          "checked": sum(n[5] != "unchecked" for n in before),
                          "copies_before": sum(n[5] == "copy" for n in before),
                          "copies_after": sum(n[5] == "copy" for n in after)})
        n_inj = len(inj)
        per_variant = {v: (sum(x[1] for x in inj if x[0] == v), sum(x[2] for x in inj if x[0] == v),
                           sum(x[0] == v for x in inj), max(x[3] for x in inj if x[0] == v and x[1]))
                       for v in dict.fromkeys(x[0] for x in inj)}
        table.append({"size": s, "scope": "injected copies", "flagged_before": sum(x[1] for x in inj),
                      "flagged_after": sum(x[2] for x in inj), "total": n_inj, "per_variant": per_variant})
        for n in natural:
            if n[5] == "unchecked":
                print(f"UNCHECKED {s}px: {n[0]},{n[1]} d={n[2]} diff={n[3]:.1f} ({n[4]})")

    # digits upscaled to 32 px: every pair is two different handwritten digits
    from sklearn.datasets import load_digits

    digits = np.rint(load_digits().images * (255 / 16)).astype(np.uint8)
    up = [Image.fromarray(x, "L").resize((32, 32), Image.Resampling.NEAREST).convert("RGB") for x in digits]
    dh, dt = [perceptual_hash(x) for x in up], [thumbnail(x) for x in up]
    i, j, _ = candidate_pairs(dh)
    gray = np.array([largest_local_difference(dt[a], dt[b]) for a, b in zip(i, j)])
    stress.append(("digits 8 px upscaled to 32 px, phash <= 6", len(i), int((gray <= PIXEL_THRESHOLD).sum()),
                   float(gray.min())))
    pick = rng.choice(len(i), min(24, len(i)), replace=False)
    montage([(i[k], j[k]) for k in pick], lambda k: up[k], [f"digits {i[k]}|{j[k]}" for k in pick],
            args.out / "digits_flagged_sample.png")

    # the natural flagged pairs, at 224 px (the archive's own pixels), for the hand-check
    seen = list(dict.fromkeys((a, b) for a, b, _ in sampled))
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(args.archive) as tar:
        tar.extractall(tmp, filter="data")
        root = next(Path(tmp).iterdir())
        montage([(a, b) for a, b, _ in far_sample], lambda n: Image.open(root / n), [x[2] for x in far_sample],
                args.out / "imagenette_phash7to12_sample.png", tile=128)
        if seen:
            montage(seen, lambda n: Image.open(root / n), [f"{a.split('/')[-1][-10:-5]}|{b.split('/')[-1][-10:-5]}"
                                                              for a, b in seen], args.out / "imagenette_flagged.png",
                    tile=160, cols=3)

    print(f"\nphash threshold {PHASH_THRESHOLD} bits, pixel threshold {PIXEL_THRESHOLD:g} gray levels\n")
    print("| size | pairs | flagged before | flagged after | hand-checked | true copies before / after | "
          "precision before | precision after |")
    print("|---|---|---|---|---|---|---|---|")
    for r in table:
        if r["scope"] == "injected copies":
            continue
        inj = next(x for x in table if x["size"] == r["size"] and x["scope"] == "injected copies")
        pb = f"{r['copies_before']}/{r['flagged_before']}" if r["flagged_before"] else "-"
        pa = f"{r['copies_after']}/{r['flagged_after']}" if r["flagged_after"] else "- (none flagged)"
        print(f"| {r['size']} px | {r['scope']} | {r['flagged_before']} | {r['flagged_after']} | {r['checked']} | "
              f"{r['copies_before']} / {r['copies_after']} | {pb} | {pa} |")
    print("\n| size | injected copies flagged before | after | by variant (before/after/of, largest gray levels) | "
          "precision with them, before | after |")
    print("|---|---|---|---|---|---|")
    for s in SIZES:
        inj = next(x for x in table if x["size"] == s and x["scope"] == "injected copies")
        nat = [x for x in table if x["size"] == s and x["scope"] != "injected copies"]
        fb, fa = sum(x["flagged_before"] for x in nat), sum(x["flagged_after"] for x in nat)
        cb, ca = sum(x["copies_before"] for x in nat), sum(x["copies_after"] for x in nat)
        pv = ", ".join(f"{v} {b}/{a}/{n} ({g:.1f})" for v, (b, a, n, g) in inj["per_variant"].items())
        print(f"| {s} px | {inj['flagged_before']}/{inj['total']} | {inj['flagged_after']}/{inj['total']} | {pv} | "
              f"{inj['flagged_before'] + cb}/{inj['flagged_before'] + fb} = "
              f"{(inj['flagged_before'] + cb) / max(1, inj['flagged_before'] + fb):.3f} | "
              f"{inj['flagged_after'] + ca}/{inj['flagged_after'] + fa} = "
              f"{(inj['flagged_after'] + ca) / max(1, inj['flagged_after'] + fa):.3f} |")
    print("\n| look-alikes (different pictures) | candidate pairs | passed by the pixel check | smallest gray levels |")
    print("|---|---|---|---|")
    for name, n, passed_n, smallest in stress:
        print(f"| {name} | {n} | {passed_n} | {smallest:.1f} |")


if __name__ == "__main__":
    main()
