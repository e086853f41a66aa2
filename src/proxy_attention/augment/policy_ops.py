"""torchvision's auto-augmentation ops on a uint8 batch, with one op and one magnitude per image.

The ops, their magnitude tables and their sign rule are torchvision's own
(``v2.RandAugment._AUGMENTATION_SPACE`` and the like, read by :func:`space`), and each op
repeats the arithmetic of torchvision's tensor kernel (``F.affine``/``F.rotate`` with fill
None, ``adjust_brightness``, ``adjust_saturation``, ``adjust_contrast``, ``adjust_sharpness``,
``posterize``, ``solarize``), with the scalar factor replaced by a per-image tensor; AutoContrast
and Equalize call torchvision's kernels, which are batched already. :func:`apply_ops` groups the
images by op: one call per op that occurs (the geometric ops share one ``grid_sample``), never
one per image. Parameters live on the CPU (drawn from the job's CPU generator); only index and
factor tensors go to the images' device.

tests/unit/test_augment_policies.py checks every op against torchvision's for the same parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as nnf
from torchvision.transforms.v2 import functional as F

GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")


@dataclass(frozen=True)
class Space:
    """An op set: names, which ops take a random sign, and each op's magnitude per bin."""

    names: tuple[str, ...]
    signed: torch.Tensor  # (K,) bool
    table: torch.Tensor  # (K, num_bins) float64; 0 for ops without a magnitude


def space(augmentation_space: dict, num_bins: int, height: int, width: int) -> Space:
    """A :class:`Space` from a torchvision ``_AUGMENTATION_SPACE`` (name -> (magnitudes_fn, signed)),
    in its order. Magnitudes are torchvision's own values (``float()`` of its float32/int tensors)."""
    names, signed, rows = [], [], []
    for name, (fn, sgn) in augmentation_space.items():
        mags = fn(num_bins, height, width)
        names.append(name)
        signed.append(bool(sgn))
        rows.append(torch.zeros(num_bins, dtype=torch.float64) if mags is None else mags.to(torch.float64))
    return Space(tuple(names), torch.tensor(signed), torch.stack(rows))


def draw(sp: Space, n: int, gen: torch.Generator, bins: torch.Tensor | int) -> tuple[torch.Tensor, torch.Tensor]:
    """One op per image: ``(ops, magnitudes)``, (n,) int64 and (n,) float64 on the CPU.

    As torchvision: the op uniform over the space, the magnitude ``table[op, bin]``, negated with
    probability 1/2 for the signed ops (``torch.rand(()) <= 0.5``). ``bins`` is a fixed bin or an
    (n,) tensor of bins. The sign is drawn for every image (torchvision draws it only for signed
    ops with a magnitude), so the stream differs from torchvision's, the distribution does not.
    """
    ops = torch.randint(len(sp.names), (n,), generator=gen)
    flip = torch.rand(n, generator=gen) <= 0.5
    bins = torch.as_tensor(bins).expand(n)
    mags = sp.table[ops, bins]
    return ops, torch.where(sp.signed[ops] & flip, -mags, mags)


# --- the ops: (G, C, H, W) uint8 and (G,) float64 magnitudes (CPU) -> (G, C, H, W) uint8 --------


