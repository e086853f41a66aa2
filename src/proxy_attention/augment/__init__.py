"""What is done to a training batch before the model sees it.

- :mod:`.basic`     random crop with zero padding and horizontal flip, batched (every arm)
- :mod:`.names`     the augmentation arms by name, and which need CAMs or mix labels (no torch)
- :mod:`.registry`  build an arm's method from its name and options (docs/augmentations.md)
"""
