"""Rule ``proxy_step``: misclassified training images -> CAMs -> proxy images on disk.

- :mod:`.search`      which training images the model gets wrong (recorded by the training job)
- :mod:`.cams`        batched CAMs with pytorch-grad-cam
- :mod:`.replacement` the proxy pixel formulas (``where(cam >= t, (1 - w) * cam * x, x)`` and variants)
- :mod:`.step`        one proxy step end to end (``ProxySettings``, ``run_proxy_step``)
"""