def _per_image(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.to(dtype=torch.float32).view(-1, 1, 1, 1).to(like.device, non_blocking=True)


def _fma(b: torch.Tensor, alpha: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``a + alpha * b`` in float32 rounded once, as torch's ``a.add_(b, alpha=scalar)`` computes it
    (a fused multiply-add on the CPU's vector path and on CUDA): the product of two float32 is
    exact in float64, so the float64 sum rounded to float32 is the fused result."""
    return a.double().add_(b.double().mul_(alpha.double())).float()


def _blend(image: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """torchvision's ``_blend`` for uint8 with one ratio per image: ``image * r + other * (1 - r)``,
    clamped, truncated to uint8 (``1 - r`` in float64 first, as torchvision's ``alpha``)."""
    r, s = _per_image(ratio, image), _per_image(1.0 - ratio, image)
    return _fma(other, s, image.mul(r)).clamp_(0, 255).to(torch.uint8)


def _gray_floor(image: torch.Tensor) -> torch.Tensor:
    r, g, b = image.unbind(dim=-3)
    return r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze_(-3).floor_()


def brightness(image, mag):
    return image.mul(_per_image(1.0 + mag, image)).clamp_(0, 255).to(torch.uint8)


def color(image, mag):
    return _blend(image, _gray_floor(image), 1.0 + mag)


def contrast(image, mag):
    mean = _gray_floor(image).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(image, mean, 1.0 + mag)


def sharpness(image, mag):
    c, h, w = image.shape[-3:]
    if h <= 2 or w <= 2:
        return image
    a, b = 1.0 / 13.0, 5.0 / 13.0
    kernel = torch.tensor([[a, a, a], [a, b, a], [a, a, a]], dtype=torch.float32, device=image.device)
    output = image.to(torch.float32, copy=True)
    blurred = nnf.conv2d(output, kernel.expand(c, 1, 3, 3), groups=c).round_()
    view = output[..., 1:-1, 1:-1]
    view.copy_(_fma(blurred.sub_(view), _per_image(1.0 - (1.0 + mag), image), view))
    return output.clamp_(0, 255).to(torch.uint8)


def posterize(image, mag):
    bits = mag.to(torch.int64)  # int(magnitude); 8 keeps every bit
    mask = (((1 << bits) - 1) << (8 - bits)).to(torch.uint8)
    return image & mask.view(-1, 1, 1, 1).to(image.device, non_blocking=True)


def solarize(image, mag):
    threshold = _per_image(255.0 * mag, image)
    return torch.where(image >= threshold, image.bitwise_not(), image)


def autocontrast(image, mag):
    return F.autocontrast(image)


def equalize(image, mag):
    return F.equalize(image)


COLOUR_OPS = {
    "Brightness": brightness, "Color": color, "Contrast": contrast, "Sharpness": sharpness,
    "Posterize": posterize, "Solarize": solarize, "AutoContrast": autocontrast, "Equalize": equalize,
}


def _inverse_affine(cx, cy, angle, tx, ty, shear_x, shear_y) -> torch.Tensor:
    """torchvision's ``_get_inverse_affine_matrix`` (scale 1) for (G,) float64 parameters: (G, 6)."""
    rad = math.pi / 180.0
    rot, sx, sy = angle * rad, shear_x * rad, shear_y * rad
    cos_sy, tan_sx, rot_minus_sy = torch.cos(sy), torch.tan(sx), rot - sy
    cx_plus_tx, cy_plus_ty = cx + tx, cy + ty
    a = torch.cos(rot_minus_sy) / cos_sy
    b = -(a * tan_sx + torch.sin(rot))
    c = torch.sin(rot_minus_sy) / cos_sy
    d = torch.cos(rot) - c * tan_sx
    m0, m1, m3, m4 = d, -b, -c, a
    m2 = cx - m0 * cx_plus_tx - m1 * cy_plus_ty
    m5 = cy - m3 * cx_plus_tx - m4 * cy_plus_ty
    return torch.stack([m0, m1, m2, m3, m4, m5], dim=1)


def geometric_matrices(kind: torch.Tensor, mag: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(G, 6) float64 inverse affine matrices of the geometric ops ``GEOMETRIC[kind[i]]`` at ``mag[i]``, as
    torchvision's policies call them: shears about the top-left corner (``center=[0, 0]``) by
    ``degrees(atan(m))``, translations by ``int(m)`` pixels, rotations by ``m`` degrees about the
    centre (``F.rotate``: ``-(m % 360)``)."""
    z = torch.zeros_like(mag)
    is_ = {name: kind == k for k, name in enumerate(GEOMETRIC)}
    corner = is_["ShearX"] | is_["ShearY"]
    cx = torch.where(corner, torch.full_like(mag, -0.5 * width), z)
    cy = torch.where(corner, torch.full_like(mag, -0.5 * height), z)
    shear = torch.atan(mag) * (180.0 / math.pi)
    shift = mag.trunc()
    return _inverse_affine(
        cx, cy,
        torch.where(is_["Rotate"], -torch.remainder(mag, 360.0), z),
        torch.where(is_["TranslateX"], shift, z), torch.where(is_["TranslateY"], shift, z),
        torch.where(is_["ShearX"], shear, z), torch.where(is_["ShearY"], shear, z),
    )


def warp(image: torch.Tensor, matrices: torch.Tensor, interpolation: str) -> torch.Tensor:
    """torchvision's ``_affine_grid`` + ``_apply_grid_transform`` (fill None) with one matrix per image."""
    g, _, h, w = image.shape
    dev = image.device
    theta = matrices.to(torch.float32).view(g, 2, 3).to(dev, non_blocking=True)
    base = torch.empty(1, h, w, 3, dtype=torch.float32, device=dev)
    base[..., 0].copy_(torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w, device=dev))
    base[..., 1].copy_(torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h, device=dev).unsqueeze_(-1))
    base[..., 2].fill_(1)
    rescaled = theta.transpose(1, 2).div_(torch.tensor([0.5 * w, 0.5 * h], dtype=torch.float32, device=dev))
    # torchvision: base (1, HW, 3) @ rescaled (1, 3, 2). The transposed product, (G, 2, 3) @ (3, HW), gives
    # the same sums (bit for bit on the CPU, tests/unit/test_augment_policies.py) and is 6x faster there
    # than a bmm over an expanded base, whose (HW, 3) @ (3, 2) blocks are too thin for the BLAS.
    grid = rescaled.transpose(1, 2).bmm(base.view(h * w, 3).t().expand(g, -1, -1)).transpose(1, 2)
    grid = grid.reshape(g, h, w, 2)
    out = nnf.grid_sample(image.to(torch.float32), grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    return out.round_().to(torch.uint8)


def apply_ops(
    image: torch.Tensor, sp: Space, ops: torch.Tensor, mags: torch.Tensor, interpolation: str
) -> torch.Tensor:
    """Image ``i`` through op ``sp.names[ops[i]]`` at ``mags[i]`` (``ops[i] < 0``: unchanged).

    ``image``: (N, C, H, W) uint8 on any device; ``ops``/``mags``: (N,) on the CPU. One call per op
    that occurs, on the sub-batch of its images; the geometric ops together in one ``warp``.
    """
    geo_idx, geo_kind, done, pieces = [], [], [], []
    h, w = image.shape[-2:]
    for k, name in enumerate(sp.names):
        sel = (ops == k).nonzero().flatten()
        if sel.numel() == 0 or name == "Identity":
            continue
        if name in GEOMETRIC:
            geo_idx.append(sel)
            geo_kind.append(torch.full_like(sel, GEOMETRIC.index(name)))
            continue
        done.append(sel)
        pieces.append(COLOUR_OPS[name](image.index_select(0, sel.to(image.device, non_blocking=True)), mags[sel]))
    if geo_idx:
        sel = torch.cat(geo_idx)
        matrices = geometric_matrices(torch.cat(geo_kind), mags[sel], h, w)
        done.append(sel)
        pieces.append(warp(image.index_select(0, sel.to(image.device, non_blocking=True)), matrices, interpolation))
    if not done:
        return image
    # the unchanged images, then every image back in its place: one gather (an index_copy_ per op
    # is several times slower on the CPU)
    changed = torch.zeros(len(ops), dtype=torch.bool)
    changed[torch.cat(done)] = True
    rest = (~changed).nonzero().flatten()
    if rest.numel():
        done.append(rest)
        pieces.append(image.index_select(0, rest.to(image.device, non_blocking=True)))
    place = torch.empty(len(ops), dtype=torch.int64)
    place[torch.cat(done)] = torch.arange(len(ops))
    return torch.cat(pieces).index_select(0, place.to(image.device, non_blocking=True))
