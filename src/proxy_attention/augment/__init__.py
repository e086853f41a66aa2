"""What is done to a training batch before the model sees it.

- :mod:`.basic`     random crop with zero padding and horizontal flip, batched
- :mod:`.base`      the :class:`~.base.BatchAugmentation` interface and shared RNG plumbing
- :mod:`.mixing`    mixup, cutmix (timm's Mixup)
- :mod:`.erasing`   random_erasing (timm), cutout (batched)
- :mod:`.policies`  randaugment, trivialaugment, augmix (torchvision v2, per image)
- :mod:`.saliency`  saliencymix, attentive_cutmix, keepaugment (from the papers, with the model's CAM)
- :mod:`.registry`  names, default options, validation and ``build_augmentation``
"""
