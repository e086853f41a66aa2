"""What is done to a training batch before the model sees it (docs/augmentations.md).

- :mod:`.table`     the methods, one row each: name, class, option defaults and checks, needs a CAM,
  mixes labels (no torch). A new method is a row here and a class.
- :mod:`.checks`    the checks of one option each that the rows use
- :mod:`.options`   a config's arms and options checked against the table (no torch; read when the workflow loads)
- :mod:`.names`     what the workflow asks of an arm by name: needs a CAM, its path segment (no torch)
- :mod:`.basic`     random crop with zero padding and horizontal flip, batched (every arm)
- :mod:`.base`      the :class:`~.base.BatchAugmentation` interface and shared RNG plumbing
- :mod:`.mixing`    mixup, cutmix (timm's Mixup)
- :mod:`.erasing`   random_erasing (timm), cutout, gridmask (batched)
- :mod:`.policies`  randaugment, trivialaugment, augmix (torchvision v2's, batched with per-image draws)
- :mod:`.policy_ops` their ops on a batch, one magnitude per image, grouped by op
- :mod:`.saliency`  saliencymix, attentive_cutmix, keepaugment (from the papers, with the model's CAM)
- :mod:`.registry`  ``build_augmentation``: an arm's method from its row and options (its class imported then)
"""
