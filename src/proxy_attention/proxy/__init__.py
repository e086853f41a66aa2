"""The proxy step (run by rule ``train_proxy`` before its round): misclassified training images -> CAMs -> proxy images on disk.

- :mod:`.search`      which training images the model gets wrong (recorded by the training job)
- :mod:`.cams`        batched CAMs with pytorch-grad-cam
- :mod:`.replacement` the proxy pixel formulas (``where(cam >= t, (1 - w) * cam * x, x)`` and variants)
- :mod:`.step`        one proxy step end to end (``ProxySettings``, ``run_proxy_step``)
- :mod:`.job`         the step as the ``train_proxy`` job runs it, from the fold's split and image cache
"""
