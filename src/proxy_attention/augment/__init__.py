"""What is done to a training batch before the model sees it (docs/augmentations.md).

- :mod:`.basic`     random crop with zero padding and horizontal flip, batched (every arm)
- :mod:`.names`     the augmentation arms by name, which need CAMs or mix labels, their paths (no torch)
- :mod:`.options`   each method's options: defaults and checks (no torch; read when the workflow loads)
- :mod:`.base`      the :class:`~.base.BatchAugmentation` interface and shared RNG plumbing
- :mod:`.mixing`    mixup, cutmix (timm's Mixup)
- :mod:`.erasing`   random_erasing (timm), cutout, gridmask (batched)
- :mod:`.policies`  randaugment, trivialaugment, augmix (torchvision v2's, batched with per-image draws)
- :mod:`.policy_ops` their ops on a batch, one magnitude per image, grouped by op
- :mod:`.saliency`  saliencymix, attentive_cutmix, keepaugment (from the papers, with the model's CAM)
- :mod:`.registry`  ``build_augmentation``: an arm's method from its name and options
"""
