"""What is done to a training batch before the model sees it.

- :mod:`.basic`  random crop with zero padding and horizontal flip, batched
"""
